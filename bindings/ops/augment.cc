// ops.augment family: the fused colour pass of the train transform (see bot/ops/augment.h).
//   augment(x: Uint8Array, [N, H, W, 3], brightness, saturation, hue, alpha, constants, f16, pool)
//       -> {data: Float32Array | Uint16Array (f16 bits), shape: [N, H, W, 3]}
//       brightness/saturation/hue: Float32Array(N) or null; alpha: Float32Array(N * 3) or null;
//       constants: Float32Array(18) = mean(3), std(3), eigval(3), eigvec(9, row-major);
//       pool: true to split over the core's thread pool, false to run on the calling thread.
//   augmentAsync(same arguments) -> Promise of the same; x and the parameters are copied first.
//   augmentIntoAsync(x, shape, brightness, saturation, hue, alpha, constants, out, pool)
//       -> Promise of {data: out, shape}: no copy of x, and the output goes into `out` (a
//       Float32Array, or a Uint16Array for f16). Both arrays are lent to the worker until
//       the Promise settles: the caller must not write, transfer or read them meanwhile (for
//       pipelines that own their buffers, such as the DataLoader's pools).
//   augmentReference(x, shape, brightness, saturation, hue, alpha, constants) -> f32, the
//       step-by-step oracle.
//   srgbFromProfile(x, shape, convert: Uint8Array(N), lut: Float32Array(N * 768),
//       matrix: Float32Array(N * 9)) -> {data: Uint8Array, shape}: step 0 on a copy of x.
//   srgbFromProfileInPlaceAsync(x, shape, convert, lut, matrix, pool) -> Promise<undefined>:
//       step 0 in place; x is lent to the worker until the Promise settles.
//   augmentAffine(params: Float32Array(6) = b, s, h, a0, a1, a2, constants)
//       -> Float32Array(12) = M (3x3 row-major), t (3): the composed map y = M p + t.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "async.h"
#include "bot/ops/augment.h"
#include "errors.h"
#include "ops.h"

namespace botjs {

namespace {

// The per-call inputs, copied off the JS heap (so the async twin owns them).
struct AugmentCall {
  bot::AugmentProblem p;
  std::vector<float> brightness, saturation, hue, alpha;
  bot::AugmentParams params() const {
    bot::AugmentParams q;
    q.brightness = brightness.empty() ? nullptr : brightness.data();
    q.saturation = saturation.empty() ? nullptr : saturation.data();
    q.hue = hue.empty() ? nullptr : hue.data();
    q.alpha = alpha.empty() ? nullptr : alpha.data();
    return q;
  }
};

std::vector<float> optional_copy(const Napi::CallbackInfo& info, size_t i, const char* name,
                                 int64_t expected) {
  Napi::Float32Array a = optional_f32_arg(info, i, name, expected);
  if (a.IsEmpty()) return {};
  return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
}

// Arguments 1..6: shape, the four parameter arrays, the constants. The core validates.
AugmentCall read_call(const Napi::CallbackInfo& info) {
  bot::Shape s = shape_arg(info, 1, "shape", 4);
  if (s[3] != 3)
    throw_error(info.Env(), "ERR_SHAPE",
                "Expected 3 channels (RGB) in shape[3] but received " + std::to_string(s[3]));
  AugmentCall call;
  call.p.n = s[0], call.p.h = s[1], call.p.w = s[2];
  call.brightness = optional_copy(info, 2, "brightness", call.p.n);
  call.saturation = optional_copy(info, 3, "saturation", call.p.n);
  call.hue = optional_copy(info, 4, "hue", call.p.n);
  call.alpha = optional_copy(info, 5, "alpha", call.p.n * 3);
  read_constants(info, 6, &call.p);
  call.p.validate();
  call.params().validate(call.p.n);
  return call;
}

bot::Shape shape_of(const bot::AugmentProblem& p) { return {p.n, p.h, p.w, 3}; }

Napi::Value Augment(const Napi::CallbackInfo& info) {
  AugmentCall call = read_call(info);
  Napi::Uint8Array x = u8_arg(info, 0, "x", call.p.numel());
  const bool f16 = bool_arg(info, 7, "f16");
  const auto threads = bool_arg(info, 8, "pool") ? bot::AugmentThreads::kPool : bot::AugmentThreads::kCaller;
  Napi::Env env = info.Env();
  if (f16) {
    Napi::Uint16Array y = Napi::Uint16Array::New(env, static_cast<size_t>(call.p.numel()));
    bot::augment_forward_f16(call.p, x.Data(), call.params(), y.Data(), threads);
    return tensor_value(env, y, shape_of(call.p));
  }
  Napi::Float32Array y = new_f32(env, call.p.numel());
  bot::augment_forward_f32(call.p, x.Data(), call.params(), y.Data(), threads);
  return tensor_value(env, y, shape_of(call.p));
}

Napi::Value AugmentAsync(const Napi::CallbackInfo& info) {
  auto call = std::make_shared<AugmentCall>(read_call(info));
  Napi::Uint8Array x = u8_arg(info, 0, "x", call->p.numel());
  const bool f16 = bool_arg(info, 7, "f16");
  const auto threads = bool_arg(info, 8, "pool") ? bot::AugmentThreads::kPool : bot::AugmentThreads::kCaller;
  Napi::Env env = info.Env();
  auto xv = std::make_shared<std::vector<uint8_t>>(x.Data(), x.Data() + x.ElementLength());
  // The output is allocated here, on the JS thread, and filled by the worker: it stays
  // unreachable from JS (so nobody can read, detach or resize it) until the Promise
  // resolves, and the Reference keeps it alive until then. This spares copying the largest
  // array of the call (4 bytes per input byte for f32) on the JS thread.
  Napi::TypedArray y = f16 ? Napi::TypedArray(Napi::Uint16Array::New(env, size_t(call->p.numel())))
                           : Napi::TypedArray(new_f32(env, call->p.numel()));
  void* out = static_cast<uint8_t*>(y.ArrayBuffer().Data()) + y.ByteOffset();
  auto keep = std::make_shared<Napi::Reference<Napi::TypedArray>>(Napi::Persistent(y));
  return OpWorker::Start(
      env,
      [call, xv, out, f16, threads] {
        if (f16)
          bot::augment_forward_f16(call->p, xv->data(), call->params(), static_cast<uint16_t*>(out), threads);
        else
          bot::augment_forward_f32(call->p, xv->data(), call->params(), static_cast<float*>(out), threads);
      },
      [call, keep](Napi::Env env) -> Napi::Value {
        return tensor_value(env, keep->Value(), shape_of(call->p));
      });
}

Napi::Value AugmentIntoAsync(const Napi::CallbackInfo& info) {
  auto call = std::make_shared<AugmentCall>(read_call(info));
  Napi::Env env = info.Env();
  Napi::Uint8Array x = u8_arg(info, 0, "x", call->p.numel());
  if (!info[7].IsTypedArray()) throw_error(env, "ERR_ARGUMENT", "Expected Float32Array or Uint16Array for out");
  Napi::TypedArray y = info[7].As<Napi::TypedArray>();
  const bool f16 = y.TypedArrayType() == napi_uint16_array;
  if (f16) u16_arg(info, 7, "out", call->p.numel());
  else f32_arg(info, 7, "out", call->p.numel());
  const auto threads = bool_arg(info, 8, "pool") ? bot::AugmentThreads::kPool : bot::AugmentThreads::kCaller;
  const uint8_t* in = x.Data();
  void* out = static_cast<uint8_t*>(y.ArrayBuffer().Data()) + y.ByteOffset();
  // The References keep both arrays alive while the worker uses them.
  auto keep_x = std::make_shared<Napi::Reference<Napi::Uint8Array>>(Napi::Persistent(x));
  auto keep_y = std::make_shared<Napi::Reference<Napi::TypedArray>>(Napi::Persistent(y));
  return OpWorker::Start(
      env,
      [call, in, out, f16, threads] {
        if (f16)
          bot::augment_forward_f16(call->p, in, call->params(), static_cast<uint16_t*>(out), threads);
        else
          bot::augment_forward_f32(call->p, in, call->params(), static_cast<float*>(out), threads);
      },
      [call, keep_x, keep_y](Napi::Env env) -> Napi::Value {
        return tensor_value(env, keep_y->Value(), shape_of(call->p));
      });
}

struct ProfileCall {
  bot::AugmentProblem p;
  std::vector<uint8_t> convert;
  std::vector<float> lut, matrix;
  bot::ProfileParams params() const {
    bot::ProfileParams q;
    q.convert = convert.data();
    q.lut = lut.data();
    q.matrix = matrix.data();
    return q;
  }
};

ProfileCall read_profile_call(const Napi::CallbackInfo& info) {
  bot::Shape s = shape_arg(info, 1, "shape", 4);
  if (s[3] != 3)
    throw_error(info.Env(), "ERR_SHAPE",
                "Expected 3 channels (RGB) in shape[3] but received " + std::to_string(s[3]));
  ProfileCall call;
  call.p.n = s[0], call.p.h = s[1], call.p.w = s[2];
  call.p.validate();
  Napi::Uint8Array convert = u8_arg(info, 2, "convert", call.p.n);
  Napi::Float32Array lut = f32_arg(info, 3, "lut", call.p.n * 768);
  Napi::Float32Array matrix = f32_arg(info, 4, "matrix", call.p.n * 9);
  call.convert.assign(convert.Data(), convert.Data() + convert.ElementLength());
  call.lut.assign(lut.Data(), lut.Data() + lut.ElementLength());
  call.matrix.assign(matrix.Data(), matrix.Data() + matrix.ElementLength());
  call.params().validate(call.p.n);
  return call;
}

Napi::Value SrgbFromProfile(const Napi::CallbackInfo& info) {
  ProfileCall call = read_profile_call(info);
  Napi::Uint8Array x = u8_arg(info, 0, "x", call.p.numel());
  Napi::Uint8Array y = Napi::Uint8Array::New(info.Env(), size_t(call.p.numel()));
  std::memcpy(y.Data(), x.Data(), size_t(call.p.numel()));
  bot::srgb_from_profile_u8(call.p, y.Data(), call.params());
  return tensor_value(info.Env(), y, shape_of(call.p));
}

Napi::Value SrgbFromProfileInPlaceAsync(const Napi::CallbackInfo& info) {
  auto call = std::make_shared<ProfileCall>(read_profile_call(info));
  Napi::Uint8Array x = u8_arg(info, 0, "x", call->p.numel());
  const auto threads = bool_arg(info, 5, "pool") ? bot::AugmentThreads::kPool : bot::AugmentThreads::kCaller;
  uint8_t* data = x.Data();
  auto keep = std::make_shared<Napi::Reference<Napi::Uint8Array>>(Napi::Persistent(x));
  return OpWorker::Start(
      info.Env(), [call, data, threads] { bot::srgb_from_profile_u8(call->p, data, call->params(), threads); },
      [keep](Napi::Env env) -> Napi::Value { return env.Undefined(); });
}

Napi::Value AugmentReference(const Napi::CallbackInfo& info) {
  AugmentCall call = read_call(info);
  Napi::Uint8Array x = u8_arg(info, 0, "x", call.p.numel());
  Napi::Float32Array y = new_f32(info.Env(), call.p.numel());
  bot::augment_forward_reference(call.p, x.Data(), call.params(), y.Data());
  return tensor_value(info.Env(), y, shape_of(call.p));
}

Napi::Value AugmentAffine(const Napi::CallbackInfo& info) {
  Napi::Float32Array q = f32_arg(info, 0, "params", 6);
  bot::AugmentProblem p;
  p.n = p.h = p.w = 1;
  read_constants(info, 1, &p);
  p.validate();
  const float* v = q.Data();
  bot::AugmentParams params;
  params.brightness = v;
  params.saturation = v + 1;
  params.hue = v + 2;
  params.alpha = v + 3;
  params.validate(1);
  Napi::Float32Array out = new_f32(info.Env(), 12);
  bot::augment_affine(p, params, 0, out.Data(), out.Data() + 9);
  return out;
}

}  // namespace

void InitAugmentOps(Napi::Env env, Napi::Object ops) {
  SetOp(env, ops, "augment", Augment);
  SetOp(env, ops, "augmentAsync", AugmentAsync);
  SetOp(env, ops, "augmentIntoAsync", AugmentIntoAsync);
  SetOp(env, ops, "augmentReference", AugmentReference);
  SetOp(env, ops, "augmentAffine", AugmentAffine);
  SetOp(env, ops, "srgbFromProfile", SrgbFromProfile);
  SetOp(env, ops, "srgbFromProfileInPlaceAsync", SrgbFromProfileInPlaceAsync);
}

}  // namespace botjs
