// Depthwise 3x3 convolution, backward-filter (see conv2d_depthwise.h): dw = d(loss)/dw
// given dy, overwritten.
//
//   x (N, H, W, C)   dy (N, P, Q, C)   dw (C, 3, 3, 1)
//   dw[c,r,s] = sum over every output (n, p, q) of dy[n,p,q,c] * x[n, p*sh - 1 + r, q*sw - 1 + s, c]
//
// Output rows are cut into one chunk per thread; each chunk sums into its own tap-major
// partial (9, C), then the partials are added in chunk order and transposed to KRSC. The
// chunks, not the threads, own the partials, so a result depends only on the chunk count
// (the pool's size), not on which thread ran what. Each row runs the AVX-512 or AVX2
// kernel (conv2d_depthwise_backward_filter_simd.h) or, without either, the plain loops
// below, which are also what the SIMD kernels are tested against besides the float64
// oracle of conv2d_reference.cpp.
#include <algorithm>
#include <vector>

#include "bot/cpu_features.h"
#include "bot/threadpool.h"
#include "cpu/conv2d_depthwise.h"

namespace bot {

namespace {

// At least 64K multiply-adds (~10 us) per chunk of rows: fewer chunks than threads for a
// small problem, so the reduction does not cost more than the sums.
constexpr int64_t kGrainMacs = 1 << 16;

// The plain loops: output rows [row0, row1) added into part (9, C), each row's sums
// formed first and then added, as the SIMD kernels do.
void backward_filter_rows_portable(const Depthwise3x3& d, const float* x, const float* dy,
                                   float* part, float* row_sums, int64_t row0, int64_t row1) {
  const int64_t C = d.c;
  for (int64_t row = row0; row < row1; ++row) {
    const int64_t n = row / d.p, p = row % d.p;
    std::fill(row_sums, row_sums + Depthwise3x3::kTaps * C, 0.0f);
    for (int64_t q = 0; q < d.q; ++q) {
      const float* __restrict g = dy + (row * d.q + q) * C;
      for (int64_t r = 0; r < 3; ++r) {
        const int64_t ih = p * d.sh - 1 + r;
        if (ih < 0 || ih >= d.h) continue;
        for (int64_t s = 0; s < 3; ++s) {
          const int64_t iw = q * d.sw - 1 + s;
          if (iw < 0 || iw >= d.w) continue;
          const float* __restrict xp = x + ((n * d.h + ih) * d.w + iw) * C;
          float* __restrict acc = row_sums + (r * 3 + s) * C;
          for (int64_t c = 0; c < C; ++c) acc[c] += g[c] * xp[c];
        }
      }
    }
    for (int64_t i = 0; i < Depthwise3x3::kTaps * C; ++i) part[i] += row_sums[i];
  }
}

using BackwardFilterRows = void (*)(const Depthwise3x3&, const float*, const float*, float*,
                                    float*, int64_t, int64_t);

BackwardFilterRows backward_filter_kernel() {
#if defined(BOT_HAVE_X86)
  if (use_avx512()) return depthwise3x3_backward_filter_rows_avx512;
  if (use_avx2_fma()) return depthwise3x3_backward_filter_rows_avx2;
#endif
  return backward_filter_rows_portable;
}

}  // namespace

void depthwise3x3_backward_filter(const Conv2dProblem& pr, const float* x, const float* dy,
                                  float* dw) {
  static const BackwardFilterRows kernel = backward_filter_kernel();
  const Depthwise3x3 d(pr);
  const int64_t rows = d.n * d.p;
  const int64_t per_row = std::max<int64_t>(1, d.q * d.c * Depthwise3x3::kTaps);
  const int64_t threads = ThreadPool::in_parallel_region() ? 1 : ThreadPool::global().size();
  const int64_t chunks = std::clamp<int64_t>(rows * per_row / kGrainMacs, 1, std::min(threads, rows));
  const int64_t tc = Depthwise3x3::kTaps * d.c;  // one partial
  // Grows and is never shrunk (the caller's thread), so a steady caller allocates nothing.
  // Per chunk: its partial and its row sums (9, C) each.
  thread_local std::vector<float> partials;
  if (int64_t(partials.size()) < 2 * chunks * tc) partials.resize(size_t(2 * chunks * tc));
  float* parts = partials.data();
  parallel_for(chunks, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      float* part = parts + i * tc;
      std::fill(part, part + tc, 0.0f);
      kernel(d, x, dy, part, parts + (chunks + i) * tc, rows * i / chunks, rows * (i + 1) / chunks);
    }
  });
  // dw[c, t] = sum over the chunks, in order, of part[t, c].
  for (int64_t c = 0; c < d.c; ++c)
    for (int64_t t = 0; t < Depthwise3x3::kTaps; ++t) {
      float sum = 0.0f;
      for (int64_t i = 0; i < chunks; ++i) sum += parts[i * tc + t * d.c + c];
      dw[c * Depthwise3x3::kTaps + t] = sum;
    }
}

}  // namespace bot
