// ops.relu / reluBackward / add over flat Float32Arrays (any shape; the shape is echoed).
//   relu(x, shape) -> {data, shape}
//   reluBackward(y, dy, shape) -> {data: dx, shape}
//   add(a, b, shape) -> {data, shape}
//   cudaRelu / cudaReluBackward / cudaAdd: the same on CUDA.
#include "args.h"
#include "bot/cuda_ops.h"
#include "bot/ops/elementwise.h"
#include "ops.h"

namespace botjs {

namespace {

// Shapes of element-wise ops may have any rank from 1 to 8.
bot::Shape any_shape_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  size_t rank = info[i].IsArray() ? info[i].As<Napi::Array>().Length() : 0;
  if (rank < 1 || rank > 8) rank = 1;  // let shape_arg report the problem
  return shape_arg(info, i, name, rank);
}

template <void (*Fn)(int64_t, const float*, float*)>
Napi::Value Relu(const Napi::CallbackInfo& info) {
  bot::Shape shape = any_shape_arg(info, 1, "shape");
  int64_t n = bot::shape_numel(shape);
  Napi::Float32Array x = f32_arg(info, 0, "x", n);
  Napi::Float32Array y = new_f32(info.Env(), n);
  Fn(n, x.Data(), y.Data());
  return tensor_value(info.Env(), y, shape);
}

template <void (*Fn)(int64_t, const float*, const float*, float*)>
Napi::Value ReluBackward(const Napi::CallbackInfo& info) {
  bot::Shape shape = any_shape_arg(info, 2, "shape");
  int64_t n = bot::shape_numel(shape);
  Napi::Float32Array y = f32_arg(info, 0, "y", n);
  Napi::Float32Array dy = f32_arg(info, 1, "dy", n);
  Napi::Float32Array dx = new_f32(info.Env(), n);
  Fn(n, y.Data(), dy.Data(), dx.Data());
  return tensor_value(info.Env(), dx, shape);
}

template <void (*Fn)(int64_t, const float*, const float*, float*)>
Napi::Value Add(const Napi::CallbackInfo& info) {
  bot::Shape shape = any_shape_arg(info, 2, "shape");
  int64_t n = bot::shape_numel(shape);
  Napi::Float32Array a = f32_arg(info, 0, "a", n);
  Napi::Float32Array b = f32_arg(info, 1, "b", n);
  Napi::Float32Array y = new_f32(info.Env(), n);
  Fn(n, a.Data(), b.Data(), y.Data());
  return tensor_value(info.Env(), y, shape);
}

}  // namespace

void InitElementwiseOps(Napi::Env env, Napi::Object ops) {
  SetOp(env, ops, "relu", Relu<bot::relu_forward>);
  SetOp(env, ops, "reluBackward", ReluBackward<bot::relu_backward>);
  SetOp(env, ops, "add", Add<bot::add_forward>);
  SetOp(env, ops, "cudaRelu", Relu<bot::cuda::relu_forward>);
  SetOp(env, ops, "cudaReluBackward", ReluBackward<bot::cuda::relu_backward>);
  SetOp(env, ops, "cudaAdd", Add<bot::cuda::add_forward>);
}

}  // namespace botjs
