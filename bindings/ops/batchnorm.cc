// ops.batchNorm*: batch normalisation over the last dimension (see bot/ops/batchnorm.h).
// xShape is (M, C) or (N, H, W, C); both are treated as (M, C) with C last.
//   batchNormTrain(x, xShape, gamma, beta, runningMean, runningVar, eps, momentum)
//     -> {y, saveMean, saveInvstd}. runningMean and runningVar are the caller's
//     Float32Arrays and are updated IN PLACE (PyTorch semantics, unbiased running var).
//   batchNormInfer(x, xShape, gamma, beta, runningMean, runningVar, eps) -> y
//   batchNormBackward(x, dy, xShape, gamma, mean, invstd, training) -> {dx, dgamma, dbeta}
//   batchNormTrainReference / batchNormBackwardReference: the same on the plain loops.
//   cudaBatchNormTrain / cudaBatchNormInfer / cudaBatchNormBackward: the same on CUDA.
// Synchronous: one pass over the activations costs less than a thread hop.
#include <cstring>

#include "args.h"
#include "bot/cuda_ops.h"
#include "bot/ops/batchnorm.h"
#include "ops.h"

namespace botjs {

namespace {

// Reads xShape (rank 2 or 4) at index i into the (M, C) problem.
bot::BatchNormProblem read_problem(const Napi::CallbackInfo& info, size_t i) {
  size_t rank = info[i].IsArray() ? info[i].As<Napi::Array>().Length() : 0;
  if (rank != 4) rank = 2;  // rank 2, or let shape_arg report the problem
  bot::Shape shape = shape_arg(info, i, "xShape", rank);
  bot::BatchNormProblem p;
  p.c = shape.back();
  p.m = bot::shape_numel(shape) / p.c;
  return p;
}

struct TrainArgs {
  bot::BatchNormProblem p;
  Napi::Float32Array x, gamma, beta, running_mean, running_var;
};

TrainArgs read_train(const Napi::CallbackInfo& info) {
  TrainArgs a;
  a.p = read_problem(info, 1);
  a.p.eps = float(number_arg(info, 6, "eps"));
  a.p.momentum = float(number_arg(info, 7, "momentum"));
  a.p.validate();
  a.x = f32_arg(info, 0, "x", a.p.m * a.p.c);
  a.gamma = f32_arg(info, 2, "gamma", a.p.c);
  a.beta = f32_arg(info, 3, "beta", a.p.c);
  a.running_mean = f32_arg(info, 4, "runningMean", a.p.c);
  a.running_var = f32_arg(info, 5, "runningVar", a.p.c);
  return a;
}

template <typename Fn>
Napi::Value Train(const Napi::CallbackInfo& info, Fn fn) {
  TrainArgs a = read_train(info);
  Napi::Env env = info.Env();
  Napi::Float32Array y = new_f32(env, a.p.m * a.p.c);
  Napi::Float32Array save_mean = new_f32(env, a.p.c);
  Napi::Float32Array save_invstd = new_f32(env, a.p.c);
  fn(a.p, a.x.Data(), a.gamma.Data(), a.beta.Data(), y.Data(), a.running_mean.Data(),
     a.running_var.Data(), save_mean.Data(), save_invstd.Data());
  Napi::Object out = Napi::Object::New(env);
  out.Set("y", y);
  out.Set("saveMean", save_mean);
  out.Set("saveInvstd", save_invstd);
  return out;
}

Napi::Value BatchNormTrain(const Napi::CallbackInfo& info) {
  // (A lambda: the op's trailing residual argument has a default, which a function pointer loses.)
  return Train(info, [](auto... args) { bot::batchnorm_forward_train(args...); });
}

Napi::Value BatchNormTrainReference(const Napi::CallbackInfo& info) {
  return Train(info, bot::batchnorm_forward_train_reference);
}

template <typename Fn>
Napi::Value Infer(const Napi::CallbackInfo& info, Fn fn) {
  bot::BatchNormProblem p = read_problem(info, 1);
  p.eps = float(number_arg(info, 6, "eps"));
  p.validate();
  Napi::Float32Array x = f32_arg(info, 0, "x", p.m * p.c);
  Napi::Float32Array gamma = f32_arg(info, 2, "gamma", p.c);
  Napi::Float32Array beta = f32_arg(info, 3, "beta", p.c);
  Napi::Float32Array running_mean = f32_arg(info, 4, "runningMean", p.c);
  Napi::Float32Array running_var = f32_arg(info, 5, "runningVar", p.c);
  Napi::Float32Array y = new_f32(info.Env(), p.m * p.c);
  fn(p, x.Data(), gamma.Data(), beta.Data(), running_mean.Data(), running_var.Data(), y.Data());
  Napi::Float32Array save_mean = new_f32(info.Env(), p.c);
  std::memcpy(save_mean.Data(), running_mean.Data(), sizeof(float) * p.c);
  Napi::Float32Array save_invstd = new_f32(info.Env(), p.c);
  bot::batchnorm_invstd(p.c, running_var.Data(), p.eps, save_invstd.Data());
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("y", y);
  out.Set("saveMean", save_mean);
  out.Set("saveInvstd", save_invstd);
  return out;
}

Napi::Value BatchNormInfer(const Napi::CallbackInfo& info) {
  return Infer(info, [](auto... args) { bot::batchnorm_forward_infer(args...); });
}

Napi::Value CudaBatchNormTrain(const Napi::CallbackInfo& info) {
  return Train(info, bot::cuda::batchnorm_forward_train);
}

Napi::Value CudaBatchNormInfer(const Napi::CallbackInfo& info) {
  return Infer(info, bot::cuda::batchnorm_forward_infer);
}

template <typename Fn>
Napi::Value Backward(const Napi::CallbackInfo& info, Fn fn) {
  bot::BatchNormProblem p = read_problem(info, 2);
  Napi::Float32Array x = f32_arg(info, 0, "x", p.m * p.c);
  Napi::Float32Array dy = f32_arg(info, 1, "dy", p.m * p.c);
  Napi::Float32Array gamma = f32_arg(info, 3, "gamma", p.c);
  Napi::Float32Array mean = f32_arg(info, 4, "mean", p.c);
  Napi::Float32Array invstd = f32_arg(info, 5, "invstd", p.c);
  bool training = bool_arg(info, 6, "training");
  Napi::Env env = info.Env();
  Napi::Float32Array dx = new_f32(env, p.m * p.c);
  Napi::Float32Array dgamma = new_f32(env, p.c);
  Napi::Float32Array dbeta = new_f32(env, p.c);
  fn(p, x.Data(), dy.Data(), gamma.Data(), mean.Data(), invstd.Data(), training, dx.Data(),
     dgamma.Data(), dbeta.Data());
  Napi::Object out = Napi::Object::New(env);
  out.Set("dx", dx);
  out.Set("dgamma", dgamma);
  out.Set("dbeta", dbeta);
  return out;
}

Napi::Value BatchNormBackward(const Napi::CallbackInfo& info) {
  return Backward(info, [](const bot::BatchNormProblem& p, const float* x, const float* dy,
                               const float* gamma, const float* mean, const float* invstd,
                               bool training, float* dx, float* dgamma, float* dbeta) {
    bot::batchnorm_backward(p, x, dy, gamma, mean, invstd, training, dx, dgamma, dbeta);
  });
}

Napi::Value BatchNormBackwardReference(const Napi::CallbackInfo& info) {
  return Backward(info, bot::batchnorm_backward_reference);
}

Napi::Value CudaBatchNormBackward(const Napi::CallbackInfo& info) {
  return Backward(info, [](const bot::BatchNormProblem& p, const float* x, const float* dy,
                               const float* gamma, const float* mean, const float* invstd,
                               bool training, float* dx, float* dgamma, float* dbeta) {
    bot::cuda::batchnorm_backward(p, x, dy, gamma, mean, invstd, training, dx, dgamma, dbeta);
  });
}

}  // namespace

void InitBatchNormOps(Napi::Env env, Napi::Object ops) {
  SetOp(env, ops, "batchNormTrain", BatchNormTrain);
  SetOp(env, ops, "batchNormTrainReference", BatchNormTrainReference);
  SetOp(env, ops, "batchNormInfer", BatchNormInfer);
  SetOp(env, ops, "batchNormBackward", BatchNormBackward);
  SetOp(env, ops, "batchNormBackwardReference", BatchNormBackwardReference);
  SetOp(env, ops, "cudaBatchNormTrain", CudaBatchNormTrain);
  SetOp(env, ops, "cudaBatchNormInfer", CudaBatchNormInfer);
  SetOp(env, ops, "cudaBatchNormBackward", CudaBatchNormBackward);
}

}  // namespace botjs
