// ops.*Pool2d / globalAvgPool: pooling on NHWC activations (see bot/ops/pool2d.h).
// `window` below stands for: kernelH, kernelW, strideH, strideW, padH, padW, ceilMode.
//   maxPool2d(x, xShape, window) -> {data, shape (N, P, Q, C)}
//   maxPool2dBackward(x, dy, xShape, window) -> {data: dx, shape: xShape}
//   avgPool2d(x, xShape, window, countIncludePad) -> {data, shape}
//   avgPool2dBackward(dy, xShape, window, countIncludePad) -> {data: dx, shape: xShape}
//   maxPool2dReference / avgPool2dReference: the plain loop nests.
//   globalAvgPool(x, xShape) -> {data, shape (N, C)}
//   globalAvgPoolBackward(dy, xShape) -> {data: dx, shape: xShape}
//   cuda* twins (cudaMaxPool2d, ...): the same arguments, on CUDA.
// Synchronous: one pass over the activations costs less than a thread hop.
#include "args.h"
#include "bot/cuda_ops.h"
#include "bot/ops/pool2d.h"
#include "ops.h"

namespace botjs {

namespace {

// Reads xShape at index i and the window starting at index i + 1.
bot::Pool2dProblem read_pool(const Napi::CallbackInfo& info, size_t i, bool avg) {
  bot::Shape s = shape_arg(info, i, "xShape", 4);
  bot::Pool2dProblem p;
  p.n = s[0], p.h = s[1], p.w = s[2], p.c = s[3];
  p.kernel_h = int_arg(info, i + 1, "kernelH", 1, kMaxElements);
  p.kernel_w = int_arg(info, i + 2, "kernelW", 1, kMaxElements);
  p.stride_h = int_arg(info, i + 3, "strideH", 1, kMaxElements);
  p.stride_w = int_arg(info, i + 4, "strideW", 1, kMaxElements);
  p.pad_h = int_arg(info, i + 5, "padH", 0, kMaxElements);
  p.pad_w = int_arg(info, i + 6, "padW", 0, kMaxElements);
  p.ceil_mode = bool_arg(info, i + 7, "ceilMode");
  if (avg) p.count_include_pad = bool_arg(info, i + 8, "countIncludePad");
  p.validate();
  checked_numel(info.Env(), {p.n, p.p(), p.q(), p.c}, "y");
  return p;
}

bot::Shape x_shape(const bot::Pool2dProblem& p) { return {p.n, p.h, p.w, p.c}; }
bot::Shape y_shape(const bot::Pool2dProblem& p) { return {p.n, p.p(), p.q(), p.c}; }

template <void (*Fn)(const bot::Pool2dProblem&, const float*, float*), bool Avg>
Napi::Value Forward(const Napi::CallbackInfo& info) {
  bot::Pool2dProblem p = read_pool(info, 1, Avg);
  Napi::Float32Array x = f32_arg(info, 0, "x", p.x_numel());
  Napi::Float32Array y = new_f32(info.Env(), p.y_numel());
  Fn(p, x.Data(), y.Data());
  return tensor_value(info.Env(), y, y_shape(p));
}

template <void (*Fn)(const bot::Pool2dProblem&, const float*, const float*, float*)>
Napi::Value MaxPool2dBackwardOn(const Napi::CallbackInfo& info) {
  bot::Pool2dProblem p = read_pool(info, 2, false);
  Napi::Float32Array x = f32_arg(info, 0, "x", p.x_numel());
  Napi::Float32Array dy = f32_arg(info, 1, "dy", p.y_numel());
  Napi::Float32Array dx = new_f32(info.Env(), p.x_numel());
  Fn(p, x.Data(), dy.Data(), dx.Data());
  return tensor_value(info.Env(), dx, x_shape(p));
}

template <void (*Fn)(const bot::Pool2dProblem&, const float*, float*)>
Napi::Value AvgPool2dBackwardOn(const Napi::CallbackInfo& info) {
  bot::Pool2dProblem p = read_pool(info, 1, true);
  Napi::Float32Array dy = f32_arg(info, 0, "dy", p.y_numel());
  Napi::Float32Array dx = new_f32(info.Env(), p.x_numel());
  Fn(p, dy.Data(), dx.Data());
  return tensor_value(info.Env(), dx, x_shape(p));
}

template <void (*Fn)(int64_t, int64_t, int64_t, const float*, float*)>
Napi::Value GlobalAvgPoolOn(const Napi::CallbackInfo& info) {
  bot::Shape s = shape_arg(info, 1, "xShape", 4);
  Napi::Float32Array x = f32_arg(info, 0, "x", bot::shape_numel(s));
  Napi::Float32Array y = new_f32(info.Env(), s[0] * s[3]);
  Fn(s[0], s[1] * s[2], s[3], x.Data(), y.Data());
  return tensor_value(info.Env(), y, {s[0], s[3]});
}

template <void (*Fn)(int64_t, int64_t, int64_t, const float*, float*)>
Napi::Value GlobalAvgPoolBackwardOn(const Napi::CallbackInfo& info) {
  bot::Shape s = shape_arg(info, 1, "xShape", 4);
  Napi::Float32Array dy = f32_arg(info, 0, "dy", s[0] * s[3]);
  Napi::Float32Array dx = new_f32(info.Env(), bot::shape_numel(s));
  Fn(s[0], s[1] * s[2], s[3], dy.Data(), dx.Data());
  return tensor_value(info.Env(), dx, s);
}

}  // namespace

void InitPoolOps(Napi::Env env, Napi::Object ops) {
  SetOp(env, ops, "maxPool2d", Forward<bot::maxpool2d_forward, false>);
  SetOp(env, ops, "maxPool2dReference", Forward<bot::maxpool2d_forward_reference, false>);
  SetOp(env, ops, "maxPool2dBackward", MaxPool2dBackwardOn<bot::maxpool2d_backward>);
  SetOp(env, ops, "avgPool2d", Forward<bot::avgpool2d_forward, true>);
  SetOp(env, ops, "avgPool2dReference", Forward<bot::avgpool2d_forward_reference, true>);
  SetOp(env, ops, "avgPool2dBackward", AvgPool2dBackwardOn<bot::avgpool2d_backward>);
  SetOp(env, ops, "globalAvgPool", GlobalAvgPoolOn<bot::global_avgpool_forward>);
  SetOp(env, ops, "globalAvgPoolBackward", GlobalAvgPoolBackwardOn<bot::global_avgpool_backward>);
  SetOp(env, ops, "cudaMaxPool2d", Forward<bot::cuda::maxpool2d_forward, false>);
  SetOp(env, ops, "cudaMaxPool2dBackward", MaxPool2dBackwardOn<bot::cuda::maxpool2d_backward>);
  SetOp(env, ops, "cudaAvgPool2d", Forward<bot::cuda::avgpool2d_forward, true>);
  SetOp(env, ops, "cudaAvgPool2dBackward", AvgPool2dBackwardOn<bot::cuda::avgpool2d_backward>);
  SetOp(env, ops, "cudaGlobalAvgPool", GlobalAvgPoolOn<bot::cuda::global_avgpool_forward>);
  SetOp(env, ops, "cudaGlobalAvgPoolBackward", GlobalAvgPoolBackwardOn<bot::cuda::global_avgpool_backward>);
}

}  // namespace botjs
