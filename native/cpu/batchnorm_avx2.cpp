// AVX2/FMA kernels of the batch-norm backward pass, 8 channels per instruction. Compiled
// with -mavx2 -mfma; called from batchnorm.cpp only when use_avx2_fma() is true. Each
// works on a range of rows of x, dy (M, C) and computes what the portable loops beside
// the callers compute (batchnorm.cpp); only FMA contraction rounds differently.
//
//   g = dy * [relu_y > 0]   (relu_y null: g = dy)
//   sums:  a1[j] += sum_r g,  a2[j] += sum_r g * (x - mean[j])
//   dx:    dx = ca * g + cb * (x - mean) + cd
//
// No standard-library templates here: an inline function instantiated in a file built
// with -mavx2 may be the copy the linker keeps for the whole program.
#include <immintrin.h>

#include <cstdint>

namespace bot {

namespace {
constexpr int64_t kChannelChunk = 1024;  // float accumulators for 1024 channels (8 KiB
                                         // for both sums) stay in L1 across the rows
}  // namespace

// kRunRows: rows summed in float before the run's sums are added to the double partials
// (the float error of a 16-term sum is a few ulps; a whole block in float would not be).
void batchnorm_backward_sums_avx2(int64_t r0, int64_t r1, int64_t c, int64_t run_rows,
                                  const float* x, const float* dy, const float* relu_y,
                                  const float* mean, double* a1, double* a2) {
  alignas(32) float s1[kChannelChunk], s2[kChannelChunk];
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t cb = 0; cb < c; cb += kChannelChunk) {
    const int64_t cw = c - cb < kChannelChunk ? c - cb : kChannelChunk;
    const int64_t cv = cw / 8 * 8;  // channels done 8 at a time
    for (int64_t rs = r0; rs < r1; rs += run_rows) {
      const int64_t re = rs + run_rows < r1 ? rs + run_rows : r1;
      for (int64_t j = 0; j < cw; ++j) s1[j] = s2[j] = 0.0f;
      for (int64_t r = rs; r < re; ++r) {
        const int64_t o = r * c + cb;
        const float* xr = x + o;
        const float* gr = dy + o;
        const float* yr = relu_y != nullptr ? relu_y + o : nullptr;
        const float* mr = mean + cb;
        int64_t j = 0;
        for (; j < cv; j += 8) {
          __m256 g = _mm256_loadu_ps(gr + j);
          if (yr != nullptr) g = _mm256_and_ps(g, _mm256_cmp_ps(_mm256_loadu_ps(yr + j), zero, _CMP_GT_OQ));
          const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(xr + j), _mm256_loadu_ps(mr + j));
          _mm256_store_ps(s1 + j, _mm256_add_ps(_mm256_load_ps(s1 + j), g));
          _mm256_store_ps(s2 + j, _mm256_fmadd_ps(g, d, _mm256_load_ps(s2 + j)));
        }
        for (; j < cw; ++j) {
          const float g = yr == nullptr || yr[j] > 0.0f ? gr[j] : 0.0f;
          s1[j] += g;
          s2[j] += g * (xr[j] - mr[j]);
        }
      }
      double* p1 = a1 + cb;
      double* p2 = a2 + cb;
      int64_t j = 0;
      for (; j + 4 <= cw; j += 4) {
        _mm256_storeu_pd(p1 + j, _mm256_add_pd(_mm256_loadu_pd(p1 + j), _mm256_cvtps_pd(_mm_load_ps(s1 + j))));
        _mm256_storeu_pd(p2 + j, _mm256_add_pd(_mm256_loadu_pd(p2 + j), _mm256_cvtps_pd(_mm_load_ps(s2 + j))));
      }
      for (; j < cw; ++j) {
        p1[j] += double(s1[j]);
        p2[j] += double(s2[j]);
      }
    }
  }
}

void batchnorm_backward_dx_avx2(int64_t r0, int64_t r1, int64_t c, const float* x,
                                const float* dy, const float* relu_y, const float* mean,
                                const float* ca, const float* cb, const float* cd, float* dx) {
  const __m256 zero = _mm256_setzero_ps();
  const int64_t cv = c / 8 * 8;
  for (int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * c;
    const float* gr = dy + r * c;
    const float* yr = relu_y != nullptr ? relu_y + r * c : nullptr;
    float* dr = dx + r * c;
    int64_t j = 0;
    for (; j < cv; j += 8) {
      __m256 g = _mm256_loadu_ps(gr + j);
      if (yr != nullptr) g = _mm256_and_ps(g, _mm256_cmp_ps(_mm256_loadu_ps(yr + j), zero, _CMP_GT_OQ));
      const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(xr + j), _mm256_loadu_ps(mean + j));
      const __m256 v = _mm256_fmadd_ps(_mm256_loadu_ps(cb + j), d, _mm256_loadu_ps(cd + j));
      _mm256_storeu_ps(dr + j, _mm256_fmadd_ps(_mm256_loadu_ps(ca + j), g, v));
    }
    for (; j < c; ++j) {
      const float g = yr == nullptr || yr[j] > 0.0f ? gr[j] : 0.0f;
      dr[j] = ca[j] * g + cb[j] * (xr[j] - mean[j]) + cd[j];
    }
  }
}

}  // namespace bot
