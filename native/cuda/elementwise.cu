// Element-wise ops on flat arrays of n values (see bot/ops/elementwise.h):
//   relu_forward       y  = x > 0 ? x : 0          (NaN -> 0, as the CPU op)
//   relu_backward      dx = y > 0 ? dy : 0         (dx may be dy)
//   add_forward        y  = a + b
//   add_relu_forward   y  = max(a + b, 0)
//   add_relu_backward  dy = y > 0 ? dy : 0 in place, db = (or +=) that masked dy
//   copy_into / add_into / scale   b = a, b += a, x *= s
//   round_to_f16       x = fp32(fp16(x)) in place, the CPU's f32_round_to_f16 bit for bit
// and mixup's blend of a batch with a permutation of itself (bot/ops/mixup.h).
//
// One thread per element in a grid-stride loop; consecutive threads touch consecutive
// values, so every access is coalesced. Every thread reads an element before it writes the
// same element and no other, so outputs may alias inputs of the same index (the in-place
// uses above): those pointers are not __restrict__. Products and sums that the CPU op
// computes as separate FP32 operations use the round-to-nearest intrinsics (no FMA
// contraction), so the results are bit-identical to the CPU's.
//
// FP16 storage: the activation ops (all but scale and round_to_f16, which act on FP32
// parameters and staging) also come with __half arrays. Each kernel is ONE template over
// the storage type T; it reads through widen() (FP16 -> FP32, exact), computes in FP32
// exactly as for float, and writes through store(), which rounds once to FP16. For
// T = float both helpers are the identity, so the float kernels compile to what they were.
// mixup's blend reads FP32 images and may store either type.
//
// The *_device launchers (bot/cuda/kernels.cuh) run on device memory; the host-memory ops
// of bot/cuda_ops.h wrap them (copy in, launch, copy out, synchronise). Those stay FP32.
#include <cuda_fp16.h>

#include <cmath>
#include <string>

#include "bot/cuda/kernels.cuh"
#include "bot/cuda/runtime.cuh"
#include "bot/cuda_ops.h"
#include "bot/status.h"

namespace bot::cuda {

namespace {

constexpr int kBlock = 256;  // 8 warps: enough to hide latency on a streaming op

#define GRID_STRIDE(i, n)                                                    \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)


template <typename T>
__global__ void relu_forward_kernel(int64_t n, const T* x, T* y) {
  GRID_STRIDE(i, n) {
    const float v = widen(x[i]);
    store(y + i, v > 0.0f ? v : 0.0f);
  }
}

template <typename T>
__global__ void relu_backward_kernel(int64_t n, const T* __restrict__ y, const T* dy, T* dx) {
  GRID_STRIDE(i, n) store(dx + i, widen(y[i]) > 0.0f ? widen(dy[i]) : 0.0f);
}

template <bool kRelu, typename T>
__global__ void add_kernel(int64_t n, const T* a, const T* b, T* y) {
  GRID_STRIDE(i, n) {
    const float v = widen(a[i]) + widen(b[i]);
    store(y + i, kRelu ? (v > 0.0f ? v : 0.0f) : v);
  }
}

template <bool kAccumulate, typename T>
__global__ void add_relu_backward_kernel(int64_t n, const T* __restrict__ y, T* __restrict__ dy,
                                         T* __restrict__ db) {
  GRID_STRIDE(i, n) {
    const float v = widen(y[i]) > 0.0f ? widen(dy[i]) : 0.0f;
    store(dy + i, v);
    store(db + i, kAccumulate ? widen(db[i]) + v : v);
  }
}

template <typename T>
__global__ void add_into_kernel(int64_t n, const T* a, T* b) {
  GRID_STRIDE(i, n) store(b + i, widen(b[i]) + widen(a[i]));  // b += a: b's value first
}

__global__ void scale_kernel(int64_t n, float s, float* __restrict__ x) {
  GRID_STRIDE(i, n) x[i] *= s;
}

__global__ void round_to_f16_kernel(int64_t n, float* __restrict__ x) {
  GRID_STRIDE(i, n) x[i] = round_f16_like_cpu(x[i]);
}

// y[i, k] = a * x[i, k] + b * x[perm[i], k], as the CPU's (no FMA). The grid's y dimension
// walks the samples (so no 64-bit division per element), x the values of a sample. x is
// FP32 (staged images); Y, the storage of y, is float or __half.
template <typename Y>
__global__ void mixup_blend_kernel(int64_t n, int64_t sample_numel, const float* __restrict__ x,
                                   const int32_t* __restrict__ perm, float a, float b, Y* __restrict__ y) {
  for (int64_t i = blockIdx.y; i < n; i += gridDim.y) {
    const float* xi = x + i * sample_numel;
    const float* xj = x + int64_t(perm[i]) * sample_numel;
    Y* yi = y + i * sample_numel;
    GRID_STRIDE(k, sample_numel) store(yi + k, __fadd_rn(__fmul_rn(a, xi[k]), __fmul_rn(b, xj[k])));
  }
}

void check_n(int64_t n) { BOT_CHECK(n >= 0, Code::kShape, "element-wise op: negative size"); }

// The launchers, once per storage type T; the public overloads below forward to them, so
// the validation of both storages is the same code.
template <typename T>
void relu_forward_launch(int64_t n, const T* x, T* y, cudaStream_t st) {
  check_n(n);
  if (n == 0) return;
  relu_forward_kernel<T><<<streaming_grid(n, kBlock), kBlock, 0, st>>>(n, x, y);
  BOT_CUDA_CHECK_LAUNCH("relu_forward_kernel");
}

template <typename T>
void relu_backward_launch(int64_t n, const T* y, const T* dy, T* dx, cudaStream_t st) {
  check_n(n);
  if (n == 0) return;
  relu_backward_kernel<T><<<streaming_grid(n, kBlock), kBlock, 0, st>>>(n, y, dy, dx);
  BOT_CUDA_CHECK_LAUNCH("relu_backward_kernel");
}

template <bool kRelu, typename T>
void add_launch(int64_t n, const T* a, const T* b, T* y, cudaStream_t st) {
  check_n(n);
  if (n == 0) return;
  add_kernel<kRelu, T><<<streaming_grid(n, kBlock), kBlock, 0, st>>>(n, a, b, y);
  BOT_CUDA_CHECK_LAUNCH(kRelu ? "add_relu_kernel" : "add_kernel");
}

template <typename T>
void add_relu_backward_launch(int64_t n, const T* y, T* dy, T* db, bool accumulate, cudaStream_t st) {
  check_n(n);
  if (n == 0) return;
  if (accumulate)
    add_relu_backward_kernel<true, T><<<streaming_grid(n, kBlock), kBlock, 0, st>>>(n, y, dy, db);
  else
    add_relu_backward_kernel<false, T><<<streaming_grid(n, kBlock), kBlock, 0, st>>>(n, y, dy, db);
  BOT_CUDA_CHECK_LAUNCH("add_relu_backward_kernel");
}

template <typename T>
void copy_into_launch(int64_t n, const T* a, T* b, cudaStream_t st) {
  check_n(n);
  if (n == 0 || a == b) return;
  BOT_CUDA_CHECK(cudaMemcpyAsync(b, a, sizeof(T) * size_t(n), cudaMemcpyDeviceToDevice, st));
}

template <typename T>
void add_into_launch(int64_t n, const T* a, T* b, cudaStream_t st) {
  check_n(n);
  if (n == 0) return;
  add_into_kernel<T><<<streaming_grid(n, kBlock), kBlock, 0, st>>>(n, a, b);
  BOT_CUDA_CHECK_LAUNCH("add_into_kernel");
}

template <typename Y>
void mixup_blend_launch(int64_t n, int64_t sample_numel, const float* x, const int32_t* perm, float lambda,
                        Y* y, cudaStream_t st) {
  BOT_CHECK(n >= 1 && sample_numel >= 1, Code::kShape, "mixup needs n >= 1 and samples of >= 1 value");
  BOT_CHECK(std::isfinite(lambda) && lambda >= 0.0f && lambda <= 1.0f, Code::kArgument,
            "mixup lambda must be in [0, 1], got " + std::to_string(lambda));
  constexpr int64_t kMaxGridY = 65535;  // the hardware's limit; more samples loop
  // Enough blocks along a sample to fill the device for a small batch, with each thread
  // striding when the samples are large: ~2^16 blocks in all.
  const int64_t samples = n < kMaxGridY ? n : kMaxGridY;
  int64_t per_sample = ((int64_t(1) << 16) + samples - 1) / samples;
  const int64_t needed = int64_t(ceil_div(sample_numel, kBlock));
  if (per_sample > needed) per_sample = needed;
  const dim3 grid(static_cast<unsigned>(per_sample), static_cast<unsigned>(samples));
  const float a = lambda, b = 1.0f - lambda;  // the CPU op's two factors, rounded on the host alike
  mixup_blend_kernel<Y><<<grid, kBlock, 0, st>>>(n, sample_numel, x, perm, a, b, y);
  BOT_CUDA_CHECK_LAUNCH("mixup_blend_kernel");
}

// The float launcher a binary (two inputs, one output) host-memory op wraps. A function
// pointer type, not a template parameter: it picks the float overload of the name.
using BinaryLauncher = void (*)(int64_t, const float*, const float*, float*, cudaStream_t);

// Runs a binary element-wise launcher over host arrays.
void binary(int64_t n, const float* a, const float* b, float* y, BinaryLauncher launch) {
  check_n(n);
  cudaStream_t st = stream();
  if (n == 0) return;
  const size_t bytes = sizeof(float) * size_t(n);
  DeviceBuffer da = to_device(a, bytes);
  DeviceBuffer db = to_device(b, bytes);
  DeviceBuffer dy(bytes);
  launch(n, da.as<float>(), db.as<float>(), dy.as<float>(), st);
  copy_to_host(y, dy.get(), bytes);
  synchronize();
}

}  // namespace

// --- device-memory launchers (bot/cuda/kernels.cuh) -------------------------------------

void relu_forward_device(int64_t n, const float* x, float* y, cudaStream_t st) {
  relu_forward_launch(n, x, y, st);
}

void relu_backward_device(int64_t n, const float* y, const float* dy, float* dx, cudaStream_t st) {
  relu_backward_launch(n, y, dy, dx, st);
}

void add_forward_device(int64_t n, const float* a, const float* b, float* y, cudaStream_t st) {
  add_launch<false>(n, a, b, y, st);
}

void add_relu_forward_device(int64_t n, const float* a, const float* b, float* y, cudaStream_t st) {
  add_launch<true>(n, a, b, y, st);
}

void add_relu_backward_device(int64_t n, const float* y, float* dy, float* db, bool accumulate,
                              cudaStream_t st) {
  add_relu_backward_launch(n, y, dy, db, accumulate, st);
}

void copy_into_device(int64_t n, const float* a, float* b, cudaStream_t st) { copy_into_launch(n, a, b, st); }

void add_into_device(int64_t n, const float* a, float* b, cudaStream_t st) { add_into_launch(n, a, b, st); }

void scale_device(int64_t n, float s, float* x, cudaStream_t st) {
  check_n(n);
  if (n == 0) return;
  scale_kernel<<<streaming_grid(n, kBlock), kBlock, 0, st>>>(n, s, x);
  BOT_CUDA_CHECK_LAUNCH("scale_kernel");
}

void round_to_f16_device(int64_t n, float* x, cudaStream_t st) {
  check_n(n);
  if (n == 0) return;
  round_to_f16_kernel<<<streaming_grid(n, kBlock), kBlock, 0, st>>>(n, x);
  BOT_CUDA_CHECK_LAUNCH("round_to_f16_kernel");
}

void mixup_blend_device(int64_t n, int64_t sample_numel, const float* x, const int32_t* perm, float lambda,
                        float* y, cudaStream_t st) {
  mixup_blend_launch(n, sample_numel, x, perm, lambda, y, st);
}

// --- FP16 storage (the same kernels, T = __half) -----------------------------------------

void relu_forward_device(int64_t n, const __half* x, __half* y, cudaStream_t st) {
  relu_forward_launch(n, x, y, st);
}

void relu_backward_device(int64_t n, const __half* y, const __half* dy, __half* dx, cudaStream_t st) {
  relu_backward_launch(n, y, dy, dx, st);
}

void add_forward_device(int64_t n, const __half* a, const __half* b, __half* y, cudaStream_t st) {
  add_launch<false>(n, a, b, y, st);
}

void add_relu_forward_device(int64_t n, const __half* a, const __half* b, __half* y, cudaStream_t st) {
  add_launch<true>(n, a, b, y, st);
}

void add_relu_backward_device(int64_t n, const __half* y, __half* dy, __half* db, bool accumulate,
                              cudaStream_t st) {
  add_relu_backward_launch(n, y, dy, db, accumulate, st);
}

// 2 * n bytes: a copy moves the stored bits, no conversion.
void copy_into_device(int64_t n, const __half* a, __half* b, cudaStream_t st) { copy_into_launch(n, a, b, st); }

void add_into_device(int64_t n, const __half* a, __half* b, cudaStream_t st) { add_into_launch(n, a, b, st); }

void mixup_blend_device(int64_t n, int64_t sample_numel, const float* x, const int32_t* perm, float lambda,
                        __half* y, cudaStream_t st) {
  mixup_blend_launch(n, sample_numel, x, perm, lambda, y, st);
}

// --- host-memory ops (bot/cuda_ops.h) ---------------------------------------------------

void relu_forward(int64_t n, const float* x, float* y) {
  check_n(n);
  cudaStream_t st = stream();
  if (n == 0) return;
  const size_t bytes = sizeof(float) * size_t(n);
  DeviceBuffer dx = to_device(x, bytes);
  DeviceBuffer dy(bytes);
  relu_forward_device(n, dx.as<float>(), dy.as<float>(), st);
  copy_to_host(y, dy.get(), bytes);
  synchronize();
}

void relu_backward(int64_t n, const float* y, const float* dy, float* dx) {
  binary(n, y, dy, dx, relu_backward_device);
}

void add_forward(int64_t n, const float* a, const float* b, float* y) {
  binary(n, a, b, y, add_forward_device);
}

void add_relu_forward(int64_t n, const float* a, const float* b, float* y) {
  binary(n, a, b, y, add_relu_forward_device);
}

}  // namespace bot::cuda
