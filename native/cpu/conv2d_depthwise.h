// Internals of the 3x3 depthwise convolution (not a public header): the problem the fast
// kernels take, and the row kernels each op file dispatches to at run time.
//
//   x, dx  (N, H, W, C)     w, dw  (C, 3, 3, 1) KRSC      y, dy  (N, P, Q, C)
//   wt     (9, C)           the weights tap-major: wt[(r*3 + s)*C + c] = w[c, r, s, 0]
//
//   y[n,p,q,c] = sum_{r,s} x[n, p*sh - 1 + r, q*sw - 1 + s, c] * w[c, r, s]   (zero padding 1)
//
// A depthwise 3x3 does 9 multiply-adds per output element against 9 + 1 loads, so the
// im2col GEMM of dense convolutions gains nothing here; these kernels walk NHWC rows pixel
// after pixel, the channels in the vector lanes (all channels of one pixel are contiguous),
// several neighbouring outputs per step so each input pixel is loaded once for all the
// outputs it reaches, and every channel block of a step before the next step, so memory
// is read in order. Each op has one file with its plain loops
// (the portable path, also the oracle the SIMD kernels are tested against beside
// conv2d_reference.cpp) and the dispatch: conv2d_depthwise_forward.cpp,
// conv2d_depthwise_backward_data.cpp, conv2d_depthwise_backward_filter.cpp. Their AVX2 and
// AVX-512 kernels are one template per op (conv2d_depthwise_*_simd.h over the vector
// types of conv2d_depthwise_simd.h), instantiated in *_avx2.cpp and *_avx512.cpp.
#pragma once
#include <cstdint>

#include "bot/ops/conv2d.h"

namespace bot {

// The sizes of a depthwise 3x3 problem (checked by depthwise3x3_applies first).
struct Depthwise3x3 {
  int64_t n, h, w, c;  // input (N, H, W, C); K = C, one output channel per input channel
  int64_t p, q;        // output rows and columns
  int64_t sh, sw;      // strides, 1 or 2; padding is 1 on every side

  static constexpr int64_t kTaps = 9;  // 3x3
  explicit Depthwise3x3(const Conv2dProblem& pr)
      : n(pr.n), h(pr.h), w(pr.w), c(pr.c), p(pr.p()), q(pr.q()), sh(pr.stride_h), sw(pr.stride_w) {}
};

// groups == C == K, a 3x3 kernel, padding 1 and strides of 1 or 2 (any mix): the problems
// the kernels below take. Everything else with groups > 1 stays on conv2d.cpp's direct loops.
bool depthwise3x3_applies(const Conv2dProblem& p);

// The ops (each validates nothing: conv2d.cpp's entry points have, and checked
// depthwise3x3_applies). `bias` may be null; `relu` clamps at 0 after the bias.
void depthwise3x3_forward(const Conv2dProblem& p, const float* x, const float* w,
                          const float* bias, bool relu, float* y);
void depthwise3x3_backward_data(const Conv2dProblem& p, const float* dy, const float* w,
                                float* dx, bool accumulate);
void depthwise3x3_backward_filter(const Conv2dProblem& p, const float* x, const float* dy,
                                  float* dw);

// Row kernels, one per op and instruction set; each runs rows [row0, row1):
//   forward          output rows n*P + p:  y rows = conv(x), + bias, then ReLU if asked
//   backward-data    input rows n*H + h:   dx rows = (accumulate ? dx : 0) + the taps' dy
//   backward-filter  output rows n*P + p:  part (9, C) += dy[row] * x[the row's taps], each
//                    row summed in row_sums (9, C, scratch) first
// The AVX2/AVX-512 ones are defined in *_avx2.cpp / *_avx512.cpp (x86 builds only).
void depthwise3x3_forward_rows_avx2(const Depthwise3x3& d, const float* x, const float* wt,
                                    const float* bias, bool relu, float* y, int64_t row0,
                                    int64_t row1);
void depthwise3x3_forward_rows_avx512(const Depthwise3x3& d, const float* x, const float* wt,
                                      const float* bias, bool relu, float* y, int64_t row0,
                                      int64_t row1);
void depthwise3x3_backward_data_rows_avx2(const Depthwise3x3& d, const float* dy,
                                          const float* wt, float* dx, bool accumulate,
                                          int64_t row0, int64_t row1);
void depthwise3x3_backward_data_rows_avx512(const Depthwise3x3& d, const float* dy,
                                            const float* wt, float* dx, bool accumulate,
                                            int64_t row0, int64_t row1);
void depthwise3x3_backward_filter_rows_avx2(const Depthwise3x3& d, const float* x,
                                            const float* dy, float* part, float* row_sums,
                                            int64_t row0, int64_t row1);
void depthwise3x3_backward_filter_rows_avx512(const Depthwise3x3& d, const float* x,
                                              const float* dy, float* part, float* row_sums,
                                              int64_t row0, int64_t row1);

// w (C, 3, 3, 1) -> wt (9, C), on the calling thread's scratch (valid until its next call;
// read by the pool's workers during the op).
const float* depthwise3x3_taps(const Depthwise3x3& d, const float* w);

// The instruction set the ops run with (use_avx512(), else use_avx2_fma(), else the
// portable loops), for benchmarks and tests: "avx512", "avx2" or "portable".
const char* depthwise3x3_isa();

}  // namespace bot
