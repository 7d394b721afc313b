// The colour pass of the train transform on the device (semantics in bot/ops/augment.h):
// uint8 RGB pixels -> y = M p + t per image, M (3x3) and t composed on the host per image
// (augment_affine, in double, the same maps the CPU's fast path applies).
//
// One thread per pixel in a grid-stride loop over the batch; a pixel's three bytes and three
// outputs are adjacent, so a warp reads 96 consecutive bytes and writes 384. Each image's
// 12 coefficients are read through the read-only cache (every pixel of an image reads the
// same 48 bytes). The sums run in the CPU kernel's order: t, then the R, G and B terms,
// each as a fused multiply-add, as the AVX2 path computes them.
//
// FP16 storage: augment_affine_device also writes __half images (a mixed-precision Net's
// input activations). The kernel is a template over the output type T: the sums are the
// same FP32 fused multiply-adds, and each output is rounded to FP16 once, when stored.
#include <cuda_fp16.h>

#include "bot/cuda/kernels.cuh"
#include "bot/cuda/runtime.cuh"
#include "bot/status.h"

namespace bot::cuda {

namespace {

constexpr int kBlock = 256;  // 8 warps

template <typename T>
__global__ void augment_affine_kernel(int64_t pixels_per_image, int64_t total_pixels, const uint8_t* __restrict__ x,
                                      const float* __restrict__ affine, T* __restrict__ y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total_pixels;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float* a = affine + (i / pixels_per_image) * 12;  // m (row-major 3x3), then t
    const float r = x[3 * i], g = x[3 * i + 1], b = x[3 * i + 2];
#pragma unroll
    for (int c = 0; c < 3; ++c) {
      float acc = __ldg(a + 9 + c);
      acc = fmaf(__ldg(a + c * 3 + 0), r, acc);
      acc = fmaf(__ldg(a + c * 3 + 1), g, acc);
      acc = fmaf(__ldg(a + c * 3 + 2), b, acc);
      store(y + 3 * i + c, acc);
    }
  }
}

// The launcher's body, shared by the float and __half overloads.
template <typename T>
void launch(int64_t n, int64_t pixels_per_image, const uint8_t* x, const float* affine, T* y,
            cudaStream_t stream) {
  BOT_CHECK(n >= 1 && pixels_per_image >= 1, Code::kShape, "augment: expected N >= 1 images of >= 1 pixel");
  const int64_t total = n * pixels_per_image;
  augment_affine_kernel<T><<<streaming_grid(total, kBlock), kBlock, 0, stream>>>(pixels_per_image, total, x,
                                                                                 affine, y);
  BOT_CUDA_CHECK_LAUNCH("augment_affine_kernel");
}

}  // namespace

void augment_affine_device(int64_t n, int64_t pixels_per_image, const uint8_t* x, const float* affine, float* y,
                           cudaStream_t stream) {
  launch(n, pixels_per_image, x, affine, y, stream);
}

void augment_affine_device(int64_t n, int64_t pixels_per_image, const uint8_t* x, const float* affine, __half* y,
                           cudaStream_t stream) {
  launch(n, pixels_per_image, x, affine, y, stream);
}

}  // namespace bot::cuda
