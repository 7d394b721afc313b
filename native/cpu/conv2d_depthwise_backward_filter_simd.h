// The depthwise 3x3 backward-filter pass over a vector type T (conv2d_depthwise_simd.h),
// included by conv2d_depthwise_backward_filter_avx2.cpp and _avx512.cpp; the plain loops
// it must agree with are in conv2d_depthwise_backward_filter.cpp.
//
//   x (N, H, W, C)   dy (N, P, Q, C)   part (9, C) tap-major, accumulated
//   part[r*3 + s, c] += sum over the rows' outputs (n, p, q) of
//                       dy[n,p,q,c] * x[n, p*sh - 1 + r, q*sw - 1 + s, c]
//
// One output row (n, p) at a time, one block of T::kLanes channels at a time: the 3 to 9
// tap sums of the valid kernel rows are kept in registers along the row, then added to
// `part`. In the interior kPix outputs are taken together: their kPix dy
// vectors are loaded once, and each of the (kPix - 1) * sw + 3 input pixels they read per
// kernel row once, multiplied into every tap sum it feeds (tap s of output k reads input
// j = k*sw + s). The edge outputs go through `pixel`, which checks every tap. Each tap sum
// takes the outputs in q order on both paths.
#pragma once
#include "cpu/conv2d_depthwise.h"
#include "cpu/conv2d_depthwise_simd.h"

namespace bot {
namespace {

// One output row, channels [c0, c0 + kLanes): xrow[i] is the input row of the i-th valid
// kernel row at c0, prow[i] its 3 tap sums (3 rows of C in part) at c0; dyrow at c0.
template <class T, int kRows, int kSw, int kPix, bool kMasked>
void backward_filter_block(const Depthwise3x3& d, const float* const* xrow, const float* dyrow,
                           float* const* prow, typename T::Mask m) {
  using V = typename T::V;
  const int64_t C = d.c, W = d.w, Q = d.q;
  // The row's own sums, added to `part` at the end: a sum of row sums rounds less than
  // one running sum over every output of the chunk.
  V acc[kRows][3];
#pragma GCC unroll 3
  for (int i = 0; i < kRows; ++i)
#pragma GCC unroll 3
    for (int s = 0; s < 3; ++s) acc[i][s] = T::zero();

  // One output, each tap checked against the left and right edges.
  auto pixel = [&](int64_t q) {
    const V g = load_block<T, kMasked>(dyrow + q * C, m);
    const int64_t iw0 = q * kSw - 1;
#pragma GCC unroll 3
    for (int i = 0; i < kRows; ++i)
#pragma GCC unroll 3
      for (int s = 0; s < 3; ++s) {
        const int64_t iw = iw0 + s;
        if (iw >= 0 && iw < W) acc[i][s] = T::fma(load_block<T, kMasked>(xrow[i] + iw * C, m), g, acc[i][s]);
      }
  };

  constexpr int kLoads = (kPix - 1) * kSw + 3;  // input pixels read by kPix outputs
  int64_t q = 0;
  if (Q > 0) pixel(q++);  // its left tap is in the padding
  for (; q + kPix <= Q && q * kSw - 1 + kLoads <= W; q += kPix) {
    V g[kPix];
    const float* gp = dyrow + q * C;
    _mm_prefetch(reinterpret_cast<const char*>(gp + 2 * kPix * C), _MM_HINT_T0);
#pragma GCC unroll 16
    for (int k = 0; k < kPix; ++k, gp = step(gp, C)) g[k] = load_block<T, kMasked>(gp, m);
    const int64_t iwb = q * kSw - 1;  // the first input pixel read, >= 0 since q >= 1
#pragma GCC unroll 3
    for (int i = 0; i < kRows; ++i) {
      const float* xp = xrow[i] + iwb * C;
      // The input pixels of the step after next, into L1: one channel block walks the row
      // at a stride of C floats, which the hardware prefetchers follow badly for a large C.
      const float* ahead = xp + (kLoads + 2 * kPix * kSw) * C;
#pragma GCC unroll 16
      for (int j = 0; j < kPix * kSw; ++j, ahead = step(ahead, C)) _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
#pragma GCC unroll 32
      for (int j = 0; j < kLoads; ++j, xp = step(xp, C)) {
        const V xv = load_block<T, kMasked>(xp, m);
#pragma GCC unroll 16
        for (int k = 0; k < kPix; ++k) {
          const int s = j - k * kSw;  // the tap of output k that reads input j
          if (s >= 0 && s < 3) acc[i][s] = T::fma(xv, g[k], acc[i][s]);
        }
      }
    }
  }
  for (; q < Q; ++q) pixel(q);

#pragma GCC unroll 3
  for (int i = 0; i < kRows; ++i)
#pragma GCC unroll 3
    for (int s = 0; s < 3; ++s) {
      float* ps = prow[i] + s * C;
      store_block<T, kMasked>(ps, T::add(load_block<T, kMasked>(ps, m), acc[i][s]), m);
    }
}

template <class T, int kPix, bool kMasked>
void backward_filter_block_dispatch(const Depthwise3x3& d, int rows, const float* const* xrow,
                                    const float* dyrow, float* const* prow, typename T::Mask m) {
  if (d.sw == 1) {
    if (rows == 3) backward_filter_block<T, 3, 1, kPix, kMasked>(d, xrow, dyrow, prow, m);
    else if (rows == 2) backward_filter_block<T, 2, 1, kPix, kMasked>(d, xrow, dyrow, prow, m);
    else backward_filter_block<T, 1, 1, kPix, kMasked>(d, xrow, dyrow, prow, m);
  } else {
    if (rows == 3) backward_filter_block<T, 3, 2, kPix, kMasked>(d, xrow, dyrow, prow, m);
    else if (rows == 2) backward_filter_block<T, 2, 2, kPix, kMasked>(d, xrow, dyrow, prow, m);
    else backward_filter_block<T, 1, 2, kPix, kMasked>(d, xrow, dyrow, prow, m);
  }
}

// Output rows [row0, row1) (row = n * P + p), every channel, added into part (9, C).
template <class T, int kPix>
void backward_filter_rows(const Depthwise3x3& d, const float* x, const float* dy, float* part,
                          int64_t row0, int64_t row1) {
  const int64_t C = d.c;
  const int64_t full = C / T::kLanes * T::kLanes;  // channels in full blocks
  const typename T::Mask tail = T::first(C > full ? C - full : 1);
  for (int64_t row = row0; row < row1; ++row) {
    const int64_t n = row / d.p, p = row % d.p;
    const float* xrow[3] = {x, x, x};  // entries past `rows` are never read
    float* prow[3] = {part, part, part};
    int rows = 0;
    for (int r = 0; r < 3; ++r) {
      const int64_t ih = p * d.sh - 1 + r;
      if (ih < 0 || ih >= d.h) continue;
      xrow[rows] = x + (n * d.h + ih) * d.w * C;
      prow[rows] = part + r * 3 * C;
      ++rows;
    }
    const float* dyrow = dy + row * d.q * C;
    for (int64_t c0 = 0; c0 < full; c0 += T::kLanes) {
      const float* xr[3] = {xrow[0] + c0, xrow[1] + c0, xrow[2] + c0};
      float* pr[3] = {prow[0] + c0, prow[1] + c0, prow[2] + c0};
      backward_filter_block_dispatch<T, kPix, false>(d, rows, xr, dyrow + c0, pr, tail);
    }
    if (C > full) {
      const float* xr[3] = {xrow[0] + full, xrow[1] + full, xrow[2] + full};
      float* pr[3] = {prow[0] + full, prow[1] + full, prow[2] + full};
      backward_filter_block_dispatch<T, kPix, true>(d, rows, xr, dyrow + full, pr, tail);
    }
  }
}

}  // namespace
}  // namespace bot
