// Host-memory convolution ops of the CUDA backend (bot/cuda_ops.h): copy in, convert to
// FP16 when asked, run the convolution launchers of bot/cuda/conv2d.cuh (the fast kernels
// or their *_reference oracles), widen the result to FP32, copy out.
//
//   x (N, H, W, C) NHWC,  w (K, R, S, C) KRSC,  y/dy (N, P, Q, K) NHWC;  groups == 1.
//
// FP16: x, w and dy are rounded to binary16 on the device (round to nearest even), the
// kernels accumulate in FP32, y and dx come back as FP16 widened to FP32; dw is FP32.
//
// BOT_CUDA_CONV is 1 when CMake found all six launchers of bot/cuda/conv2d.cuh defined
// in native/cuda/conv2d*.cu; until then these ops throw ERR_CUDA_UNAVAILABLE.
#include <cuda_fp16.h>

#include "bot/cuda/conv2d.cuh"
#include "bot/cuda/runtime.cuh"
#include "bot/cuda_ops.h"
#include "bot/status.h"

namespace bot::cuda {

#ifndef BOT_CUDA_CONV
#define BOT_CUDA_CONV 1
#endif

namespace {

ConvShape shape_of(const Conv2dProblem& p) {
  p.validate();
  BOT_CHECK(p.groups == 1, Code::kArgument,
            "the CUDA convolution supports groups == 1 only (got groups = " + std::to_string(p.groups) + ")");
  ConvShape s;
  s.n = p.n, s.h = p.h, s.w = p.w, s.c = p.c;
  s.k = p.k, s.r = p.r, s.s = p.s;
  s.stride_h = p.stride_h, s.stride_w = p.stride_w;
  s.pad_h = p.pad_h, s.pad_w = p.pad_w;
  return s;
}

}  // namespace

#if BOT_CUDA_CONV

namespace {

// n FP32 host values on the device, as float or (rounded) half.
DeviceBuffer upload(const float* host, int64_t n, bool f16) {
  DeviceBuffer f = to_device(host, sizeof(float) * size_t(n));
  if (!f16) return f;
  DeviceBuffer h(sizeof(__half) * size_t(n));
  f32_to_f16_device(n, f.as<float>(), h.get(), stream());
  return h;
}

// Copies n values (float, or half widened to float) back to the host and waits.
void download(float* host, const DeviceBuffer& b, int64_t n, bool f16) {
  if (!f16) {
    copy_to_host(host, b.get(), sizeof(float) * size_t(n));
  } else {
    DeviceBuffer f(sizeof(float) * size_t(n));
    f16_to_f32_device(n, b.get(), f.as<float>(), stream());
    copy_to_host(host, f.get(), sizeof(float) * size_t(n));
    synchronize();  // before f is freed and the host reads
    return;
  }
  synchronize();
}

Precision precision_of(ConvOptions o) { return o.f16 ? Precision::kF16 : Precision::kF32; }
size_t elem(ConvOptions o) { return o.f16 ? sizeof(__half) : sizeof(float); }

}  // namespace

void conv2d_forward(const Conv2dProblem& p, const float* x, const float* w, float* y, ConvOptions o) {
  const ConvShape s = shape_of(p);
  cudaStream_t st = stream();
  DeviceBuffer d_x = upload(x, p.x_numel(), o.f16);
  DeviceBuffer d_w = upload(w, p.w_numel(), o.f16);
  DeviceBuffer d_y(elem(o) * size_t(p.y_numel()));
  if (o.reference) conv2d_forward_reference(s, precision_of(o), d_x.get(), d_w.get(), d_y.get(), st);
  else conv2d_forward(s, precision_of(o), d_x.get(), d_w.get(), d_y.get(), st);
  download(y, d_y, p.y_numel(), o.f16);
}

void conv2d_backward_data(const Conv2dProblem& p, const float* dy, const float* w, float* dx, ConvOptions o) {
  const ConvShape s = shape_of(p);
  cudaStream_t st = stream();
  DeviceBuffer d_dy = upload(dy, p.y_numel(), o.f16);
  DeviceBuffer d_w = upload(w, p.w_numel(), o.f16);
  DeviceBuffer d_dx(elem(o) * size_t(p.x_numel()));
  if (o.reference) conv2d_backward_data_reference(s, precision_of(o), d_dy.get(), d_w.get(), d_dx.get(), st);
  else conv2d_backward_data(s, precision_of(o), d_dy.get(), d_w.get(), d_dx.get(), st);
  download(dx, d_dx, p.x_numel(), o.f16);
}

void conv2d_backward_filter(const Conv2dProblem& p, const float* x, const float* dy, float* dw, ConvOptions o) {
  const ConvShape s = shape_of(p);
  cudaStream_t st = stream();
  DeviceBuffer d_x = upload(x, p.x_numel(), o.f16);
  DeviceBuffer d_dy = upload(dy, p.y_numel(), o.f16);
  DeviceBuffer d_dw(sizeof(float) * size_t(p.w_numel()));
  if (o.reference) conv2d_backward_filter_reference(s, precision_of(o), d_x.get(), d_dy.get(), d_dw.as<float>(), st);
  else conv2d_backward_filter(s, precision_of(o), d_x.get(), d_dy.get(), d_dw.as<float>(), st);
  download(dw, d_dw, p.w_numel(), false);
}

#else  // the convolution kernels are not in this build

namespace {
[[noreturn]] void no_conv() {
  fail(Code::kCudaUnavailable,
       "this build has no CUDA convolution kernels (native/cuda/conv2d*.cu do not define every "
       "launcher of bot/cuda/conv2d.cuh)");
}
}  // namespace

void conv2d_forward(const Conv2dProblem& p, const float*, const float*, float*, ConvOptions) {
  shape_of(p);
  stream();
  no_conv();
}
void conv2d_backward_data(const Conv2dProblem& p, const float*, const float*, float*, ConvOptions) {
  shape_of(p);
  stream();
  no_conv();
}
void conv2d_backward_filter(const Conv2dProblem& p, const float*, const float*, float*, ConvOptions) {
  shape_of(p);
  stream();
  no_conv();
}

#endif

}  // namespace bot::cuda
