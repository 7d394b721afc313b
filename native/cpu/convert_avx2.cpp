// F16C conversion kernels, 8 lanes per instruction. Compiled with -mf16c; called only
// when use_f16c() is true. Rounding: _MM_FROUND_TO_NEAREST_INT (round to nearest even),
// the same as the portable path, so both give bit-identical results.
#include <immintrin.h>

#include <cstdint>

namespace bot {

void f32_to_f16_f16c(int64_t n, const float* x, uint16_t* y) {
  for (int64_t i = 0; i + 8 <= n; i += 8) {
    __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), h);
  }
}

void f16_to_f32_f16c(int64_t n, const uint16_t* x, float* y) {
  for (int64_t i = 0; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i));
    _mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
  }
}

void f32_round_to_f16_f16c(int64_t n, float* x) {
  for (int64_t i = 0; i + 8 <= n; i += 8) {
    __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_ps(x + i, _mm256_cvtph_ps(h));
  }
}

}  // namespace bot
