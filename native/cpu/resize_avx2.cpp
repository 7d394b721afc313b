// AVX2/FMA kernel of crop_resize's vertical pass (see bot/ops/resize.h): one row of floats
// as the weighted sum of `taps` source rows, 8 elements per instruction, the sum kept in a
// register across the taps and stored once. Compiled with -mavx2 -mfma; called only when
// use_avx2_fma() is true.
#include <immintrin.h>

#include <cstdint>

namespace bot {

// row[e] = sum_k w[k] * in[k * stride + e] for e in [0, width).
void resize_rows_avx2(const uint8_t* in, int64_t stride, const float* w, int taps, int64_t width,
                      float* row) {
  int64_t e = 0;
  for (; e + 8 <= width; e += 8) {
    __m256 acc = _mm256_setzero_ps();
    const uint8_t* p = in + e;
    for (int k = 0; k < taps; ++k, p += stride) {
      const __m256 x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
      acc = _mm256_fmadd_ps(_mm256_set1_ps(w[k]), x, acc);
    }
    _mm256_storeu_ps(row + e, acc);
  }
  for (; e < width; ++e) {
    float a = 0;
    for (int k = 0; k < taps; ++k) a += w[k] * float(in[k * stride + e]);
    row[e] = a;
  }
}

}  // namespace bot
