// ops.sgdStep: the fused SGD/Nesterov update, IN PLACE on the caller's weight and
// momentum arrays.
//   sgdStep(w, grad, momentumBuf, lr, momentum, weightDecay, nesterov, gradScale) -> undefined
#include "args.h"
#include "bot/ops/sgd.h"
#include "ops.h"

namespace botjs {

namespace {

Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray()) f32_arg(info, 0, "w", 0);  // reports the type error
  int64_t n = static_cast<int64_t>(info[0].As<Napi::TypedArray>().ElementLength());
  Napi::Float32Array w = f32_arg(info, 0, "w", n);
  Napi::Float32Array grad = f32_arg(info, 1, "grad", n);
  Napi::Float32Array buf = f32_arg(info, 2, "momentumBuf", n);
  bot::SgdParams p;
  p.lr = static_cast<float>(number_arg(info, 3, "lr"));
  p.momentum = static_cast<float>(number_arg(info, 4, "momentum"));
  p.weight_decay = static_cast<float>(number_arg(info, 5, "weightDecay"));
  p.nesterov = bool_arg(info, 6, "nesterov");
  p.grad_scale = static_cast<float>(number_arg(info, 7, "gradScale"));
  bot::sgd_step(p, n, w.Data(), grad.Data(), buf.Data());
  return info.Env().Undefined();
}

}  // namespace

void InitSgdOps(Napi::Env env, Napi::Object ops) { SetOp(env, ops, "sgdStep", SgdStep); }

}  // namespace botjs
