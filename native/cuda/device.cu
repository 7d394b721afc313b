// CUDA device query and the self-test kernel (y = a*x + y), the first code of the CUDA
// backend. The runtime is linked statically and finds the driver lazily: on a machine
// without a driver or GPU every call here returns an error code, which cuda_info()
// reports as the reason CUDA is unavailable.
#include <cuda_runtime.h>

#include <cmath>
#include <string>
#include <vector>

#include "bot/cuda.h"
#include "bot/cuda/runtime.cuh"
#include "bot/status.h"

#ifndef BOT_CUDA_ARCHS
#define BOT_CUDA_ARCHS "see CMakeLists.txt"
#endif

namespace bot {

namespace {

// Failed calls go through the runtime layer's policy (bot/cuda/runtime.cuh): OOM stays
// recoverable, a sticky error poisons the process.
#define CUDA_CHECK(call) BOT_CUDA_CHECK(call)

__global__ void axpy_kernel(int n, float a, const float* x, float* y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

}  // namespace

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = true;
  info.archs = BOT_CUDA_ARCHS;
#ifdef BOT_CUDA_SIM
  info.simulator = true;
#endif
  cudaRuntimeGetVersion(&info.runtime_version);
  cudaError_t err = cudaDriverGetVersion(&info.driver_version);
  if (err != cudaSuccess || info.driver_version == 0) {
    info.reason = "no NVIDIA driver found (libcuda.so could not be loaded)";
    return info;
  }
  int count = 0;
  err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    info.reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the non-sticky error
    return info;
  }
  if (count == 0) {
    info.reason = "the NVIDIA driver reports no CUDA device";
    return info;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    CudaDeviceInfo d;
    d.index = i;
    d.name = prop.name;
    d.major = prop.major;
    d.minor = prop.minor;
    d.total_memory = prop.totalGlobalMem;
    d.multiprocessors = prop.multiProcessorCount;
    info.devices.push_back(d);
  }
  if (info.devices.empty()) {
    info.reason = "no CUDA device could be queried";
    return info;
  }
  if (info.devices[0].major < 8) {
    info.reason = "device 0 has compute capability " + std::to_string(info.devices[0].major) +
                  "." + std::to_string(info.devices[0].minor) +
                  "; bagoftricks needs 8.0 or newer";
    return info;
  }
  info.available = true;
  return info;
}

double cuda_selftest(int n) {
  BOT_CHECK(n >= 1 && n <= (1 << 26), Code::kArgument, "selftest size must be in [1, 2^26]");
  cuda::ensure_ready();  // ERR_CUDA_UNAVAILABLE, or ERR_CUDA_FATAL after a sticky error
  std::vector<float> x(n), y(n);
  for (int i = 0; i < n; ++i) {
    x[i] = 0.5f * float(i % 97);
    y[i] = float(i % 13);
  }
  float *dx = nullptr, *dy = nullptr;
  CUDA_CHECK(cudaMalloc(&dx, sizeof(float) * n));
  cudaError_t err = cudaMalloc(&dy, sizeof(float) * n);
  if (err != cudaSuccess) {
    cudaFree(dx);
    CUDA_CHECK(err);
  }
  double max_err = 0.0;
  try {
    CUDA_CHECK(cudaMemcpy(dx, x.data(), sizeof(float) * n, cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(dy, y.data(), sizeof(float) * n, cudaMemcpyHostToDevice));
    const int block = 256;  // a multiple of the 32-thread warp; any size works for axpy
    const int grid = (n + block - 1) / block;
    axpy_kernel<<<grid, block>>>(n, 2.0f, dx, dy);
    BOT_CUDA_CHECK_LAUNCH("axpy_kernel");
    std::vector<float> out(n);
    CUDA_CHECK(cudaMemcpy(out.data(), dy, sizeof(float) * n, cudaMemcpyDeviceToHost));
    for (int i = 0; i < n; ++i)
      max_err = std::fmax(max_err, std::fabs(double(out[i]) - (2.0 * x[i] + y[i])));
  } catch (...) {
    cudaFree(dx);
    cudaFree(dy);
    throw;
  }
  cudaFree(dx);
  cudaFree(dy);
  return max_err;
}

}  // namespace bot
