// ops.conv2d family: 2-D convolution on NHWC activations and KRSC weights
// (see bot/ops/conv2d.h). Every op has an *Async twin (a Promise; inputs copied first) and
// a *Reference twin (the oracle loop nest, synchronous).
//   conv2d(x, xShape, w, wShape, strideH, strideW, padH, padW, groups)
//       -> {data: y, shape: [N, P, Q, K]}
//   conv2dBackwardData(dy, dyShape, w, wShape, xShape, strideH, strideW, padH, padW, groups)
//       -> {data: dx, shape: xShape}
//   conv2dBackwardFilter(x, xShape, dy, dyShape, wShape, strideH, strideW, padH, padW, groups)
//       -> {data: dw, shape: wShape}
// The synchronous ops take an optional last argument `out`: a Float32Array of the output's
// size to write into (and return) instead of a new array, for callers that reuse buffers.
//   conv2dWinograd(x, xShape, w, wShape, bias | null, relu, algorithm?)
//       -> {data: y, shape: [N, H, W, K]}: the Winograd F(4x4, 3x3) forward of inference
//       (3x3, stride 1, padding 1; bias added, then ReLU when relu), algorithm 'fast'
//       (default) or 'reference' (its scalar oracle).
// The cuda* twins (cudaConv2d, cudaConv2dAsync, ...) take the same arguments and run on the
// CUDA backend (bot/cuda_ops.h; groups == 1), plus two optional ones after `out`:
// precision 'f32' (default) or 'f16', and algorithm 'fast' (default) or 'reference'.
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "async.h"
#include "bot/cuda_ops.h"
#include "bot/ops/conv2d.h"
#include "ops.h"

namespace botjs {

namespace {

// One call of any conv2d pass: the problem, its two inputs and the output's shape.
struct ConvCall {
  bot::Conv2dProblem p;
  Napi::Float32Array a, b;
  bot::Shape out_shape;
  size_t out_index = 0;  // argument position of the optional output array
};

using Kernel = std::function<void(const bot::Conv2dProblem&, const float*, const float*, float*)>;
using Reader = ConvCall (*)(const Napi::CallbackInfo&);

// The problem from the input and weight shapes and the five integers starting at `first`
// (strideH, strideW, padH, padW, groups). The core validates it; the weights' channel
// count is checked against the input's here.
bot::Conv2dProblem read_problem(const Napi::CallbackInfo& info, const bot::Shape& xs,
                                const bot::Shape& ws, size_t first) {
  bot::Conv2dProblem p;
  p.n = xs[0], p.h = xs[1], p.w = xs[2], p.c = xs[3];
  p.k = ws[0], p.r = ws[1], p.s = ws[2];
  p.stride_h = int_arg(info, first, "strideH", 1, kMaxElements);
  p.stride_w = int_arg(info, first + 1, "strideW", 1, kMaxElements);
  p.pad_h = int_arg(info, first + 2, "padH", 0, kMaxElements);
  p.pad_w = int_arg(info, first + 3, "padW", 0, kMaxElements);
  p.groups = int_arg(info, first + 4, "groups", 1, kMaxElements);
  p.validate();
  if (ws[3] != p.c_per_group())
    throw_error(info.Env(), "ERR_SHAPE",
                "Expected " + std::to_string(p.c_per_group()) +
                    " input channels per group (x channels / groups) for wShape[3] but received " +
                    std::to_string(ws[3]));
  return p;
}

bot::Shape output_shape(const bot::Conv2dProblem& p) { return {p.n, p.p(), p.q(), p.k}; }

void expect_dy_shape(Napi::Env env, const bot::Shape& dys, const bot::Conv2dProblem& p) {
  bot::Shape y = output_shape(p);
  if (dys != y)
    throw_error(env, "ERR_SHAPE", "Expected the forward output shape " + bot::shape_str(y) +
                                      " for dyShape but received " + bot::shape_str(dys));
}

ConvCall read_forward(const Napi::CallbackInfo& info) {
  ConvCall c;
  bot::Shape xs = shape_arg(info, 1, "xShape", 4);
  bot::Shape ws = shape_arg(info, 3, "wShape", 4);
  c.p = read_problem(info, xs, ws, 4);
  c.out_shape = output_shape(c.p);
  c.out_index = 9;
  checked_numel(info.Env(), c.out_shape, "y");
  c.a = f32_arg(info, 0, "x", c.p.x_numel());
  c.b = f32_arg(info, 2, "w", c.p.w_numel());
  return c;
}

ConvCall read_backward_data(const Napi::CallbackInfo& info) {
  ConvCall c;
  bot::Shape dys = shape_arg(info, 1, "dyShape", 4);
  bot::Shape ws = shape_arg(info, 3, "wShape", 4);
  bot::Shape xs = shape_arg(info, 4, "xShape", 4);
  c.p = read_problem(info, xs, ws, 5);
  expect_dy_shape(info.Env(), dys, c.p);
  c.out_shape = xs;
  c.out_index = 10;
  c.a = f32_arg(info, 0, "dy", c.p.y_numel());
  c.b = f32_arg(info, 2, "w", c.p.w_numel());
  return c;
}

ConvCall read_backward_filter(const Napi::CallbackInfo& info) {
  ConvCall c;
  bot::Shape xs = shape_arg(info, 1, "xShape", 4);
  bot::Shape dys = shape_arg(info, 3, "dyShape", 4);
  bot::Shape ws = shape_arg(info, 4, "wShape", 4);
  c.p = read_problem(info, xs, ws, 5);
  expect_dy_shape(info.Env(), dys, c.p);
  c.out_shape = ws;
  c.out_index = 10;
  c.a = f32_arg(info, 0, "x", c.p.x_numel());
  c.b = f32_arg(info, 2, "dy", c.p.y_numel());
  return c;
}

Napi::Value run_sync(const Napi::CallbackInfo& info, Reader read, Kernel kernel) {
  ConvCall c = read(info);
  const int64_t numel = bot::shape_numel(c.out_shape);
  Napi::Float32Array out = optional_f32_arg(info, c.out_index, "out", numel);
  if (out.IsEmpty()) out = new_f32(info.Env(), numel);
  kernel(c.p, c.a.Data(), c.b.Data(), out.Data());
  return tensor_value(info.Env(), out, c.out_shape);
}

std::shared_ptr<std::vector<float>> copy_of(const Napi::Float32Array& a) {
  return std::make_shared<std::vector<float>>(a.Data(), a.Data() + a.ElementLength());
}

Napi::Value run_async(const Napi::CallbackInfo& info, Reader read, Kernel kernel) {
  ConvCall c = read(info);
  auto a = copy_of(c.a);
  auto b = copy_of(c.b);
  auto out = std::make_shared<std::vector<float>>(size_t(bot::shape_numel(c.out_shape)));
  bot::Conv2dProblem p = c.p;
  bot::Shape shape = c.out_shape;
  return OpWorker::Start(
      info.Env(), [p, a, b, out, kernel] { kernel(p, a->data(), b->data(), out->data()); },
      [out, shape](Napi::Env env) -> Napi::Value {
        Napi::Float32Array data = new_f32(env, int64_t(out->size()));
        std::memcpy(data.Data(), out->data(), sizeof(float) * out->size());
        return tensor_value(env, data, shape);
      });
}

// The CUDA options after `out`: precision ('f32' | 'f16') and algorithm ('fast' |
// 'reference'); undefined or null means the default.
bot::cuda::ConvOptions cuda_options(const Napi::CallbackInfo& info, size_t i) {
  auto choice = [&](size_t at, const char* name, const char* a, const char* b) {
    if (info[at].IsUndefined() || info[at].IsNull()) return false;
    std::string v = info[at].IsString() ? info[at].As<Napi::String>().Utf8Value() : std::string();
    if (v != a && v != b)
      throw_error(info.Env(), "ERR_ARGUMENT",
                  std::string("Expected '") + a + "' or '" + b + "' for " + name + " but received " +
                      (info[at].IsString() ? "'" + v + "'" : std::string("a non-string")));
    return v == b;
  };
  bot::cuda::ConvOptions o;
  o.f16 = choice(i, "precision", "f32", "f16");
  o.reference = reference_arg(info, i + 1);
  return o;
}

using CudaFn = void (*)(const bot::Conv2dProblem&, const float*, const float*, float*, bot::cuda::ConvOptions);

// The CUDA op with the options read from the call (their position follows the reader's
// output index).
Napi::Value run_cuda(const Napi::CallbackInfo& info, Reader read, CudaFn fn, bool async) {
  ConvCall probe = read(info);
  bot::cuda::ConvOptions o = cuda_options(info, probe.out_index + 1);
  Kernel k = [fn, o](const bot::Conv2dProblem& p, const float* a, const float* b, float* out) {
    fn(p, a, b, out, o);
  };
  return async ? run_async(info, read, k) : run_sync(info, read, k);
}

Napi::Value Conv2d(const Napi::CallbackInfo& info) {
  return run_sync(info, read_forward, bot::conv2d_forward);
}
Napi::Value Conv2dAsync(const Napi::CallbackInfo& info) {
  return run_async(info, read_forward, bot::conv2d_forward);
}
Napi::Value Conv2dReference(const Napi::CallbackInfo& info) {
  return run_sync(info, read_forward, bot::conv2d_forward_reference);
}
Napi::Value Conv2dBackwardData(const Napi::CallbackInfo& info) {
  return run_sync(info, read_backward_data, bot::conv2d_backward_data);
}
Napi::Value Conv2dBackwardDataAsync(const Napi::CallbackInfo& info) {
  return run_async(info, read_backward_data, bot::conv2d_backward_data);
}
Napi::Value Conv2dBackwardDataReference(const Napi::CallbackInfo& info) {
  return run_sync(info, read_backward_data, bot::conv2d_backward_data_reference);
}
Napi::Value Conv2dBackwardFilter(const Napi::CallbackInfo& info) {
  return run_sync(info, read_backward_filter, bot::conv2d_backward_filter);
}
Napi::Value Conv2dBackwardFilterAsync(const Napi::CallbackInfo& info) {
  return run_async(info, read_backward_filter, bot::conv2d_backward_filter);
}
Napi::Value Conv2dBackwardFilterReference(const Napi::CallbackInfo& info) {
  return run_sync(info, read_backward_filter, bot::conv2d_backward_filter_reference);
}

Napi::Value Conv2dWinograd(const Napi::CallbackInfo& info) {
  bot::Shape xs = shape_arg(info, 1, "xShape", 4);
  bot::Shape ws = shape_arg(info, 3, "wShape", 4);
  bot::Conv2dProblem p;
  p.n = xs[0], p.h = xs[1], p.w = xs[2], p.c = xs[3];
  p.k = ws[0], p.r = ws[1], p.s = ws[2];
  p.pad_h = p.pad_w = 1;
  p.validate();
  if (ws[3] != p.c)
    throw_error(info.Env(), "ERR_SHAPE",
                "Expected " + std::to_string(p.c) + " input channels for wShape[3] but received " +
                    std::to_string(ws[3]));
  Napi::Float32Array x = f32_arg(info, 0, "x", p.x_numel());
  Napi::Float32Array w = f32_arg(info, 2, "w", p.w_numel());
  Napi::Float32Array bias = optional_f32_arg(info, 4, "bias", p.k);
  const bool relu = bool_arg(info, 5, "relu");
  const bool reference = reference_arg(info, 6);
  const bot::Shape out_shape = output_shape(p);
  Napi::Float32Array y = new_f32(info.Env(), bot::shape_numel(out_shape));
  bot::conv2d_forward_winograd(p, x.Data(), w.Data(), bias.IsEmpty() ? nullptr : bias.Data(), relu, y.Data(),
                               reference);
  return tensor_value(info.Env(), y, out_shape);
}

Napi::Value CudaConv2d(const Napi::CallbackInfo& info) {
  return run_cuda(info, read_forward, bot::cuda::conv2d_forward, false);
}
Napi::Value CudaConv2dAsync(const Napi::CallbackInfo& info) {
  return run_cuda(info, read_forward, bot::cuda::conv2d_forward, true);
}
Napi::Value CudaConv2dBackwardData(const Napi::CallbackInfo& info) {
  return run_cuda(info, read_backward_data, bot::cuda::conv2d_backward_data, false);
}
Napi::Value CudaConv2dBackwardDataAsync(const Napi::CallbackInfo& info) {
  return run_cuda(info, read_backward_data, bot::cuda::conv2d_backward_data, true);
}
Napi::Value CudaConv2dBackwardFilter(const Napi::CallbackInfo& info) {
  return run_cuda(info, read_backward_filter, bot::cuda::conv2d_backward_filter, false);
}
Napi::Value CudaConv2dBackwardFilterAsync(const Napi::CallbackInfo& info) {
  return run_cuda(info, read_backward_filter, bot::cuda::conv2d_backward_filter, true);
}

}  // namespace

void InitConv2dOps(Napi::Env env, Napi::Object ops) {
  SetOp(env, ops, "conv2d", Conv2d);
  SetOp(env, ops, "conv2dAsync", Conv2dAsync);
  SetOp(env, ops, "conv2dReference", Conv2dReference);
  SetOp(env, ops, "conv2dBackwardData", Conv2dBackwardData);
  SetOp(env, ops, "conv2dBackwardDataAsync", Conv2dBackwardDataAsync);
  SetOp(env, ops, "conv2dBackwardDataReference", Conv2dBackwardDataReference);
  SetOp(env, ops, "conv2dBackwardFilter", Conv2dBackwardFilter);
  SetOp(env, ops, "conv2dBackwardFilterAsync", Conv2dBackwardFilterAsync);
  SetOp(env, ops, "conv2dBackwardFilterReference", Conv2dBackwardFilterReference);
  SetOp(env, ops, "conv2dWinograd", Conv2dWinograd);
  SetOp(env, ops, "cudaConv2d", CudaConv2d);
  SetOp(env, ops, "cudaConv2dAsync", CudaConv2dAsync);
  SetOp(env, ops, "cudaConv2dBackwardData", CudaConv2dBackwardData);
  SetOp(env, ops, "cudaConv2dBackwardDataAsync", CudaConv2dBackwardDataAsync);
  SetOp(env, ops, "cudaConv2dBackwardFilter", CudaConv2dBackwardFilter);
  SetOp(env, ops, "cudaConv2dBackwardFilterAsync", CudaConv2dBackwardFilterAsync);
}

}  // namespace botjs
