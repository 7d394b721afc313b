#include "ops.h"

#include "errors.h"

namespace botjs {

void SetOp(Napi::Env env, Napi::Object ops, const char* name,
           Napi::Value (*fn)(const Napi::CallbackInfo&)) {
  ops.Set(name, Napi::Function::New(
                    env, [fn](const Napi::CallbackInfo& info) {
                      return guard(info, [&] { return fn(info); });
                    },
                    name));
}

void InitOps(Napi::Env env, Napi::Object ops) {
  InitGemmOps(env, ops);
  InitConv2dOps(env, ops);
  InitBatchNormOps(env, ops);
  InitPoolOps(env, ops);
  InitElementwiseOps(env, ops);
  InitLinearOps(env, ops);
  InitCrossEntropyOps(env, ops);
  InitSgdOps(env, ops);
  InitConvertOps(env, ops);
  InitAugmentOps(env, ops);
  InitJpegOps(env, ops);
  InitFileOps(env, ops);
}

}  // namespace botjs
