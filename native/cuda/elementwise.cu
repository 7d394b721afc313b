// Element-wise ops on flat arrays of n floats (see bot/ops/elementwise.h):
//   relu_forward      y  = x > 0 ? x : 0          (NaN -> 0, as the CPU op)
//   relu_backward     dx = y > 0 ? dy : 0
//   add_forward       y  = a + b
//   add_relu_forward  y  = max(a + b, 0)
// One thread per element in a grid-stride loop; consecutive threads touch consecutive
// floats, so every access is coalesced.
#include "bot/cuda/runtime.cuh"
#include "bot/cuda_ops.h"
#include "bot/status.h"

namespace bot::cuda {

namespace {

constexpr int kBlock = 256;        // 8 warps: enough to hide latency on a streaming op

__global__ void relu_forward_kernel(int64_t n, const float* __restrict__ x, float* __restrict__ y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ void relu_backward_kernel(int64_t n, const float* __restrict__ y,
                                     const float* __restrict__ dy, float* __restrict__ dx) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

template <bool kRelu>
__global__ void add_kernel(int64_t n, const float* __restrict__ a, const float* __restrict__ b,
                           float* __restrict__ y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float v = a[i] + b[i];
    y[i] = kRelu ? (v > 0.0f ? v : 0.0f) : v;
  }
}


void check_n(int64_t n) { BOT_CHECK(n >= 0, Code::kShape, "element-wise op: negative size"); }

// Runs a binary (two inputs, one output) element-wise kernel over host arrays.
template <typename Launch>
void binary(int64_t n, const float* a, const float* b, float* y, Launch launch) {
  check_n(n);
  cudaStream_t st = stream();
  if (n == 0) return;
  const size_t bytes = sizeof(float) * size_t(n);
  DeviceBuffer da = to_device(a, bytes);
  DeviceBuffer db = to_device(b, bytes);
  DeviceBuffer dy(bytes);
  launch(streaming_grid(n, kBlock), st, da.as<float>(), db.as<float>(), dy.as<float>());
  copy_to_host(y, dy.get(), bytes);
  synchronize();
}

}  // namespace

void relu_forward(int64_t n, const float* x, float* y) {
  check_n(n);
  cudaStream_t st = stream();
  if (n == 0) return;
  const size_t bytes = sizeof(float) * size_t(n);
  DeviceBuffer dx = to_device(x, bytes);
  DeviceBuffer dy(bytes);
  relu_forward_kernel<<<streaming_grid(n, kBlock), kBlock, 0, st>>>(n, dx.as<float>(), dy.as<float>());
  BOT_CUDA_CHECK_LAUNCH("relu_forward_kernel");
  copy_to_host(y, dy.get(), bytes);
  synchronize();
}

void relu_backward(int64_t n, const float* y, const float* dy, float* dx) {
  binary(n, y, dy, dx, [n](unsigned grid, cudaStream_t st, const float* a, const float* b, float* out) {
    relu_backward_kernel<<<grid, kBlock, 0, st>>>(n, a, b, out);
    BOT_CUDA_CHECK_LAUNCH("relu_backward_kernel");
  });
}

void add_forward(int64_t n, const float* a, const float* b, float* y) {
  binary(n, a, b, y, [n](unsigned grid, cudaStream_t st, const float* a_, const float* b_, float* out) {
    add_kernel<false><<<grid, kBlock, 0, st>>>(n, a_, b_, out);
    BOT_CUDA_CHECK_LAUNCH("add_kernel");
  });
}

void add_relu_forward(int64_t n, const float* a, const float* b, float* y) {
  binary(n, a, b, y, [n](unsigned grid, cudaStream_t st, const float* a_, const float* b_, float* out) {
    add_kernel<true><<<grid, kBlock, 0, st>>>(n, a_, b_, out);
    BOT_CUDA_CHECK_LAUNCH("add_relu_kernel");
  });
}

}  // namespace bot::cuda
