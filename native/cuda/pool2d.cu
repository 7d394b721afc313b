// Max and average pooling on NHWC activations, and global average pooling, on the device
// (semantics in bot/ops/pool2d.h; the same windows, divisors and tie rules as the CPU op,
// native/cpu/pool2d.cpp):
//
//   x (N, H, W, C) -> y (N, P, Q, C); the window of output row p covers input rows
//   [p*stride - pad, p*stride - pad + k) clipped to [0, H); max: padding never wins, ties
//   go to the first element in row-major window order, a NaN wins; average: divided by the
//   clipped window (count_include_pad = false) or the window clipped to the padded input.
//
// Forward: one thread per output element, channels fastest (coalesced). Backward gathers:
// one thread per input element sums over the output windows that cover it, in the CPU's
// order, so there are no atomics and the result is deterministic; max backward recomputes
// each covering window's argmax from x.
//
// FP16 storage: every launcher also takes __half activations (x, y, dx, dy). Each kernel is
// ONE template over the storage type T: values are read through widen() (exact), the
// kernel computes in FP32 (FP64 for the global average's sum) exactly as for float, and
// results are written through store(), which rounds once to FP16. Max pooling compares the
// widened values, so its tie and NaN rules are the float kernel's. For T = float both
// helpers are the identity: the float kernels compile to what they were.
//
// The *_device launchers (bot/cuda/kernels.cuh) run on device memory; the host-memory ops
// of bot/cuda_ops.h wrap them (copy in, launch, copy out, synchronise). Those stay FP32.
#include <cuda_fp16.h>

#include <cmath>

#include "bot/cuda/kernels.cuh"
#include "bot/cuda/runtime.cuh"
#include "bot/cuda_ops.h"
#include "bot/status.h"

namespace bot::cuda {

namespace {

constexpr int kBlock = 256;            // 8 warps; one thread per element

// The problem as the kernels read it (plain ints, output sizes resolved on the host).
struct PoolDims {
  int64_t n, h, w, c, p, q;
  int64_t kh, kw, sh, sw, ph, pw;
  bool include_pad;
};

PoolDims dims_of(const Pool2dProblem& p) {
  return {p.n, p.h, p.w, p.c, p.p(), p.q(), p.kernel_h, p.kernel_w, p.stride_h, p.stride_w,
          p.pad_h, p.pad_w, p.count_include_pad};
}

struct Span {
  int64_t lo, hi, count;
};

__device__ Span window(int64_t o, int64_t in, int64_t k, int64_t s, int64_t pad, bool include_pad) {
  int64_t start = o * s - pad;
  int64_t end = min(start + k, in + pad);
  Span r;
  r.lo = max(start, int64_t(0));
  r.hi = min(end, in);
  r.count = include_pad ? end - start : max(r.hi - r.lo, int64_t(0));
  return r;
}

__device__ int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// Output indices [lo, hi) whose windows cover input index i.
__device__ void covering(int64_t i, int64_t k, int64_t s, int64_t pad, int64_t out, int64_t* lo, int64_t* hi) {
  *lo = max(floor_div(i + pad - k, s) + 1, int64_t(0));
  *hi = min(floor_div(i + pad, s) + 1, out);
}

#define GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); i += int64_t(gridDim.x) * blockDim.x)


template <typename T>
__global__ void maxpool_forward_kernel(PoolDims d, const T* __restrict__ x, T* __restrict__ y) {
  GRID_STRIDE(i, d.n * d.p * d.q * d.c) {
    const int64_t c = i % d.c, q = (i / d.c) % d.q, p = (i / (d.c * d.q)) % d.p, n = i / (d.c * d.q * d.p);
    const Span wh = window(p, d.h, d.kh, d.sh, d.ph, false), ww = window(q, d.w, d.kw, d.sw, d.pw, false);
    float best = -INFINITY;
    for (int64_t ih = wh.lo; ih < wh.hi; ++ih)
      for (int64_t iw = ww.lo; iw < ww.hi; ++iw) {
        float v = widen(x[((n * d.h + ih) * d.w + iw) * d.c + c]);
        if (v > best || v != v) best = v;
      }
    store(y + i, best);
  }
}

template <typename T>
__global__ void maxpool_backward_kernel(PoolDims d, const T* __restrict__ x, const T* __restrict__ dy,
                                        T* __restrict__ dx) {
  GRID_STRIDE(i, d.n * d.h * d.w * d.c) {
    const int64_t c = i % d.c, iw = (i / d.c) % d.w, ih = (i / (d.c * d.w)) % d.h, n = i / (d.c * d.w * d.h);
    int64_t p0, p1, q0, q1;
    covering(ih, d.kh, d.sh, d.ph, d.p, &p0, &p1);
    covering(iw, d.kw, d.sw, d.pw, d.q, &q0, &q1);
    float acc = 0.0f;
    for (int64_t p = p0; p < p1; ++p) {
      const Span wh = window(p, d.h, d.kh, d.sh, d.ph, false);
      for (int64_t q = q0; q < q1; ++q) {
        const Span ww = window(q, d.w, d.kw, d.sw, d.pw, false);
        if (wh.lo >= wh.hi || ww.lo >= ww.hi) continue;
        float best = -INFINITY;
        int64_t bh = wh.lo, bw = ww.lo;
        for (int64_t h = wh.lo; h < wh.hi; ++h)
          for (int64_t w = ww.lo; w < ww.hi; ++w) {
            float v = widen(x[((n * d.h + h) * d.w + w) * d.c + c]);
            if (v > best || v != v) {
              best = v;
              bh = h;
              bw = w;
            }
          }
        if (bh == ih && bw == iw) acc += widen(dy[((n * d.p + p) * d.q + q) * d.c + c]);
      }
    }
    store(dx + i, acc);
  }
}

template <typename T>
__global__ void avgpool_forward_kernel(PoolDims d, const T* __restrict__ x, T* __restrict__ y) {
  GRID_STRIDE(i, d.n * d.p * d.q * d.c) {
    const int64_t c = i % d.c, q = (i / d.c) % d.q, p = (i / (d.c * d.q)) % d.p, n = i / (d.c * d.q * d.p);
    const Span wh = window(p, d.h, d.kh, d.sh, d.ph, d.include_pad);
    const Span ww = window(q, d.w, d.kw, d.sw, d.pw, d.include_pad);
    if (wh.lo >= wh.hi || ww.lo >= ww.hi) {
      store(y + i, 0.0f);  // empty window: 0, as PyTorch
      continue;
    }
    float acc = 0.0f;
    for (int64_t ih = wh.lo; ih < wh.hi; ++ih)
      for (int64_t iw = ww.lo; iw < ww.hi; ++iw) acc += widen(x[((n * d.h + ih) * d.w + iw) * d.c + c]);
    store(y + i, acc / float(wh.count * ww.count));
  }
}

template <typename T>
__global__ void avgpool_backward_kernel(PoolDims d, const T* __restrict__ dy, T* __restrict__ dx) {
  GRID_STRIDE(i, d.n * d.h * d.w * d.c) {
    const int64_t c = i % d.c, iw = (i / d.c) % d.w, ih = (i / (d.c * d.w)) % d.h, n = i / (d.c * d.w * d.h);
    int64_t p0, p1, q0, q1;
    covering(ih, d.kh, d.sh, d.ph, d.p, &p0, &p1);
    covering(iw, d.kw, d.sw, d.pw, d.q, &q0, &q1);
    float acc = 0.0f;
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t ch = window(p, d.h, d.kh, d.sh, d.ph, d.include_pad).count;
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t cw = window(q, d.w, d.kw, d.sw, d.pw, d.include_pad).count;
        acc += widen(dy[((n * d.p + p) * d.q + q) * d.c + c]) / float(ch * cw);
      }
    }
    store(dx + i, acc);
  }
}

// y[n, c] = mean over hw of x[n, hw, c], accumulated in double in pixel order (the CPU's).
// The mean is rounded to FP32 first, as for float, and then once more for FP16 storage.
template <typename T>
__global__ void global_avgpool_forward_kernel(int64_t n, int64_t hw, int64_t c, const T* __restrict__ x,
                                              T* __restrict__ y) {
  GRID_STRIDE(i, n * c) {
    const int64_t ni = i / c, j = i % c;
    const T* xn = x + ni * hw * c + j;
    double acc = 0.0;
    for (int64_t k = 0; k < hw; ++k) acc += double(widen(xn[k * c]));
    store(y + i, float(acc / double(hw)));
  }
}

template <typename T>
__global__ void global_avgpool_backward_kernel(int64_t n, int64_t hw, int64_t c, float inv_hw,
                                               const T* __restrict__ dy, T* __restrict__ dx) {
  GRID_STRIDE(i, n * hw * c) store(dx + i, widen(dy[(i / (hw * c)) * c + i % c]) * inv_hw);
}


size_t floats(int64_t n) { return sizeof(float) * size_t(n); }

void check_global(int64_t n, int64_t hw, int64_t c) {
  BOT_CHECK(n >= 1 && hw >= 1 && c >= 1, Code::kShape, "global average pooling sizes must be >= 1");
}

// The launchers, once per storage type T; the public overloads below forward to them, so
// the validation of both storages is the same code.
template <typename T>
void maxpool_forward_launch(const Pool2dProblem& p, const T* x, T* y, cudaStream_t st) {
  p.validate();
  maxpool_forward_kernel<T><<<streaming_grid(p.y_numel(), kBlock), kBlock, 0, st>>>(dims_of(p), x, y);
  BOT_CUDA_CHECK_LAUNCH("maxpool_forward_kernel");
}

template <typename T>
void maxpool_backward_launch(const Pool2dProblem& p, const T* x, const T* dy, T* dx, cudaStream_t st) {
  p.validate();
  maxpool_backward_kernel<T><<<streaming_grid(p.x_numel(), kBlock), kBlock, 0, st>>>(dims_of(p), x, dy, dx);
  BOT_CUDA_CHECK_LAUNCH("maxpool_backward_kernel");
}

template <typename T>
void avgpool_forward_launch(const Pool2dProblem& p, const T* x, T* y, cudaStream_t st) {
  p.validate();
  avgpool_forward_kernel<T><<<streaming_grid(p.y_numel(), kBlock), kBlock, 0, st>>>(dims_of(p), x, y);
  BOT_CUDA_CHECK_LAUNCH("avgpool_forward_kernel");
}

template <typename T>
void avgpool_backward_launch(const Pool2dProblem& p, const T* dy, T* dx, cudaStream_t st) {
  p.validate();
  avgpool_backward_kernel<T><<<streaming_grid(p.x_numel(), kBlock), kBlock, 0, st>>>(dims_of(p), dy, dx);
  BOT_CUDA_CHECK_LAUNCH("avgpool_backward_kernel");
}

template <typename T>
void global_avgpool_forward_launch(int64_t n, int64_t hw, int64_t c, const T* x, T* y, cudaStream_t st) {
  check_global(n, hw, c);
  global_avgpool_forward_kernel<T><<<streaming_grid(n * c, kBlock), kBlock, 0, st>>>(n, hw, c, x, y);
  BOT_CUDA_CHECK_LAUNCH("global_avgpool_forward_kernel");
}

template <typename T>
void global_avgpool_backward_launch(int64_t n, int64_t hw, int64_t c, const T* dy, T* dx, cudaStream_t st) {
  check_global(n, hw, c);
  const float inv_hw = float(1.0 / double(hw));  // the CPU op's factor
  global_avgpool_backward_kernel<T><<<streaming_grid(n * hw * c, kBlock), kBlock, 0, st>>>(n, hw, c, inv_hw,
                                                                                           dy, dx);
  BOT_CUDA_CHECK_LAUNCH("global_avgpool_backward_kernel");
}

}  // namespace

// --- device-memory launchers (bot/cuda/kernels.cuh) -------------------------------------

void maxpool2d_forward_device(const Pool2dProblem& p, const float* x, float* y, cudaStream_t st) {
  maxpool_forward_launch(p, x, y, st);
}

void maxpool2d_backward_device(const Pool2dProblem& p, const float* x, const float* dy, float* dx,
                               cudaStream_t st) {
  maxpool_backward_launch(p, x, dy, dx, st);
}

void avgpool2d_forward_device(const Pool2dProblem& p, const float* x, float* y, cudaStream_t st) {
  avgpool_forward_launch(p, x, y, st);
}

void avgpool2d_backward_device(const Pool2dProblem& p, const float* dy, float* dx, cudaStream_t st) {
  avgpool_backward_launch(p, dy, dx, st);
}

void global_avgpool_forward_device(int64_t n, int64_t hw, int64_t c, const float* x, float* y,
                                   cudaStream_t st) {
  global_avgpool_forward_launch(n, hw, c, x, y, st);
}

void global_avgpool_backward_device(int64_t n, int64_t hw, int64_t c, const float* dy, float* dx,
                                    cudaStream_t st) {
  global_avgpool_backward_launch(n, hw, c, dy, dx, st);
}

// --- FP16 storage (the same kernels, T = __half) -----------------------------------------

void maxpool2d_forward_device(const Pool2dProblem& p, const __half* x, __half* y, cudaStream_t st) {
  maxpool_forward_launch(p, x, y, st);
}

void maxpool2d_backward_device(const Pool2dProblem& p, const __half* x, const __half* dy, __half* dx,
                               cudaStream_t st) {
  maxpool_backward_launch(p, x, dy, dx, st);
}

void avgpool2d_forward_device(const Pool2dProblem& p, const __half* x, __half* y, cudaStream_t st) {
  avgpool_forward_launch(p, x, y, st);
}

void avgpool2d_backward_device(const Pool2dProblem& p, const __half* dy, __half* dx, cudaStream_t st) {
  avgpool_backward_launch(p, dy, dx, st);
}

void global_avgpool_forward_device(int64_t n, int64_t hw, int64_t c, const __half* x, __half* y,
                                   cudaStream_t st) {
  global_avgpool_forward_launch(n, hw, c, x, y, st);
}

void global_avgpool_backward_device(int64_t n, int64_t hw, int64_t c, const __half* dy, __half* dx,
                                    cudaStream_t st) {
  global_avgpool_backward_launch(n, hw, c, dy, dx, st);
}

// --- host-memory ops (bot/cuda_ops.h) ---------------------------------------------------

void maxpool2d_forward(const Pool2dProblem& p, const float* x, float* y) {
  p.validate();
  cudaStream_t st = stream();
  DeviceBuffer d_x = to_device(x, floats(p.x_numel()));
  DeviceBuffer d_y(floats(p.y_numel()));
  maxpool2d_forward_device(p, d_x.as<float>(), d_y.as<float>(), st);
  copy_to_host(y, d_y.get(), d_y.bytes());
  synchronize();
}

void maxpool2d_backward(const Pool2dProblem& p, const float* x, const float* dy, float* dx) {
  p.validate();
  cudaStream_t st = stream();
  DeviceBuffer d_x = to_device(x, floats(p.x_numel()));
  DeviceBuffer d_dy = to_device(dy, floats(p.y_numel()));
  DeviceBuffer d_dx(floats(p.x_numel()));
  maxpool2d_backward_device(p, d_x.as<float>(), d_dy.as<float>(), d_dx.as<float>(), st);
  copy_to_host(dx, d_dx.get(), d_dx.bytes());
  synchronize();
}

void avgpool2d_forward(const Pool2dProblem& p, const float* x, float* y) {
  p.validate();
  cudaStream_t st = stream();
  DeviceBuffer d_x = to_device(x, floats(p.x_numel()));
  DeviceBuffer d_y(floats(p.y_numel()));
  avgpool2d_forward_device(p, d_x.as<float>(), d_y.as<float>(), st);
  copy_to_host(y, d_y.get(), d_y.bytes());
  synchronize();
}

void avgpool2d_backward(const Pool2dProblem& p, const float* dy, float* dx) {
  p.validate();
  cudaStream_t st = stream();
  DeviceBuffer d_dy = to_device(dy, floats(p.y_numel()));
  DeviceBuffer d_dx(floats(p.x_numel()));
  avgpool2d_backward_device(p, d_dy.as<float>(), d_dx.as<float>(), st);
  copy_to_host(dx, d_dx.get(), d_dx.bytes());
  synchronize();
}

void global_avgpool_forward(int64_t n, int64_t hw, int64_t c, const float* x, float* y) {
  check_global(n, hw, c);
  cudaStream_t st = stream();
  DeviceBuffer d_x = to_device(x, floats(n * hw * c));
  DeviceBuffer d_y(floats(n * c));
  global_avgpool_forward_device(n, hw, c, d_x.as<float>(), d_y.as<float>(), st);
  copy_to_host(y, d_y.get(), d_y.bytes());
  synchronize();
}

void global_avgpool_backward(int64_t n, int64_t hw, int64_t c, const float* dy, float* dx) {
  check_global(n, hw, c);
  cudaStream_t st = stream();
  DeviceBuffer d_dy = to_device(dy, floats(n * c));
  DeviceBuffer d_dx(floats(n * hw * c));
  global_avgpool_backward_device(n, hw, c, d_dy.as<float>(), d_dx.as<float>(), st);
  copy_to_host(dx, d_dx.get(), d_dx.bytes());
  synchronize();
}

}  // namespace bot::cuda
