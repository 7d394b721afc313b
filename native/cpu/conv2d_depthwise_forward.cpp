// Depthwise 3x3 convolution, forward (see conv2d_depthwise.h): y = conv(x, w) (+ bias,
// then ReLU for a convolution with a batch norm folded into it).
//
//   x (N, H, W, C)   w (C, 3, 3, 1)   bias (C) or null   y (N, P, Q, C)
//   y[n,p,q,c] = sum_{r,s} x[n, p*sh - 1 + r, q*sw - 1 + s, c] * w[c, r, s]
//
// The weights are first laid out tap-major, wt (9, C), so the 9 taps of consecutive
// channels are contiguous. Output rows are split over the thread pool; each row runs the
// AVX-512 or AVX2 kernel (conv2d_depthwise_forward_simd.h) or, without either, the plain
// loops below, which are also what the SIMD kernels are tested against besides the
// float64 oracle of conv2d_reference.cpp.
#include <algorithm>

#include "bot/cpu_features.h"
#include "bot/threadpool.h"
#include "cpu/conv2d_depthwise.h"

namespace bot {

namespace {

// At least 64K multiply-adds (~10 us) per chunk of rows handed to a thread, above the
// pool's wake-up cost.
constexpr int64_t kGrainMacs = 1 << 16;

// The plain loops: output rows [row0, row1), each pixel's channels accumulated tap by tap
// in (r, s) order, as the SIMD kernels do.
void forward_rows_portable(const Depthwise3x3& d, const float* x, const float* wt,
                           const float* bias, bool relu, float* y, int64_t row0, int64_t row1) {
  const int64_t C = d.c;
  for (int64_t row = row0; row < row1; ++row) {
    const int64_t n = row / d.p, p = row % d.p;
    for (int64_t q = 0; q < d.q; ++q) {
      float* __restrict acc = y + (row * d.q + q) * C;  // (C)
      for (int64_t c = 0; c < C; ++c) acc[c] = bias != nullptr ? bias[c] : 0.0f;
      for (int64_t r = 0; r < 3; ++r) {
        const int64_t ih = p * d.sh - 1 + r;
        if (ih < 0 || ih >= d.h) continue;
        for (int64_t s = 0; s < 3; ++s) {
          const int64_t iw = q * d.sw - 1 + s;
          if (iw < 0 || iw >= d.w) continue;
          const float* __restrict xp = x + ((n * d.h + ih) * d.w + iw) * C;
          const float* __restrict wp = wt + (r * 3 + s) * C;
          for (int64_t c = 0; c < C; ++c) acc[c] += xp[c] * wp[c];
        }
      }
      if (relu)
        for (int64_t c = 0; c < C; ++c) acc[c] = acc[c] > 0.0f ? acc[c] : 0.0f;
    }
  }
}

using ForwardRows = void (*)(const Depthwise3x3&, const float*, const float*, const float*, bool,
                             float*, int64_t, int64_t);

ForwardRows forward_kernel() {
#if defined(BOT_HAVE_X86)
  if (use_avx512()) return depthwise3x3_forward_rows_avx512;
  if (use_avx2_fma()) return depthwise3x3_forward_rows_avx2;
#endif
  return forward_rows_portable;
}

}  // namespace

void depthwise3x3_forward(const Conv2dProblem& pr, const float* x, const float* w,
                          const float* bias, bool relu, float* y) {
  static const ForwardRows kernel = forward_kernel();
  const Depthwise3x3 d(pr);
  const float* wt = depthwise3x3_taps(d, w);
  const int64_t grain = std::max<int64_t>(1, kGrainMacs / std::max<int64_t>(1, d.q * d.c * Depthwise3x3::kTaps));
  parallel_for(d.n * d.p, [&](int64_t b, int64_t e, int) { kernel(d, x, wt, bias, relu, y, b, e); }, grain);
}

}  // namespace bot
