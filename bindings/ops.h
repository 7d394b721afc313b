// The `ops` export: every CPU kernel of the core as a function over typed arrays. Each op
// family registers its functions from its own file in bindings/ops/.
#pragma once
#include <napi.h>

namespace botjs {

void InitOps(Napi::Env env, Napi::Object ops);

// One per file in bindings/ops/.
void InitGemmOps(Napi::Env env, Napi::Object ops);
void InitConv2dOps(Napi::Env env, Napi::Object ops);
void InitBatchNormOps(Napi::Env env, Napi::Object ops);
void InitPoolOps(Napi::Env env, Napi::Object ops);
void InitElementwiseOps(Napi::Env env, Napi::Object ops);
void InitLinearOps(Napi::Env env, Napi::Object ops);
void InitCrossEntropyOps(Napi::Env env, Napi::Object ops);
void InitSgdOps(Napi::Env env, Napi::Object ops);
void InitConvertOps(Napi::Env env, Napi::Object ops);
void InitAugmentOps(Napi::Env env, Napi::Object ops);
void InitJpegOps(Napi::Env env, Napi::Object ops);
void InitFileOps(Napi::Env env, Napi::Object ops);

// Registers fn under `name`, wrapped so that C++ exceptions become coded JS errors.
void SetOp(Napi::Env env, Napi::Object ops, const char* name,
           Napi::Value (*fn)(const Napi::CallbackInfo&));

}  // namespace botjs
