// The depthwise 3x3 forward pass over a vector type T (conv2d_depthwise_simd.h), included
// by conv2d_depthwise_forward_avx2.cpp and _avx512.cpp; the plain loops it must agree with
// are in conv2d_depthwise_forward.cpp.
//
//   x (N, H, W, C)   wt (9, C) tap-major   bias (C) or null   y (N, P, Q, C)
//
// One output row (n, p) at a time, walked pixel after pixel: pixel 0 (its left tap is in
// the padding), then the interior in steps of kPix outputs, then in steps of 1, then the
// right edge; each step runs over every block of T::kLanes channels before the next, so
// the three input rows are read in order. A step of kPix outputs reads (kPix - 1) * sw + 3
// input pixels per kernel row, each loaded once and multiplied into every output it
// reaches (stride 1: 6 loads for 12 multiply-adds at kPix 4), with the block's 3 weights
// of that kernel row in registers, and prefetches the pixels two steps ahead. A pixel adds
// its taps in the same order (kernel row, then column) on every path, so a result does not
// depend on which path computed it.
//
// Measured on a 2-core Zen 3 VM (benchmarks/conv.js --net mobilenetv1 --only dw): beyond
// the caches the pass is bound by memory bandwidth, as PyTorch's oneDNN kernel is; the
// order above (rather than one channel block along the whole row) and the prefetch keep
// the loads streaming when a pixel spans many cache lines.
#pragma once
#include "cpu/conv2d_depthwise.h"
#include "cpu/conv2d_depthwise_simd.h"

namespace bot {
namespace {

// One output pixel q of a row, channels [c0, c0 + kLanes), taps kS0..kS1 of each kernel
// row (an edge pixel: the others fall into the padding). xrow[i] is the input row of the
// i-th valid kernel row, wrow[i] that kernel row's taps (3 rows of C in wt).
template <class T, int kRows, int kSw, int kS0, int kS1, bool kMasked>
inline void forward_edge(const Depthwise3x3& d, const float* const* xrow, const float* const* wrow,
                         const float* bias, bool relu, float* yrow, int64_t q, int64_t c0,
                         typename T::Mask m) {
  using V = typename T::V;
  const int64_t C = d.c;
  V acc = bias != nullptr ? load_block<T, kMasked>(bias + c0, m) : T::zero();
  const int64_t iw0 = q * kSw - 1;
#pragma GCC unroll 3
  for (int i = 0; i < kRows; ++i)
#pragma GCC unroll 3
    for (int s = kS0; s <= kS1; ++s)
      acc = T::fma(load_block<T, kMasked>(xrow[i] + (iw0 + s) * C + c0, m), load_block<T, kMasked>(wrow[i] + s * C + c0, m), acc);
  store_block<T, kMasked>(yrow + q * C + c0, relu ? T::relu(acc) : acc, m);
}

// An edge pixel over every channel block, its tap range made a template argument.
template <class T, int kRows, int kSw>
void forward_edge_blocks(const Depthwise3x3& d, const float* const* xrow, const float* const* wrow,
                         const float* bias, bool relu, float* yrow, int64_t q) {
  const int64_t C = d.c, full = C / T::kLanes * T::kLanes;
  const typename T::Mask tail = T::first(C > full ? C - full : 1);
  const TapRange t = taps_inside(q * kSw - 1, d.w);
  auto run = [&](auto s0, auto s1) {
    constexpr int kS0 = decltype(s0)::value, kS1 = decltype(s1)::value;
    for (int64_t c0 = 0; c0 < full; c0 += T::kLanes) forward_edge<T, kRows, kSw, kS0, kS1, false>(d, xrow, wrow, bias, relu, yrow, q, c0, tail);
    if (C > full) forward_edge<T, kRows, kSw, kS0, kS1, true>(d, xrow, wrow, bias, relu, yrow, q, full, tail);
  };
  // Column ranges of a 3-tap window with padding 1: a left edge loses tap 0, a right edge
  // tap 2 (stride 1) or nothing more than tap 2; a 1-pixel row keeps only tap 1.
  if (t.s0 == 1 && t.s1 == 2) run(Count<1>(), Count<2>());
  else if (t.s0 == 1 && t.s1 == 1) run(Count<1>(), Count<1>());
  else if (t.s0 == 0 && t.s1 == 1) run(Count<0>(), Count<1>());
  else if (t.s0 == 0 && t.s1 == 0) run(Count<0>(), Count<0>());
  else run(Count<0>(), Count<2>());
}

// kPix output pixels q .. q + kPix - 1 whose taps are all inside the row, channels
// [c0, c0 + kLanes): (kPix - 1) * sw + 3 input pixels per kernel row, each loaded once and
// multiplied into every output it reaches (tap s of output k reads input j = k * sw + s).
template <class T, int kRows, int kSw, int kPix, bool kMasked>
inline void forward_step(const Depthwise3x3& d, const float* const* xrow, const float* const* wrow,
                         const float* bias, bool relu, float* yrow, int64_t q, int64_t c0,
                         typename T::Mask m) {
  using V = typename T::V;
  constexpr int kLoads = (kPix - 1) * kSw + 3;
  const int64_t C = d.c;
  const V b = bias != nullptr ? load_block<T, kMasked>(bias + c0, m) : T::zero();
  V acc[kPix];
#pragma GCC unroll 16
  for (int k = 0; k < kPix; ++k) acc[k] = b;
#pragma GCC unroll 3
  for (int i = 0; i < kRows; ++i) {
    V w[3];
#pragma GCC unroll 3
    for (int s = 0; s < 3; ++s) w[s] = load_block<T, kMasked>(wrow[i] + s * C + c0, m);
    const float* xp = xrow[i] + (q * kSw - 1) * C + c0;
    // The pixels two steps ahead, into L1 (DRAM latency is about two steps' work): the
    // row is read as kLoads interleaved streams, which the hardware prefetchers follow
    // badly once a pixel spans many cache lines.
    const float* ahead = xp + (kLoads + kPix * kSw) * C;
#pragma GCC unroll 16
    for (int j = 0; j < kPix * kSw; ++j, ahead = step(ahead, C)) _mm_prefetch(reinterpret_cast<const char*>(ahead), _MM_HINT_T0);
#pragma GCC unroll 32
    for (int j = 0; j < kLoads; ++j, xp = step(xp, C)) {
      const V xv = load_block<T, kMasked>(xp, m);
#pragma GCC unroll 16
      for (int k = 0; k < kPix; ++k) {
        const int s = j - k * kSw;  // the tap of output k that reads input j
        if (s >= 0 && s < 3) acc[k] = T::fma(xv, w[s], acc[k]);
      }
    }
  }
  float* yp = yrow + q * C + c0;
#pragma GCC unroll 16
  for (int k = 0; k < kPix; ++k, yp = step(yp, C)) store_block<T, kMasked>(yp, relu ? T::relu(acc[k]) : acc[k], m);
}

// One output row: pixel 0 (its left tap is in the padding), the interior in steps of kPix
// and then of 1, the last pixels (taps in the right padding) one by one; each
// over every channel block before the next, so the row's memory is walked in order.
template <class T, int kRows, int kSw, int kPix>
void forward_row(const Depthwise3x3& d, const float* const* xrow, const float* const* wrow,
                 const float* bias, bool relu, float* yrow) {
  const int64_t C = d.c, full = C / T::kLanes * T::kLanes;
  const typename T::Mask tail = T::first(C > full ? C - full : 1);
  auto pixel = [&](int64_t q) { forward_edge_blocks<T, kRows, kSw>(d, xrow, wrow, bias, relu, yrow, q); };
  auto steps = [&](auto pix, int64_t q) {  // interior steps of pix outputs from q; returns the next q
    constexpr int kP = decltype(pix)::value;
    constexpr int kLoads = (kP - 1) * kSw + 3;  // input pixels read by one step
    for (; q + kP <= d.q && q * kSw - 1 + kLoads <= d.w; q += kP) {
      for (int64_t c0 = 0; c0 < full; c0 += T::kLanes) forward_step<T, kRows, kSw, kP, false>(d, xrow, wrow, bias, relu, yrow, q, c0, tail);
      if (C > full) forward_step<T, kRows, kSw, kP, true>(d, xrow, wrow, bias, relu, yrow, q, full, tail);
    }
    return q;
  };
  int64_t q = 0;
  if (d.q > 0) pixel(q++);
  q = steps(Count<kPix>(), q);
  q = steps(Count<1>(), q);
  for (; q < d.q; ++q) pixel(q);
}

// Output rows [row0, row1) (row = n * P + p), every channel.
template <class T, int kPix>
void forward_rows(const Depthwise3x3& d, const float* x, const float* wt, const float* bias,
                  bool relu, float* y, int64_t row0, int64_t row1) {
  const int64_t C = d.c;
  for (int64_t row = row0; row < row1; ++row) {
    const int64_t n = row / d.p, p = row % d.p;
    // The kernel rows whose input row is inside the image (at least the middle one).
    const float* xrow[3] = {x, x, x};  // entries past `rows` are never read
    const float* wrow[3] = {wt, wt, wt};
    int rows = 0;
    for (int r = 0; r < 3; ++r) {
      const int64_t ih = p * d.sh - 1 + r;
      if (ih < 0 || ih >= d.h) continue;
      xrow[rows] = x + (n * d.h + ih) * d.w * C;
      wrow[rows] = wt + r * 3 * C;
      ++rows;
    }
    float* yrow = y + row * d.q * C;
    if (d.sw == 1) {
      if (rows == 3) forward_row<T, 3, 1, kPix>(d, xrow, wrow, bias, relu, yrow);
      else if (rows == 2) forward_row<T, 2, 1, kPix>(d, xrow, wrow, bias, relu, yrow);
      else forward_row<T, 1, 1, kPix>(d, xrow, wrow, bias, relu, yrow);
    } else {
      if (rows == 3) forward_row<T, 3, 2, kPix>(d, xrow, wrow, bias, relu, yrow);
      else if (rows == 2) forward_row<T, 2, 2, kPix>(d, xrow, wrow, bias, relu, yrow);
      else forward_row<T, 1, 2, kPix>(d, xrow, wrow, bias, relu, yrow);
    }
  }
}

}  // namespace
}  // namespace bot
