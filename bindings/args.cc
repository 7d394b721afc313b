#include "args.h"

#include <cmath>
#include <cstring>
#include <string>

#include "errors.h"

namespace botjs {

namespace {
std::string received(Napi::Value v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d)) return "NaN";
    std::string s = std::to_string(d);
    return s;
  }
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsString()) return "a string";
  if (v.IsTypedArray()) return "a typed array";
  if (v.IsArray()) return "an array";
  if (v.IsFunction()) return "a function";
  return "an object";
}

const char* kind_name(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "typed array";
  }
}

Napi::TypedArray typed_arg(const Napi::CallbackInfo& info, size_t i, const char* name,
                           napi_typedarray_type kind, int64_t expected) {
  Napi::Env env = info.Env();
  Napi::Value v = info[i];
  if (!v.IsTypedArray())
    throw_error(env, "ERR_ARGUMENT", std::string("Expected ") + kind_name(kind) + " for " + name +
                                         " but received " + received(v));
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  if (t.TypedArrayType() != kind)
    throw_error(env, "ERR_DTYPE", std::string("Expected ") + kind_name(kind) + " for " + name +
                                      " but received " + kind_name(t.TypedArrayType()));
  if (static_cast<int64_t>(t.ElementLength()) != expected)
    throw_error(env, "ERR_SHAPE", std::string("Expected ") + std::to_string(expected) +
                                      " elements for " + name + " but received " +
                                      std::to_string(t.ElementLength()));
  return t;
}
}  // namespace

int64_t int_arg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min,
                int64_t max) {
  Napi::Value v = info[i];
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!v.IsNumber() || !std::isfinite(d) || std::floor(d) != d || d < double(min) ||
      d > double(max))
    throw_error(info.Env(), "ERR_ARGUMENT",
                std::string("Expected integer in [") + std::to_string(min) + ", " +
                    std::to_string(max) + "] for " + name + " but received " + received(v));
  return static_cast<int64_t>(d);
}

double number_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue()))
    throw_error(info.Env(), "ERR_ARGUMENT",
                std::string("Expected finite number for ") + name + " but received " + received(v));
  return v.As<Napi::Number>().DoubleValue();
}

bool reference_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsUndefined() || info[i].IsNull()) return false;
  const std::string v = info[i].IsString() ? info[i].As<Napi::String>().Utf8Value() : std::string();
  if (v != "fast" && v != "reference")
    throw_error(info.Env(), "ERR_ARGUMENT",
                std::string("Expected 'fast' or 'reference' for algorithm but received ") +
                    (info[i].IsString() ? "'" + v + "'" : std::string("a non-string")));
  return v == "reference";
}

bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  Napi::Value v = info[i];
  if (!v.IsBoolean())
    throw_error(info.Env(), "ERR_ARGUMENT",
                std::string("Expected boolean for ") + name + " but received " + received(v));
  return v.As<Napi::Boolean>().Value();
}

int64_t checked_numel(Napi::Env env, const bot::Shape& shape, const char* name) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && n > kMaxElements / d))
      throw_error(env, "ERR_SHAPE", std::string("shape of ") + name + " " + bot::shape_str(shape) +
                                        " has more than 2^31-1 elements");
    n *= d;
  }
  return n;
}

bot::Shape shape_arg(const Napi::CallbackInfo& info, size_t i, const char* name, size_t rank) {
  Napi::Env env = info.Env();
  Napi::Value v = info[i];
  if (!v.IsArray())
    throw_error(env, "ERR_SHAPE", std::string("Expected shape array of length ") +
                                      std::to_string(rank) + " for " + name + " but received " +
                                      received(v));
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() != rank)
    throw_error(env, "ERR_SHAPE", std::string("Expected shape of rank ") + std::to_string(rank) +
                                      " for " + name + " but received rank " +
                                      std::to_string(a.Length()));
  bot::Shape shape(rank);
  for (uint32_t d = 0; d < rank; ++d) {
    Napi::Value e = a.Get(d);
    double x = e.IsNumber() ? e.As<Napi::Number>().DoubleValue() : NAN;
    if (!e.IsNumber() || !std::isfinite(x) || std::floor(x) != x || x < 1 || x > double(kMaxElements))
      throw_error(env, "ERR_SHAPE", std::string("Expected integer dimension >= 1 at ") + name + "[" +
                                        std::to_string(d) + "] but received " + received(e));
    shape[d] = static_cast<int64_t>(x);
  }
  checked_numel(env, shape, name);
  return shape;
}

Napi::Float32Array f32_arg(const Napi::CallbackInfo& info, size_t i, const char* name,
                           int64_t expected) {
  return typed_arg(info, i, name, napi_float32_array, expected).As<Napi::Float32Array>();
}
Napi::Int32Array i32_arg(const Napi::CallbackInfo& info, size_t i, const char* name,
                         int64_t expected) {
  return typed_arg(info, i, name, napi_int32_array, expected).As<Napi::Int32Array>();
}
Napi::Uint16Array u16_arg(const Napi::CallbackInfo& info, size_t i, const char* name,
                          int64_t expected) {
  return typed_arg(info, i, name, napi_uint16_array, expected).As<Napi::Uint16Array>();
}
Napi::Float32Array optional_f32_arg(const Napi::CallbackInfo& info, size_t i,
                                    const char* name, int64_t expected) {
  if (info[i].IsUndefined() || info[i].IsNull()) return Napi::Float32Array();
  return f32_arg(info, i, name, expected);
}

Napi::Float32Array new_f32(Napi::Env env, int64_t n) {
  return Napi::Float32Array::New(env, static_cast<size_t>(n));
}

Napi::Array shape_value(Napi::Env env, const bot::Shape& shape) {
  Napi::Array a = Napi::Array::New(env, shape.size());
  for (uint32_t i = 0; i < shape.size(); ++i) a.Set(i, Napi::Number::New(env, double(shape[i])));
  return a;
}

Napi::Object tensor_value(Napi::Env env, Napi::TypedArray data, const bot::Shape& shape) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("data", data);
  o.Set("shape", shape_value(env, shape));
  return o;
}

Napi::Uint8Array u8_arg(const Napi::CallbackInfo& info, size_t i, const char* name,
                        int64_t expected) {
  Napi::Env env = info.Env();
  if (!info[i].IsTypedArray())
    throw_error(env, "ERR_ARGUMENT", std::string("Expected Uint8Array for ") + name);
  Napi::TypedArray t = info[i].As<Napi::TypedArray>();
  if (t.TypedArrayType() != napi_uint8_array)
    throw_error(env, "ERR_DTYPE", std::string("Expected Uint8Array for ") + name);
  if (static_cast<int64_t>(t.ElementLength()) != expected)
    throw_error(env, "ERR_SHAPE", std::string("Expected ") + std::to_string(expected) +
                                      " elements for " + name + " but received " +
                                      std::to_string(t.ElementLength()));
  return t.As<Napi::Uint8Array>();
}

void read_constants(const Napi::CallbackInfo& info, size_t i, bot::AugmentProblem* p) {
  Napi::Float32Array c = f32_arg(info, i, "constants", kAugmentConstants);
  const float* v = c.Data();
  std::memcpy(p->mean, v, sizeof(p->mean));
  std::memcpy(p->std, v + 3, sizeof(p->std));
  std::memcpy(p->eigval, v + 6, sizeof(p->eigval));
  std::memcpy(p->eigvec, v + 9, sizeof(p->eigvec));
}

}  // namespace botjs
