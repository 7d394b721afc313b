// The depthwise 3x3 backward-data pass over a vector type T (conv2d_depthwise_simd.h),
// included by conv2d_depthwise_backward_data_avx2.cpp and _avx512.cpp; the plain loops it
// must agree with are in conv2d_depthwise_backward_data.cpp.
//
//   dy (N, P, Q, C)   wt (9, C) tap-major   dx (N, H, W, C)
//   dx[n,h,w,c] = sum over the taps (r, s) that read (h, w) from an output (p, q), i.e.
//                 h = p*sh - 1 + r and w = q*sw - 1 + s, of dy[n,p,q,c] * w[c,r,s]
//
// A gather per input pixel, so each thread owns the dx rows it writes. One input row
// (n, h) at a time: its kernel rows r with an output row p (1 to 3 at stride 1; 1 or 2 at
// stride 2, by the parity of h). Along the row, an input column w takes the taps s with
// (w + 1 - s) a multiple of sw. The row is walked column after column, each step over
// every block of T::kLanes channels before the next (as the forward pass, so the dy rows
// are read in order). In the interior kPix columns are done together, each dy pixel
// loaded once for all the columns it reaches:
//   stride 1: columns w0 .. w0+kPix-1 read dy columns w0-1 .. w0+kPix, tap s = k + 2 - j
//   stride 2: columns w0 (even) .. w0+kPix-1 read dy columns w0/2 .. w0/2 + kPix/2,
//             tap s = k + 1 - 2j (even columns take tap 1, odd ones taps 0 and 2)
// for column k and dy column j of the step, with the block's 3 weights of that kernel row
// in registers. The edge columns go through `pixel`, which checks every tap; both paths
// add the taps in the same order (r, then s descending).
#pragma once
#include "cpu/conv2d_depthwise.h"
#include "cpu/conv2d_depthwise_simd.h"

namespace bot {
namespace {

// One dx column iw, channels [c0, c0 + kLanes), every tap checked: output column
// q = (iw + 1 - s) / sw must exist. dyrow[i] is the dy row of the i-th kernel row that
// reaches this input row, wrow[i] that kernel row's taps (3 rows of C in wt).
template <class T, int kRows, int kSw, bool kMasked>
inline void backward_data_pixel(const Depthwise3x3& d, const float* const* dyrow,
                                const float* const* wrow, bool accumulate, float* dxrow,
                                int64_t iw, int64_t c0, typename T::Mask m) {
  using V = typename T::V;
  const int64_t C = d.c;
  float* dp = dxrow + iw * C + c0;
  V acc = accumulate ? load_block<T, kMasked>(dp, m) : T::zero();
#pragma GCC unroll 3
  for (int i = 0; i < kRows; ++i)
#pragma GCC unroll 3
    for (int s = 2; s >= 0; --s) {
      const int64_t num = iw + 1 - s;
      if (num < 0 || num % kSw != 0 || num / kSw >= d.q) continue;
      acc = T::fma(load_block<T, kMasked>(dyrow[i] + num / kSw * C + c0, m), load_block<T, kMasked>(wrow[i] + s * C + c0, m), acc);
    }
  store_block<T, kMasked>(dp, acc, m);
}

// kPix dx columns iw .. iw + kPix - 1 whose taps all have an output (see the file comment
// for the dy columns and taps of a step), channels [c0, c0 + kLanes).
template <class T, int kRows, int kSw, int kPix, bool kMasked>
inline void backward_data_step(const Depthwise3x3& d, const float* const* dyrow,
                               const float* const* wrow, bool accumulate, float* dxrow,
                               int64_t iw, int64_t c0, typename T::Mask m) {
  static_assert(kSw == 1 || kPix % 2 == 0, "stride 2 works on pairs of columns (even, odd)");
  using V = typename T::V;
  constexpr int kLoads = kSw == 1 ? kPix + 2 : kPix / 2 + 1;
  constexpr int kStepLoads = kSw == 1 ? kPix : kPix / 2;  // dy columns a step moves by
  const int64_t C = d.c;
  const int64_t qb = kSw == 1 ? iw - 1 : iw / 2;  // the step's first dy column
  V acc[kPix];
  float* dp = dxrow + iw * C + c0;
#pragma GCC unroll 16
  for (int k = 0; k < kPix; ++k, dp = step(dp, C)) acc[k] = accumulate ? load_block<T, kMasked>(dp, m) : T::zero();
#pragma GCC unroll 3
  for (int i = 0; i < kRows; ++i) {
    V w[3];
#pragma GCC unroll 3
    for (int s = 0; s < 3; ++s) w[s] = load_block<T, kMasked>(wrow[i] + s * C + c0, m);
    const float* gp = dyrow[i] + qb * C + c0;
    // The dy pixels two steps ahead, into L1 (DRAM latency is about two steps' work).
    const float* ahead = gp + (kLoads + kStepLoads) * C;
#pragma GCC unroll 16
    for (int j = 0; j < kStepLoads; ++j, ahead = step(ahead, C)) _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
#pragma GCC unroll 32
    for (int j = 0; j < kLoads; ++j, gp = step(gp, C)) {  // dy columns ascending: each column's taps s descending, as in `pixel`
      const V gv = load_block<T, kMasked>(gp, m);
#pragma GCC unroll 16
      for (int k = 0; k < kPix; ++k) {
        const int s = kSw == 1 ? k + 2 - j : k + 1 - 2 * j;  // the tap joining column k and dy column j
        if (s >= 0 && s < 3) acc[k] = T::fma(gv, w[s], acc[k]);
      }
    }
  }
  dp = dxrow + iw * C + c0;
#pragma GCC unroll 16
  for (int k = 0; k < kPix; ++k, dp = step(dp, C)) store_block<T, kMasked>(dp, acc[k], m);
}

// One dx row: the first column at stride 1 (it reads dy column 0 only from tap 1 and 2),
// the interior in steps of kPix columns and then of the smallest step (1, or a pair at
// stride 2), the rest column by column with checks; each over every channel block.
template <class T, int kRows, int kSw, int kPix>
void backward_data_row(const Depthwise3x3& d, const float* const* dyrow, const float* const* wrow,
                       bool accumulate, float* dxrow) {
  const int64_t C = d.c, full = C / T::kLanes * T::kLanes;
  const typename T::Mask tail = T::first(C > full ? C - full : 1);
  auto pixel = [&](int64_t iw) {
    for (int64_t c0 = 0; c0 < full; c0 += T::kLanes) backward_data_pixel<T, kRows, kSw, false>(d, dyrow, wrow, accumulate, dxrow, iw, c0, tail);
    if (C > full) backward_data_pixel<T, kRows, kSw, true>(d, dyrow, wrow, accumulate, dxrow, iw, full, tail);
  };
  auto steps = [&](auto pix, int64_t iw) {  // interior steps of pix columns from iw; returns the next column
    constexpr int kP = decltype(pix)::value;
    constexpr int kLoads = kSw == 1 ? kP + 2 : kP / 2 + 1;
    for (;; iw += kP) {
      const int64_t qb = kSw == 1 ? iw - 1 : iw / 2;
      if (iw + kP > d.w || qb + kLoads > d.q) break;
      for (int64_t c0 = 0; c0 < full; c0 += T::kLanes) backward_data_step<T, kRows, kSw, kP, false>(d, dyrow, wrow, accumulate, dxrow, iw, c0, tail);
      if (C > full) backward_data_step<T, kRows, kSw, kP, true>(d, dyrow, wrow, accumulate, dxrow, iw, full, tail);
    }
    return iw;
  };
  int64_t iw = 0;
  if (kSw == 1 && d.w > 0) pixel(iw++);  // stride 1 steps start at column 1 (reading dy column 0)
  iw = steps(Count<kPix>(), iw);
  iw = steps(Count<kSw == 1 ? 1 : 2>(), iw);
  for (; iw < d.w; ++iw) pixel(iw);
}

// Input rows [row0, row1) (row = n * H + h), every channel.
template <class T, int kPix>
void backward_data_rows(const Depthwise3x3& d, const float* dy, const float* wt, float* dx,
                        bool accumulate, int64_t row0, int64_t row1) {
  const int64_t C = d.c;
  for (int64_t row = row0; row < row1; ++row) {
    const int64_t n = row / d.h, ih = row % d.h;
    float* dxrow = dx + row * d.w * C;
    // The kernel rows r that read input row ih from an output row p = (ih + 1 - r) / sh.
    const float* dyrow[3] = {dy, dy, dy};  // entries past `rows` are never read
    const float* wrow[3] = {wt, wt, wt};
    int rows = 0;
    for (int r = 0; r < 3; ++r) {
      const int64_t num = ih + 1 - r;
      if (num < 0 || num % d.sh != 0 || num / d.sh >= d.p) continue;
      dyrow[rows] = dy + (n * d.p + num / d.sh) * d.q * C;
      wrow[rows] = wt + r * 3 * C;
      ++rows;
    }
    if (rows == 0) {  // no output reads this row (kept for safety: every row has one with padding 1)
      if (!accumulate)
        for (int64_t i = 0; i < d.w * C; ++i) dxrow[i] = 0.0f;
      continue;
    }
    if (d.sw == 1) {
      if (rows == 3) backward_data_row<T, 3, 1, kPix>(d, dyrow, wrow, accumulate, dxrow);
      else if (rows == 2) backward_data_row<T, 2, 1, kPix>(d, dyrow, wrow, accumulate, dxrow);
      else backward_data_row<T, 1, 1, kPix>(d, dyrow, wrow, accumulate, dxrow);
    } else {
      if (rows == 3) backward_data_row<T, 3, 2, kPix>(d, dyrow, wrow, accumulate, dxrow);
      else if (rows == 2) backward_data_row<T, 2, 2, kPix>(d, dyrow, wrow, accumulate, dxrow);
      else backward_data_row<T, 1, 2, kPix>(d, dyrow, wrow, accumulate, dxrow);
    }
  }
}

}  // namespace
}  // namespace bot
