// ops.linear / linearAsync / linearBackward: y = x w^T + b on sgemm.
//   linear(x, [N, IN], w, [OUT, IN], b | null) -> {data: y, shape: [N, OUT]}
//   linearBackward(x, [N, IN], w, [OUT, IN], dy) -> {dx, dw, db}
//   cudaLinear / cudaLinearAsync / cudaLinearBackward: the same on CUDA.
#include <cstring>
#include <memory>
#include <vector>

#include "args.h"
#include "async.h"
#include "bot/cuda_ops.h"
#include "bot/ops/linear.h"
#include "errors.h"
#include "ops.h"

namespace botjs {

namespace {

bot::LinearProblem read_problem(const Napi::CallbackInfo& info) {
  bot::Shape xs = shape_arg(info, 1, "xShape", 2);
  bot::Shape ws = shape_arg(info, 3, "wShape", 2);
  if (xs[1] != ws[1])
    throw_error(info.Env(), "ERR_SHAPE",
                "Expected w with " + std::to_string(xs[1]) + " input features but received " +
                    std::to_string(ws[1]));
  bot::LinearProblem p;
  p.n = xs[0];
  p.in = xs[1];
  p.out = ws[0];
  checked_numel(info.Env(), {p.n, p.out}, "y");
  return p;
}

using ForwardFn = void (*)(const bot::LinearProblem&, const float*, const float*, const float*, float*);
using BackwardFn = void (*)(const bot::LinearProblem&, const float*, const float*, const float*, float*, float*,
                            float*);

template <ForwardFn Fn>
Napi::Value Linear(const Napi::CallbackInfo& info) {
  bot::LinearProblem p = read_problem(info);
  Napi::Float32Array x = f32_arg(info, 0, "x", p.n * p.in);
  Napi::Float32Array w = f32_arg(info, 2, "w", p.out * p.in);
  Napi::Float32Array b = optional_f32_arg(info, 4, "b", p.out);
  Napi::Float32Array y = new_f32(info.Env(), p.n * p.out);
  Fn(p, x.Data(), w.Data(), b.IsEmpty() ? nullptr : b.Data(), y.Data());
  return tensor_value(info.Env(), y, {p.n, p.out});
}

template <ForwardFn Fn>
Napi::Value LinearAsync(const Napi::CallbackInfo& info) {
  bot::LinearProblem p = read_problem(info);
  Napi::Float32Array x = f32_arg(info, 0, "x", p.n * p.in);
  Napi::Float32Array w = f32_arg(info, 2, "w", p.out * p.in);
  Napi::Float32Array b = optional_f32_arg(info, 4, "b", p.out);
  auto xv = std::make_shared<std::vector<float>>(x.Data(), x.Data() + x.ElementLength());
  auto wv = std::make_shared<std::vector<float>>(w.Data(), w.Data() + w.ElementLength());
  auto bv = std::make_shared<std::vector<float>>();
  if (!b.IsEmpty()) bv->assign(b.Data(), b.Data() + b.ElementLength());
  auto yv = std::make_shared<std::vector<float>>(size_t(p.n * p.out));
  return OpWorker::Start(
      info.Env(),
      [p, xv, wv, bv, yv] {
        Fn(p, xv->data(), wv->data(), bv->empty() ? nullptr : bv->data(), yv->data());
      },
      [p, yv](Napi::Env env) -> Napi::Value {
        Napi::Float32Array y = new_f32(env, int64_t(yv->size()));
        std::memcpy(y.Data(), yv->data(), sizeof(float) * yv->size());
        return tensor_value(env, y, {p.n, p.out});
      });
}

template <BackwardFn Fn>
Napi::Value LinearBackward(const Napi::CallbackInfo& info) {
  bot::LinearProblem p = read_problem(info);
  Napi::Env env = info.Env();
  Napi::Float32Array x = f32_arg(info, 0, "x", p.n * p.in);
  Napi::Float32Array w = f32_arg(info, 2, "w", p.out * p.in);
  Napi::Float32Array dy = f32_arg(info, 4, "dy", p.n * p.out);
  Napi::Float32Array dx = new_f32(env, p.n * p.in);
  Napi::Float32Array dw = new_f32(env, p.out * p.in);
  Napi::Float32Array db = new_f32(env, p.out);
  Fn(p, x.Data(), w.Data(), dy.Data(), dx.Data(), dw.Data(), db.Data());
  Napi::Object o = Napi::Object::New(env);
  o.Set("dx", tensor_value(env, dx, {p.n, p.in}));
  o.Set("dw", tensor_value(env, dw, {p.out, p.in}));
  o.Set("db", tensor_value(env, db, {p.out}));
  return o;
}

}  // namespace

void InitLinearOps(Napi::Env env, Napi::Object ops) {
  SetOp(env, ops, "linear", Linear<bot::linear_forward>);
  SetOp(env, ops, "linearAsync", LinearAsync<bot::linear_forward>);
  SetOp(env, ops, "linearBackward", LinearBackward<bot::linear_backward>);
  SetOp(env, ops, "cudaLinear", Linear<bot::cuda::linear_forward>);
  SetOp(env, ops, "cudaLinearAsync", LinearAsync<bot::cuda::linear_forward>);
  SetOp(env, ops, "cudaLinearBackward", LinearBackward<bot::cuda::linear_backward>);
}

}  // namespace botjs
