// The depthwise 3x3 backward-filter pass over a vector type T (conv2d_depthwise_simd.h),
// included by conv2d_depthwise_backward_filter_avx2.cpp and _avx512.cpp; the plain loops
// it must agree with are in conv2d_depthwise_backward_filter.cpp.
//
//   x (N, H, W, C)   dy (N, P, Q, C)   part (9, C) tap-major, accumulated
//   part[r*3 + s, c] += sum over the rows' outputs (n, p, q) of
//                       dy[n,p,q,c] * x[n, p*sh - 1 + r, q*sw - 1 + s, c]
//
// One output row (n, p) at a time, walked output after output, each step over every block
// of T::kLanes channels before the next (as the forward pass, so the rows are read in
// order). The row's tap sums live in `row_sums` (9, C), zeroed for the row and added to
// `part` at its end: a sum of row sums rounds less than one running sum over every output
// of the chunk. In the interior kPix outputs are taken together: a block's 3 to 9 sums
// are loaded, the kPix dy vectors loaded once, and each of the (kPix - 1) * sw + 3 input
// pixels they read per kernel row loaded once and multiplied into every sum it feeds
// (tap s of output k reads input j = k*sw + s); the sums are stored back. The edge
// outputs go through `pixel`, which checks every tap. Each tap sum takes the outputs in q
// order on both paths.
#pragma once
#include "cpu/conv2d_depthwise.h"
#include "cpu/conv2d_depthwise_simd.h"

namespace bot {
namespace {

// One output q of a row, channels [c0, c0 + kLanes), each tap checked against the left and
// right edges: xrow[i] is the input row of the i-th valid kernel row, srow[i] its 3 tap
// sums (3 rows of C in row_sums).
template <class T, int kRows, int kSw, bool kMasked>
inline void backward_filter_pixel(const Depthwise3x3& d, const float* const* xrow, const float* dyrow,
                                  float* const* srow, int64_t q, int64_t c0, typename T::Mask m) {
  const int64_t C = d.c;
  const typename T::V g = load_block<T, kMasked>(dyrow + q * C + c0, m);
  const int64_t iw0 = q * kSw - 1;
#pragma GCC unroll 3
  for (int i = 0; i < kRows; ++i)
#pragma GCC unroll 3
    for (int s = 0; s < 3; ++s) {
      const int64_t iw = iw0 + s;
      if (iw < 0 || iw >= d.w) continue;
      float* sp = srow[i] + s * C + c0;
      store_block<T, kMasked>(sp, T::fma(load_block<T, kMasked>(xrow[i] + iw * C + c0, m), g, load_block<T, kMasked>(sp, m)), m);
    }
}

// kPix outputs q .. q + kPix - 1 whose taps are all inside the row, channels [c0, c0 + kLanes).
template <class T, int kRows, int kSw, int kPix, bool kMasked>
inline void backward_filter_step(const Depthwise3x3& d, const float* const* xrow, const float* dyrow,
                                 float* const* srow, int64_t q, int64_t c0, typename T::Mask m) {
  using V = typename T::V;
  constexpr int kLoads = (kPix - 1) * kSw + 3;  // input pixels read by kPix outputs
  const int64_t C = d.c;
  V g[kPix];
  const float* gp = dyrow + q * C + c0;
  _mm_prefetch(reinterpret_cast<const char*>(gp + 2 * kPix * C), _MM_HINT_T0);
#pragma GCC unroll 16
  for (int k = 0; k < kPix; ++k, gp = step(gp, C)) g[k] = load_block<T, kMasked>(gp, m);
#pragma GCC unroll 3
  for (int i = 0; i < kRows; ++i) {
    V acc[3];
#pragma GCC unroll 3
    for (int s = 0; s < 3; ++s) acc[s] = load_block<T, kMasked>(srow[i] + s * C + c0, m);
    const float* xp = xrow[i] + (q * kSw - 1) * C + c0;
    // The input pixels two steps ahead, into L1 (DRAM latency is about two steps' work).
    const float* ahead = xp + (kLoads + kPix * kSw) * C;
#pragma GCC unroll 16
    for (int j = 0; j < kPix * kSw; ++j, ahead = step(ahead, C)) _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
#pragma GCC unroll 32
    for (int j = 0; j < kLoads; ++j, xp = step(xp, C)) {
      const V xv = load_block<T, kMasked>(xp, m);
#pragma GCC unroll 16
      for (int k = 0; k < kPix; ++k) {
        const int s = j - k * kSw;  // the tap of output k that reads input j
        if (s >= 0 && s < 3) acc[s] = T::fma(xv, g[k], acc[s]);
      }
    }
#pragma GCC unroll 3
    for (int s = 0; s < 3; ++s) store_block<T, kMasked>(srow[i] + s * C + c0, acc[s], m);
  }
}

// One output row into srow: output 0 (its left tap is in the padding), the interior in
// steps of kPix and then of 1, the right edge output by output; each over every block.
template <class T, int kRows, int kSw, int kPix>
void backward_filter_row(const Depthwise3x3& d, const float* const* xrow, const float* dyrow,
                         float* const* srow) {
  const int64_t C = d.c, full = C / T::kLanes * T::kLanes;
  const typename T::Mask tail = T::first(C > full ? C - full : 1);
  auto pixel = [&](int64_t q) {
    for (int64_t c0 = 0; c0 < full; c0 += T::kLanes) backward_filter_pixel<T, kRows, kSw, false>(d, xrow, dyrow, srow, q, c0, tail);
    if (C > full) backward_filter_pixel<T, kRows, kSw, true>(d, xrow, dyrow, srow, q, full, tail);
  };
  auto steps = [&](auto pix, int64_t q) {  // interior steps of pix outputs from q; returns the next q
    constexpr int kP = decltype(pix)::value;
    constexpr int kLoads = (kP - 1) * kSw + 3;
    for (; q + kP <= d.q && q * kSw - 1 + kLoads <= d.w; q += kP) {
      for (int64_t c0 = 0; c0 < full; c0 += T::kLanes) backward_filter_step<T, kRows, kSw, kP, false>(d, xrow, dyrow, srow, q, c0, tail);
      if (C > full) backward_filter_step<T, kRows, kSw, kP, true>(d, xrow, dyrow, srow, q, full, tail);
    }
    return q;
  };
  int64_t q = 0;
  if (d.q > 0) pixel(q++);
  q = steps(Count<kPix>(), q);
  q = steps(Count<1>(), q);
  for (; q < d.q; ++q) pixel(q);
}

// Output rows [row0, row1) (row = n * P + p), every channel, added into part (9, C);
// row_sums (9, C) is scratch.
template <class T, int kPix>
void backward_filter_rows(const Depthwise3x3& d, const float* x, const float* dy, float* part,
                          float* row_sums, int64_t row0, int64_t row1) {
  const int64_t C = d.c, tc = Depthwise3x3::kTaps * C;
  for (int64_t row = row0; row < row1; ++row) {
    const int64_t n = row / d.p, p = row % d.p;
    const float* xrow[3] = {x, x, x};  // entries past `rows` are never read
    float* srow[3] = {row_sums, row_sums, row_sums};
    int rows = 0;
    for (int r = 0; r < 3; ++r) {
      const int64_t ih = p * d.sh - 1 + r;
      if (ih < 0 || ih >= d.h) continue;
      xrow[rows] = x + (n * d.h + ih) * d.w * C;
      srow[rows] = row_sums + r * 3 * C;
      ++rows;
    }
    for (int64_t i = 0; i < tc; ++i) row_sums[i] = 0.0f;
    const float* dyrow = dy + row * d.q * C;
    if (d.sw == 1) {
      if (rows == 3) backward_filter_row<T, 3, 1, kPix>(d, xrow, dyrow, srow);
      else if (rows == 2) backward_filter_row<T, 2, 1, kPix>(d, xrow, dyrow, srow);
      else backward_filter_row<T, 1, 1, kPix>(d, xrow, dyrow, srow);
    } else {
      if (rows == 3) backward_filter_row<T, 3, 2, kPix>(d, xrow, dyrow, srow);
      else if (rows == 2) backward_filter_row<T, 2, 2, kPix>(d, xrow, dyrow, srow);
      else backward_filter_row<T, 1, 2, kPix>(d, xrow, dyrow, srow);
    }
    for (int64_t i = 0; i < tc; ++i) part[i] += row_sums[i];
  }
}

}  // namespace
}  // namespace bot
