// AVX2/FMA kernel of the fused colour pass (see bot/ops/augment.h): y = M p + t on interleaved
// RGB, 8 outputs per instruction. Compiled with -mavx2 -mfma -mf16c; called only when
// use_avx2_fma() (and use_f16c() for f16 output) is true.
//
// Output element i has channel c = i % 3 and is sum_k M[c][k] * x[i - c + k] + t[c]. Written
// as a sum over the shift d = k - c in -2..2:  y[i] = t[c] + sum_d K_d[c] * x[i + d], with
// K_d[c] = M[c][c + d] when 0 <= c + d <= 2, else 0 (that neighbour belongs to another pixel).
// So each vector of 8 outputs is 5 multiply-adds of 8 bytes loaded at shifts -2..2, with no
// shuffles. The lane-to-channel pattern repeats every 24 elements (lcm of 3 channels and 8
// lanes): a block of 8 pixels is 3 vectors, each with its own 5 coefficient vectors and offset.
#include <immintrin.h>

#include <cstdint>

namespace bot {

namespace {

inline __m256 load8_u8(const uint8_t* p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

}  // namespace

void augment_blocks_avx2(const uint8_t* x, int64_t blocks, const float m[9], const float t[3],
                         float* y32, uint16_t* y16) {
  // coef[v][d + 2] and off[v]: vector v (0..2) of a block, shift d.
  alignas(32) float coef[3][5][8];
  alignas(32) float off[3][8];
  for (int v = 0; v < 3; ++v)
    for (int lane = 0; lane < 8; ++lane) {
      const int c = (8 * v + lane) % 3;
      off[v][lane] = t[c];
      for (int d = -2; d <= 2; ++d) {
        const int k = c + d;
        coef[v][d + 2][lane] = (k >= 0 && k <= 2) ? m[c * 3 + k] : 0.0f;
      }
    }
  __m256 kc[3][5], ko[3];
  for (int v = 0; v < 3; ++v) {
    ko[v] = _mm256_load_ps(off[v]);
    for (int d = 0; d < 5; ++d) kc[v][d] = _mm256_load_ps(coef[v][d]);
  }
  for (int64_t b = 0; b < blocks; ++b) {
    const uint8_t* xb = x + 24 * b;
    for (int v = 0; v < 3; ++v) {
      const uint8_t* xv = xb + 8 * v;
      // Shifts in the order k = 0, 1, 2 of each lane's own pixel, as the scalar path adds them;
      // the zero coefficients add exact zeros.
      __m256 acc = ko[v];
      acc = _mm256_fmadd_ps(kc[v][0], load8_u8(xv - 2), acc);
      acc = _mm256_fmadd_ps(kc[v][1], load8_u8(xv - 1), acc);
      acc = _mm256_fmadd_ps(kc[v][2], load8_u8(xv), acc);
      acc = _mm256_fmadd_ps(kc[v][3], load8_u8(xv + 1), acc);
      acc = _mm256_fmadd_ps(kc[v][4], load8_u8(xv + 2), acc);
      const int64_t o = 24 * b + 8 * v;
      if (y32) {
        _mm256_storeu_ps(y32 + o, acc);
      } else {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y16 + o),
                         _mm256_cvtps_ph(acc, _MM_FROUND_TO_NEAREST_INT));
      }
    }
  }
}

}  // namespace bot
