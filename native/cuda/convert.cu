// FP32 <-> FP16 (IEEE binary16) on the device: __float2half_rn rounds to nearest even,
// overflows to infinity and keeps NaN a NaN, as the CPU op (bot/ops/convert.h);
// FP16 -> FP32 is exact. One thread per element, grid-stride.
#include <cuda_fp16.h>

#include "bot/cuda/runtime.cuh"
#include "bot/cuda_ops.h"
#include "bot/status.h"

namespace bot::cuda {

namespace {

constexpr int kBlock = 256;            // 8 warps per block for a streaming op
constexpr int64_t kMaxGrid = 1 << 16;  // grid-stride beyond this

__global__ void f32_to_f16_kernel(int64_t n, const float* __restrict__ x, __half* __restrict__ y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __float2half_rn(x[i]);
}

__global__ void f16_to_f32_kernel(int64_t n, const __half* __restrict__ x, float* __restrict__ y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __half2float(x[i]);
}

unsigned grid_for(int64_t n) {
  int64_t g = (n + kBlock - 1) / kBlock;
  return unsigned(g < 1 ? 1 : (g > kMaxGrid ? kMaxGrid : g));
}

}  // namespace

void f32_to_f16(int64_t n, const float* x, uint16_t* y) {
  BOT_CHECK(n >= 0, Code::kShape, "f32_to_f16: negative size");
  cudaStream_t st = stream();
  if (n == 0) return;
  DeviceBuffer dx = to_device(x, sizeof(float) * size_t(n));
  DeviceBuffer dy(sizeof(__half) * size_t(n));
  f32_to_f16_kernel<<<grid_for(n), kBlock, 0, st>>>(n, dx.as<float>(), dy.as<__half>());
  BOT_CUDA_CHECK_LAUNCH("f32_to_f16_kernel");
  copy_to_host(y, dy.get(), dy.bytes());
  synchronize();
}

void f16_to_f32(int64_t n, const uint16_t* x, float* y) {
  BOT_CHECK(n >= 0, Code::kShape, "f16_to_f32: negative size");
  cudaStream_t st = stream();
  if (n == 0) return;
  DeviceBuffer dx = to_device(x, sizeof(__half) * size_t(n));
  DeviceBuffer dy(sizeof(float) * size_t(n));
  f16_to_f32_kernel<<<grid_for(n), kBlock, 0, st>>>(n, dx.as<__half>(), dy.as<float>());
  BOT_CUDA_CHECK_LAUNCH("f16_to_f32_kernel");
  copy_to_host(y, dy.get(), dy.bytes());
  synchronize();
}

}  // namespace bot::cuda
