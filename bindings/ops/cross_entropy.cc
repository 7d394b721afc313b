// ops.crossEntropyHard / crossEntropySoft: mean softmax cross-entropy and its gradient.
//   crossEntropyHard(logits, [N, K], labels: Int32Array(N), smoothing) -> {loss, grad}
//   crossEntropySoft(logits, [N, K], targets: Float32Array(N*K)) -> {loss, grad}
//   crossEntropyDistill(logits, [N, K], teacherLogits, temperature) -> {loss, grad}
//   cudaCrossEntropyHard / cudaCrossEntropySoft: the same on CUDA.
#include "args.h"
#include "bot/cuda_ops.h"
#include "bot/ops/cross_entropy.h"
#include "ops.h"

namespace botjs {

namespace {

Napi::Object result(Napi::Env env, double loss, Napi::Float32Array grad, const bot::Shape& shape) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("loss", Napi::Number::New(env, loss));
  o.Set("grad", tensor_value(env, grad, shape));
  return o;
}

template <double (*Fn)(const bot::CrossEntropyProblem&, const float*, const int32_t*, float*)>
Napi::Value CrossEntropyHard(const Napi::CallbackInfo& info) {
  bot::Shape shape = shape_arg(info, 1, "logitsShape", 2);
  bot::CrossEntropyProblem p;
  p.n = shape[0];
  p.classes = shape[1];
  p.smoothing = static_cast<float>(number_arg(info, 3, "smoothing"));
  Napi::Float32Array logits = f32_arg(info, 0, "logits", p.n * p.classes);
  Napi::Int32Array labels = i32_arg(info, 2, "labels", p.n);
  Napi::Float32Array grad = new_f32(info.Env(), p.n * p.classes);
  double loss = Fn(p, logits.Data(), labels.Data(), grad.Data());
  return result(info.Env(), loss, grad, shape);
}

template <double (*Fn)(const bot::CrossEntropyProblem&, const float*, const float*, float*)>
Napi::Value CrossEntropySoft(const Napi::CallbackInfo& info) {
  bot::Shape shape = shape_arg(info, 1, "logitsShape", 2);
  bot::CrossEntropyProblem p;
  p.n = shape[0];
  p.classes = shape[1];
  Napi::Float32Array logits = f32_arg(info, 0, "logits", p.n * p.classes);
  Napi::Float32Array targets = f32_arg(info, 2, "targets", p.n * p.classes);
  Napi::Float32Array grad = new_f32(info.Env(), p.n * p.classes);
  double loss = Fn(p, logits.Data(), targets.Data(), grad.Data());
  return result(info.Env(), loss, grad, shape);
}

// crossEntropyDistill(logits, [N, K], teacherLogits, temperature) -> {loss, grad}
Napi::Value CrossEntropyDistill(const Napi::CallbackInfo& info) {
  bot::Shape shape = shape_arg(info, 1, "logitsShape", 2);
  bot::CrossEntropyProblem p;
  p.n = shape[0];
  p.classes = shape[1];
  Napi::Float32Array logits = f32_arg(info, 0, "logits", p.n * p.classes);
  Napi::Float32Array teacher = f32_arg(info, 2, "teacherLogits", p.n * p.classes);
  float t = static_cast<float>(number_arg(info, 3, "temperature"));
  Napi::Float32Array grad = new_f32(info.Env(), p.n * p.classes);  // zeros: the op adds
  double loss = bot::cross_entropy_distill(p, logits.Data(), teacher.Data(), t, grad.Data());
  return result(info.Env(), loss, grad, shape);
}

}  // namespace

void InitCrossEntropyOps(Napi::Env env, Napi::Object ops) {
  SetOp(env, ops, "crossEntropyHard", CrossEntropyHard<bot::cross_entropy_hard>);
  SetOp(env, ops, "crossEntropySoft", CrossEntropySoft<bot::cross_entropy_soft>);
  SetOp(env, ops, "cudaCrossEntropyHard", CrossEntropyHard<bot::cuda::cross_entropy_hard>);
  SetOp(env, ops, "cudaCrossEntropySoft", CrossEntropySoft<bot::cuda::cross_entropy_soft>);
  SetOp(env, ops, "crossEntropyDistill", CrossEntropyDistill);
}

}  // namespace botjs
