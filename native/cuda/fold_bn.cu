// Eval-mode BN folded into the conv before it, on the device (the CPU's fold is in
// native/core/net_device_cpu.cpp): per output channel o, with s = gamma / sqrt(var + eps)
// in double,  w'[o, :] = w[o, :] * s  and  b'[o] = beta - mean * s,  each rounded to float
// once, as the CPU computes them. Weights are KRSC, so one output channel is contiguous.
//
// One thread per weight in a grid-stride loop (the per-channel scale is recomputed by
// each thread from three floats: cheaper than a second launch, and the same double
// expression); the first per_k threads of channel o also write its bias.
#include "bot/cuda/kernels.cuh"
#include "bot/cuda/runtime.cuh"
#include "bot/status.h"

namespace bot::cuda {

namespace {

constexpr int kBlock = 256;  // 8 warps

__global__ void fold_conv_bn_kernel(int64_t k, int64_t per_k, const float* __restrict__ w,
                                    const float* __restrict__ gamma, const float* __restrict__ beta,
                                    const float* __restrict__ mean, const float* __restrict__ var, float eps,
                                    float* __restrict__ folded_w, float* __restrict__ folded_b) {
  const int64_t total = k * per_k;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = i / per_k;
    const double scale = double(gamma[o]) / sqrt(double(var[o]) + double(eps));
    folded_w[i] = float(double(w[i]) * scale);
    if (i % per_k == 0) folded_b[o] = float(double(beta[o]) - double(mean[o]) * scale);
  }
}

}  // namespace

void fold_conv_bn_device(int64_t k, int64_t per_k, const float* w, const float* gamma, const float* beta,
                         const float* mean, const float* var, float eps, float* folded_w, float* folded_b,
                         cudaStream_t stream) {
  BOT_CHECK(k >= 1 && per_k >= 1, Code::kShape, "fold_conv_bn: expected k, per_k >= 1");
  fold_conv_bn_kernel<<<streaming_grid(k * per_k, kBlock), kBlock, 0, stream>>>(k, per_k, w, gamma, beta, mean, var,
                                                                                 eps, folded_w, folded_b);
  BOT_CUDA_CHECK_LAUNCH("fold_conv_bn_kernel");
}

}  // namespace bot::cuda
