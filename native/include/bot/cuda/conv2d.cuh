// CUDA convolution kernels: launchers over device pointers, included by .cu files only.
//
// Layouts as in the CPU core: activations NHWC, weights KRSC (out channels, kernel rows,
// kernel columns, input channels per group). groups == 1 here; grouped/depthwise
// convolutions are not part of the ResNet family this backend trains.
//
// Precision: kF16 takes __half x/w/dy and writes __half y/dx, accumulating in FP32 on the
// tensor cores (mma.sync m16n8k16 on sm_80+); kF32 takes and writes float. The filter
// gradient dw is always FP32 (it feeds the FP32 master weights). Every launcher is
// asynchronous on `stream`, checks its arguments (ERR_ARGUMENT / ERR_SHAPE through
// bot::Error) and the launch (cudaGetLastError), and is correct for any shape: a generic
// path covers channel counts that are not a multiple of 8 (the 3-channel stem).
//
// The *_reference launchers are the simplest correct kernels (one thread per output
// element, FP32 accumulation in the same order for both precisions): the fast kernels are
// tested against them and against the CPU core.
#pragma once
#include <cuda_runtime.h>
#include <cstdint>

namespace bot::cuda {

enum class Precision { kF32, kF16 };

struct ConvShape {
  int64_t n = 1, h = 1, w = 1, c = 1;  // input NHWC
  int64_t k = 1, r = 1, s = 1;         // output channels, kernel rows, kernel columns
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t out_h() const { return (h + 2 * pad_h - r) / stride_h + 1; }
  int64_t out_w() const { return (w + 2 * pad_w - s) / stride_w + 1; }
};

// y (n, out_h, out_w, k) = conv(x, w), plus bias (k floats, optional: a folded BN's) on
// every output row and then max(., 0) when relu, applied as the tile is stored.
void conv2d_forward(const ConvShape& sh, Precision p, const void* x, const void* w, void* y,
                    cudaStream_t stream, const float* bias = nullptr, bool relu = false);
// dx (n, h, w, c) = conv^T(dy, w)
void conv2d_backward_data(const ConvShape& sh, Precision p, const void* dy, const void* w,
                          void* dx, cudaStream_t stream);
// dw (k, r, s, c), FP32, overwritten (not accumulated)
void conv2d_backward_filter(const ConvShape& sh, Precision p, const void* x, const void* dy,
                            float* dw, cudaStream_t stream);

void conv2d_forward_reference(const ConvShape& sh, Precision p, const void* x, const void* w,
                              void* y, cudaStream_t stream);
void conv2d_backward_data_reference(const ConvShape& sh, Precision p, const void* dy,
                                    const void* w, void* dx, cudaStream_t stream);
void conv2d_backward_filter_reference(const ConvShape& sh, Precision p, const void* x,
                                      const void* dy, float* dw, cudaStream_t stream);

// Multiply-adds x 2 of one forward pass; backward data and backward filter cost the same
// again each. For benchmarks: achieved FLOP/s = conv2d_flops(sh) / seconds.
inline int64_t conv2d_flops(const ConvShape& sh) {
  return 2 * sh.n * sh.out_h() * sh.out_w() * sh.k * sh.r * sh.s * sh.c;
}

}  // namespace bot::cuda
