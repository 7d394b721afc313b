// ops.toFloat16 / fromFloat16: IEEE binary16 stored in Uint16Array.
//   toFloat16(x: Float32Array) -> Uint16Array;  fromFloat16(h: Uint16Array) -> Float32Array
#include "args.h"
#include "bot/ops/convert.h"
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

Napi::Value ToFloat16(const Napi::CallbackInfo& info) {
  int64_t n = length_of(info, "x", napi_float32_array);
  Napi::Float32Array x = f32_arg(info, 0, "x", n);
  Napi::Uint16Array y = Napi::Uint16Array::New(info.Env(), static_cast<size_t>(n));
  bot::f32_to_f16(n, x.Data(), y.Data());
  return y;
}

Napi::Value FromFloat16(const Napi::CallbackInfo& info) {
  int64_t n = length_of(info, "h", napi_uint16_array);
  Napi::Uint16Array h = u16_arg(info, 0, "h", n);
  Napi::Float32Array y = new_f32(info.Env(), n);
  bot::f16_to_f32(n, h.Data(), y.Data());
  return y;
}

}  // namespace

void InitConvertOps(Napi::Env env, Napi::Object ops) {
  SetOp(env, ops, "toFloat16", ToFloat16);
  SetOp(env, ops, "fromFloat16", FromFloat16);
}

}  // namespace botjs
