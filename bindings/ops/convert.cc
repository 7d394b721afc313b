// ops.toFloat16 / fromFloat16: IEEE binary16 stored in Uint16Array.
//   toFloat16(x: Float32Array) -> Uint16Array;  fromFloat16(h: Uint16Array) -> Float32Array
//   cudaToFloat16 / cudaFromFloat16: the same on CUDA.
// ops.nchwToNhwc(x: Float32Array, shape [N, C, H, W], algorithm?) -> Float32Array (N, H, W, C);
//   algorithm 'fast' (default) or 'reference'.
#include <string>

#include "args.h"
#include "bot/cuda_ops.h"
#include "bot/ops/convert.h"
#include "bot/ops/layout.h"
#include "errors.h"
#include "ops.h"

namespace botjs {

namespace {

int64_t length_of(const Napi::CallbackInfo& info, const char* name, napi_typedarray_type kind) {
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != kind) {
    if (kind == napi_float32_array) f32_arg(info, 0, name, 0);
    else u16_arg(info, 0, name, 0);
  }
  return static_cast<int64_t>(info[0].As<Napi::TypedArray>().ElementLength());
}

template <void (*Fn)(int64_t, const float*, uint16_t*)>
Napi::Value ToFloat16(const Napi::CallbackInfo& info) {
  int64_t n = length_of(info, "x", napi_float32_array);
  Napi::Float32Array x = f32_arg(info, 0, "x", n);
  Napi::Uint16Array y = Napi::Uint16Array::New(info.Env(), static_cast<size_t>(n));
  Fn(n, x.Data(), y.Data());
  return y;
}

template <void (*Fn)(int64_t, const uint16_t*, float*)>
Napi::Value FromFloat16(const Napi::CallbackInfo& info) {
  int64_t n = length_of(info, "h", napi_uint16_array);
  Napi::Uint16Array h = u16_arg(info, 0, "h", n);
  Napi::Float32Array y = new_f32(info.Env(), n);
  Fn(n, h.Data(), y.Data());
  return y;
}

Napi::Value NchwToNhwc(const Napi::CallbackInfo& info) {
  const bot::Shape s = shape_arg(info, 1, "shape", 4);
  const int64_t n = s[0], c = s[1], hw = s[2] * s[3];
  Napi::Float32Array x = f32_arg(info, 0, "x", n * c * hw);
  const bool reference = reference_arg(info, 2);
  Napi::Float32Array y = new_f32(info.Env(), n * c * hw);
  if (reference) bot::nchw_to_nhwc_reference(n, c, hw, x.Data(), y.Data());
  else bot::nchw_to_nhwc(n, c, hw, x.Data(), y.Data());
  return y;
}

}  // namespace

void InitConvertOps(Napi::Env env, Napi::Object ops) {
  SetOp(env, ops, "nchwToNhwc", NchwToNhwc);
  SetOp(env, ops, "toFloat16", ToFloat16<bot::f32_to_f16>);
  SetOp(env, ops, "fromFloat16", FromFloat16<bot::f16_to_f32>);
  SetOp(env, ops, "cudaToFloat16", ToFloat16<bot::cuda::f32_to_f16>);
  SetOp(env, ops, "cudaFromFloat16", FromFloat16<bot::cuda::f16_to_f32>);
}

}  // namespace botjs
