// Depthwise 3x3 convolution, backward-data (see conv2d_depthwise.h): dx = d(loss)/dx given
// dy, overwritten or (accumulate) added to what dx holds.
//
//   dy (N, P, Q, C)   w (C, 3, 3, 1)   dx (N, H, W, C)
//   dx[n,h,w,c] = sum over (r, s) with p = (h + 1 - r) / sh and q = (w + 1 - s) / sw whole
//                 and inside the output of dy[n,p,q,c] * w[c,r,s]
//
// A gather per input pixel: input rows are split over the thread pool and each thread
// writes only its own rows, so nothing races and no partial buffers are needed. Each row
// runs the AVX-512 or AVX2 kernel (conv2d_depthwise_backward_data_simd.h) or, without
// either, the plain loops below, which are also what the SIMD kernels are tested against
// besides the float64 oracle of conv2d_reference.cpp.
#include <algorithm>

#include "bot/cpu_features.h"
#include "bot/threadpool.h"
#include "cpu/conv2d_depthwise.h"

namespace bot {

namespace {

// At least 64K multiply-adds (~10 us) per chunk of rows handed to a thread.
constexpr int64_t kGrainMacs = 1 << 16;

// The plain loops: input rows [row0, row1), each pixel's taps in (r, s descending) order,
// as the SIMD kernels add them.
void backward_data_rows_portable(const Depthwise3x3& d, const float* dy, const float* wt,
                                 float* dx, bool accumulate, int64_t row0, int64_t row1) {
  const int64_t C = d.c;
  for (int64_t row = row0; row < row1; ++row) {
    const int64_t n = row / d.h, ih = row % d.h;
    for (int64_t iw = 0; iw < d.w; ++iw) {
      float* __restrict acc = dx + (row * d.w + iw) * C;  // (C)
      if (!accumulate) std::fill(acc, acc + C, 0.0f);
      for (int64_t r = 0; r < 3; ++r) {
        const int64_t pn = ih + 1 - r;
        if (pn < 0 || pn % d.sh != 0 || pn / d.sh >= d.p) continue;
        for (int64_t s = 2; s >= 0; --s) {
          const int64_t qn = iw + 1 - s;
          if (qn < 0 || qn % d.sw != 0 || qn / d.sw >= d.q) continue;
          const float* __restrict g = dy + ((n * d.p + pn / d.sh) * d.q + qn / d.sw) * C;
          const float* __restrict wp = wt + (r * 3 + s) * C;
          for (int64_t c = 0; c < C; ++c) acc[c] += g[c] * wp[c];
        }
      }
    }
  }
}

using BackwardDataRows = void (*)(const Depthwise3x3&, const float*, const float*, float*, bool,
                                  int64_t, int64_t);

BackwardDataRows backward_data_kernel() {
#if defined(BOT_HAVE_X86)
  if (use_avx512()) return depthwise3x3_backward_data_rows_avx512;
  if (use_avx2_fma()) return depthwise3x3_backward_data_rows_avx2;
#endif
  return backward_data_rows_portable;
}

}  // namespace

void depthwise3x3_backward_data(const Conv2dProblem& pr, const float* dy, const float* w,
                                float* dx, bool accumulate) {
  static const BackwardDataRows kernel = backward_data_kernel();
  const Depthwise3x3 d(pr);
  const float* wt = depthwise3x3_taps(d, w);
  // An input row takes 9 / (sh * sw) multiply-adds per element on average.
  const int64_t per_row = std::max<int64_t>(1, d.w * d.c * Depthwise3x3::kTaps / (d.sh * d.sw));
  const int64_t grain = std::max<int64_t>(1, kGrainMacs / per_row);
  parallel_for(d.n * d.h, [&](int64_t b, int64_t e, int) { kernel(d, dy, wt, dx, accumulate, b, e); }, grain);
}

}  // namespace bot
