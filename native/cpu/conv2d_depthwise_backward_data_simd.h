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
// stride 2, by the parity of h) and their weights stay in registers. Along the row, an
// input column w takes the taps s with (w + 1 - s) a multiple of sw. In the interior kPix
// columns are done together, each dy pixel loaded once for all the columns it reaches:
//   stride 1: columns w0 .. w0+kPix-1 read dy columns w0-1 .. w0+kPix, tap s = k + 2 - j
//   stride 2: columns w0 (even) .. w0+kPix-1 read dy columns w0/2 .. w0/2 + kPix/2,
//             tap s = k + 1 - 2j (even columns take tap 1, odd ones taps 0 and 2)
// for column k and dy column j of the step. The edge columns go through `pixel`, which
// checks every tap; both paths add the taps in the same order (r, then s descending).
#pragma once
#include "cpu/conv2d_depthwise.h"
#include "cpu/conv2d_depthwise_simd.h"

namespace bot {
namespace {

// One dx row, channels [c0, c0 + kLanes): dyrow[i] is the dy row of the i-th kernel row
// that reaches it at channel c0, wrow[i] that kernel row's taps (3 rows of C in wt) at c0.
template <class T, int kRows, int kSw, int kPix, bool kMasked>
void backward_data_block(const Depthwise3x3& d, const float* const* dyrow,
                         const float* const* wrow, bool accumulate, float* dxrow,
                         typename T::Mask m) {
  static_assert(kSw == 1 || kPix % 2 == 0, "stride 2 works on pairs of columns (even, odd)");
  using V = typename T::V;
  const int64_t C = d.c, W = d.w, Q = d.q;
  V w[kRows][3];
#pragma GCC unroll 3
  for (int i = 0; i < kRows; ++i)
#pragma GCC unroll 3
    for (int s = 0; s < 3; ++s) w[i][s] = load_block<T, kMasked>(wrow[i] + s * C, m);

  auto start = [&](int64_t iw) { return accumulate ? load_block<T, kMasked>(dxrow + iw * C, m) : T::zero(); };
  // One input column, every tap checked: output column q = (iw + 1 - s) / sw must exist.
  auto pixel = [&](int64_t iw) {
    V acc = start(iw);
#pragma GCC unroll 3
    for (int i = 0; i < kRows; ++i)
#pragma GCC unroll 3
      for (int s = 2; s >= 0; --s) {
        const int64_t num = iw + 1 - s;
        if (num < 0 || num % kSw != 0 || num / kSw >= Q) continue;
        acc = T::fma(load_block<T, kMasked>(dyrow[i] + num / kSw * C, m), w[i][s], acc);
      }
    store_block<T, kMasked>(dxrow + iw * C, acc, m);
  };

  // The interior: dy columns qb .. qb + kLoads - 1 for input columns iw .. iw + kPix - 1.
  constexpr int kLoads = kSw == 1 ? kPix + 2 : kPix / 2 + 1;
  int64_t iw = 0;
  if (kSw == 1 && W > 0) pixel(iw++);  // stride 1 starts at column 1 (it reads dy column 0)
  for (;; iw += kPix) {
    const int64_t qb = kSw == 1 ? iw - 1 : iw / 2;
    if (iw + kPix > W || qb + kLoads > Q) break;
    V acc[kPix];
#pragma GCC unroll 16
    for (int k = 0; k < kPix; ++k) acc[k] = start(iw + k);
#pragma GCC unroll 3
    for (int i = 0; i < kRows; ++i) {
      const float* gp = dyrow[i] + qb * C;
#pragma GCC unroll 32
      for (int j = 0; j < kLoads; ++j) {  // dy columns ascending: each column's taps s descending, as in `pixel`
        const V gv = load_block<T, kMasked>(gp + j * C, m);
#pragma GCC unroll 16
        for (int k = 0; k < kPix; ++k) {
          const int s = kSw == 1 ? k + 2 - j : k + 1 - 2 * j;  // the tap joining column k and dy column j
          if (s >= 0 && s < 3) acc[k] = T::fma(gv, w[i][s], acc[k]);
        }
      }
    }
#pragma GCC unroll 16
    for (int k = 0; k < kPix; ++k) store_block<T, kMasked>(dxrow + (iw + k) * C, acc[k], m);
  }
  for (; iw < W; ++iw) pixel(iw);
}

template <class T, int kPix, bool kMasked>
void backward_data_block_dispatch(const Depthwise3x3& d, int rows, const float* const* dyrow,
                                  const float* const* wrow, bool accumulate, float* dxrow,
                                  typename T::Mask m) {
  if (d.sw == 1) {
    if (rows == 3) backward_data_block<T, 3, 1, kPix, kMasked>(d, dyrow, wrow, accumulate, dxrow, m);
    else if (rows == 2) backward_data_block<T, 2, 1, kPix, kMasked>(d, dyrow, wrow, accumulate, dxrow, m);
    else backward_data_block<T, 1, 1, kPix, kMasked>(d, dyrow, wrow, accumulate, dxrow, m);
  } else {
    if (rows == 3) backward_data_block<T, 3, 2, kPix, kMasked>(d, dyrow, wrow, accumulate, dxrow, m);
    else if (rows == 2) backward_data_block<T, 2, 2, kPix, kMasked>(d, dyrow, wrow, accumulate, dxrow, m);
    else backward_data_block<T, 1, 2, kPix, kMasked>(d, dyrow, wrow, accumulate, dxrow, m);
  }
}

// Input rows [row0, row1) (row = n * H + h), every channel.
template <class T, int kPix>
void backward_data_rows(const Depthwise3x3& d, const float* dy, const float* wt, float* dx,
                        bool accumulate, int64_t row0, int64_t row1) {
  const int64_t C = d.c;
  const int64_t full = C / T::kLanes * T::kLanes;  // channels in full blocks
  const typename T::Mask tail = T::first(C > full ? C - full : 1);
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
    if (rows == 0) {  // no output reads this row (only possible past the last stride-2 window)
      if (!accumulate)
        for (int64_t i = 0; i < d.w * C; ++i) dxrow[i] = 0.0f;
      continue;
    }
    for (int64_t c0 = 0; c0 < full; c0 += T::kLanes) {
      const float* gr[3] = {dyrow[0] + c0, dyrow[1] + c0, dyrow[2] + c0};
      const float* wr[3] = {wrow[0] + c0, wrow[1] + c0, wrow[2] + c0};
      backward_data_block_dispatch<T, kPix, false>(d, rows, gr, wr, accumulate, dxrow + c0, tail);
    }
    if (C > full) {
      const float* gr[3] = {dyrow[0] + full, dyrow[1] + full, dyrow[2] + full};
      const float* wr[3] = {wrow[0] + full, wrow[1] + full, wrow[2] + full};
      backward_data_block_dispatch<T, kPix, true>(d, rows, gr, wr, accumulate, dxrow + full, tail);
    }
  }
}

}  // namespace
}  // namespace bot
