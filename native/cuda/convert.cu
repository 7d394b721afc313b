// FP32 <-> FP16 (IEEE binary16) on the device: f16_like_cpu (bot/cuda/kernels.cuh) rounds
// to nearest even and overflows to infinity with __float2half_rn, and keeps a NaN's sign and
// payload as the CPU op does (bot/ops/convert.h; the hardware gives the canonical NaN),
// so both backends store the same bits; FP16 -> FP32 is exact. One thread per element,
// grid-stride.
#include <cuda_fp16.h>

#include "bot/cuda/kernels.cuh"
#include "bot/cuda/runtime.cuh"
#include "bot/cuda_ops.h"
#include "bot/status.h"

namespace bot::cuda {

namespace {

constexpr int kBlock = 256;            // 8 warps per block for a streaming op

__global__ void f32_to_f16_kernel(int64_t n, const float* __restrict__ x, __half* __restrict__ y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = f16_like_cpu(x[i]);
}

__global__ void f16_to_f32_kernel(int64_t n, const __half* __restrict__ x, float* __restrict__ y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __half2float(x[i]);
}


}  // namespace

void f32_to_f16_device(int64_t n, const float* x, void* half, cudaStream_t st) {
  f32_to_f16_kernel<<<streaming_grid(n, kBlock), kBlock, 0, st>>>(n, x, static_cast<__half*>(half));
  BOT_CUDA_CHECK_LAUNCH("f32_to_f16_kernel");
}

void f16_to_f32_device(int64_t n, const void* half, float* y, cudaStream_t st) {
  f16_to_f32_kernel<<<streaming_grid(n, kBlock), kBlock, 0, st>>>(n, static_cast<const __half*>(half), y);
  BOT_CUDA_CHECK_LAUNCH("f16_to_f32_kernel");
}

void f32_to_f16(int64_t n, const float* x, uint16_t* y) {
  BOT_CHECK(n >= 0, Code::kShape, "f32_to_f16: negative size");
  cudaStream_t st = stream();
  if (n == 0) return;
  DeviceBuffer dx = to_device(x, sizeof(float) * size_t(n));
  DeviceBuffer dy(sizeof(__half) * size_t(n));
  f32_to_f16_device(n, dx.as<float>(), dy.get(), st);
  copy_to_host(y, dy.get(), dy.bytes());
  synchronize();
}

void f16_to_f32(int64_t n, const uint16_t* x, float* y) {
  BOT_CHECK(n >= 0, Code::kShape, "f16_to_f32: negative size");
  cudaStream_t st = stream();
  if (n == 0) return;
  DeviceBuffer dx = to_device(x, sizeof(__half) * size_t(n));
  DeviceBuffer dy(sizeof(float) * size_t(n));
  f16_to_f32_device(n, dx.get(), dy.as<float>(), st);
  copy_to_host(y, dy.get(), dy.bytes());
  synchronize();
}

}  // namespace bot::cuda
