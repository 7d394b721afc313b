// ops.sgdStep: the fused SGD/Nesterov update, IN PLACE on the caller's weight and
// momentum arrays.
//   sgdStep(w, grad, momentumBuf, lr, momentum, weightDecay, nesterov, gradScale) -> undefined
//   cudaSgdStep(...same...) -> undefined: the same on CUDA.
//   cudaSgdStepMulti(weights[], grads[], momentumBufs[], weightDecays, lr, momentum, nesterov,
//                    gradScale, halves, skipNonFinite) -> boolean
//     Every tensor in ONE launch (bot/cuda_ops.h sgd_step_multi): weightDecays is a
//     Float32Array with one value per tensor; halves is null or an array of Uint16Array |
//     null receiving the FP16 copy of each updated tensor. Returns true when a non-finite
//     unscaled gradient was found (and, with skipNonFinite, nothing was changed).
#include <string>
#include <vector>

#include "args.h"
#include "bot/cuda_ops.h"
#include "bot/ops/sgd.h"
#include "errors.h"
#include "ops.h"

namespace botjs {

namespace {

bot::SgdParams read_params(const Napi::CallbackInfo& info, size_t first, bool with_decay) {
  bot::SgdParams p;
  size_t i = first;
  p.lr = static_cast<float>(number_arg(info, i++, "lr"));
  p.momentum = static_cast<float>(number_arg(info, i++, "momentum"));
  if (with_decay) p.weight_decay = static_cast<float>(number_arg(info, i++, "weightDecay"));
  p.nesterov = bool_arg(info, i++, "nesterov");
  p.grad_scale = static_cast<float>(number_arg(info, i++, "gradScale"));
  return p;
}

template <void (*Fn)(const bot::SgdParams&, int64_t, float*, const float*, float*)>
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray()) f32_arg(info, 0, "w", 0);  // reports the type error
  int64_t n = static_cast<int64_t>(info[0].As<Napi::TypedArray>().ElementLength());
  Napi::Float32Array w = f32_arg(info, 0, "w", n);
  Napi::Float32Array grad = f32_arg(info, 1, "grad", n);
  Napi::Float32Array buf = f32_arg(info, 2, "momentumBuf", n);
  bot::SgdParams p = read_params(info, 3, true);
  Fn(p, n, w.Data(), grad.Data(), buf.Data());
  return info.Env().Undefined();
}

// Element i of the JS array at argument `arg`, checked to be a typed array of `kind` and
// `expected` elements (-1: any).
Napi::TypedArray item(const Napi::CallbackInfo& info, Napi::Array a, uint32_t i, const char* name,
                      napi_typedarray_type kind, int64_t expected) {
  Napi::Value v = a.Get(i);
  const std::string what = std::string(name) + "[" + std::to_string(i) + "]";
  const char* kind_str = kind == napi_float32_array ? "Float32Array" : "Uint16Array";
  if (!v.IsTypedArray())
    throw_error(info.Env(), "ERR_ARGUMENT", std::string("Expected a ") + kind_str + " for " + what);
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  if (t.TypedArrayType() != kind)
    throw_error(info.Env(), "ERR_DTYPE", std::string("Expected a ") + kind_str + " for " + what);
  if (expected >= 0 && int64_t(t.ElementLength()) != expected)
    throw_error(info.Env(), "ERR_SHAPE", "Expected " + std::to_string(expected) + " elements for " + what +
                                             " but received " + std::to_string(t.ElementLength()));
  return t;
}

Napi::Array array_arg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t length) {
  if (!info[i].IsArray())
    throw_error(info.Env(), "ERR_ARGUMENT", std::string("Expected an array of typed arrays for ") + name);
  Napi::Array a = info[i].As<Napi::Array>();
  if (length >= 0 && int64_t(a.Length()) != length)
    throw_error(info.Env(), "ERR_SHAPE", "Expected " + std::to_string(length) + " entries for " + name +
                                             " but received " + std::to_string(a.Length()));
  return a;
}

Napi::Value CudaSgdStepMulti(const Napi::CallbackInfo& info) {
  Napi::Array ws = array_arg(info, 0, "weights", -1);
  const int64_t count = ws.Length();
  Napi::Array gs = array_arg(info, 1, "grads", count);
  Napi::Array bufs = array_arg(info, 2, "momentumBufs", count);
  Napi::Float32Array decays = f32_arg(info, 3, "weightDecays", count);
  bot::SgdParams p = read_params(info, 4, false);
  const bool has_halves = !(info[8].IsUndefined() || info[8].IsNull());
  Napi::Array halves = has_halves ? array_arg(info, 8, "halves", count) : Napi::Array();
  const bool skip = bool_arg(info, 9, "skipNonFinite");
  std::vector<bot::cuda::SgdTensor> tensors(static_cast<size_t>(count));
  for (uint32_t i = 0; i < uint32_t(count); ++i) {
    Napi::Float32Array w = item(info, ws, i, "weights", napi_float32_array, -1).As<Napi::Float32Array>();
    const int64_t n = int64_t(w.ElementLength());
    bot::cuda::SgdTensor& t = tensors[i];
    t.n = n;
    t.w = w.Data();
    t.grad = item(info, gs, i, "grads", napi_float32_array, n).As<Napi::Float32Array>().Data();
    t.momentum_buf = item(info, bufs, i, "momentumBufs", napi_float32_array, n).As<Napi::Float32Array>().Data();
    t.weight_decay = decays.Data()[i];
    if (has_halves && !(halves.Get(i).IsUndefined() || halves.Get(i).IsNull()))
      t.w_f16 = item(info, halves, i, "halves", napi_uint16_array, n).As<Napi::Uint16Array>().Data();
  }
  return Napi::Boolean::New(info.Env(), bot::cuda::sgd_step_multi(p, tensors, skip));
}

}  // namespace

void InitSgdOps(Napi::Env env, Napi::Object ops) {
  SetOp(env, ops, "sgdStep", SgdStep<bot::sgd_step>);
  SetOp(env, ops, "cudaSgdStep", SgdStep<bot::cuda::sgd_step>);
  SetOp(env, ops, "cudaSgdStepMulti", CudaSgdStepMulti);
}

}  // namespace botjs
