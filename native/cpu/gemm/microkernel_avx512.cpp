// AVX-512F SGEMM micro-kernels: 6 x 16, C(6, 16) = Apanel(6, kc) * Bpanel(kc, 16) (+ beta C),
// and its wide twin, 12 x 32, over two panels of each operand.
//
// Same packed layouts and contract as the AVX2 kernel (gemm_internal.h): a[l*6 + i],
// b[l*16 + j], so one row of the B micro-panel is exactly one zmm. Per k-step: 1 load of B,
// 6 broadcasts of A, 6 FMAs into 6 accumulators, one FMA chain per C element in k order.
// The wide kernel below does most of the work; this one takes the tiles it cannot (the
// block edges), and computes each element exactly as the wide one does (the same chain),
// so a result never depends on which of the two a thread partition gave an element to.
// (Six chains cannot hide the FMA latency, 4 cycles x 2 pipes: at most 3/4 of the peak,
// about what its 7 loads per 6 FMAs allowed anyway.)
// Compiled with -mavx512f -mavx512vl -mfma (CMake, *_avx512.cpp); only called when
// bot::use_avx512() (CPU and OS support ZMM state, not disabled by environment).
#include <immintrin.h>

#include "cpu/gemm/gemm_internal.h"

namespace bot {
namespace gemm {

static_assert(kMR == 6 && kNR == 16, "this kernel is written for a 6 x 16 tile");

namespace {
constexpr int kUnrollK = 4;  // k-steps per loop trip
}  // namespace

void microkernel_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                        float beta) {
  // Bring the C tile towards L1 while the k loop runs (each 16-float row spans <= 2 lines).
  for (int i = 0; i < kMR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + kNR - 1), _MM_HINT_T0);
  }

  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c02 = _mm512_setzero_ps();
  __m512 c03 = _mm512_setzero_ps(), c04 = _mm512_setzero_ps(), c05 = _mm512_setzero_ps();

  // One k-step: B row L of this trip (loadu: a pre-packed B is only 32-byte aligned), A
  // elements of step L broadcast one by one.
#define BOT_GEMM_STEP(L)                                                  \
  do {                                                                    \
    const __m512 bv = _mm512_loadu_ps(b + (L) * kNR);                     \
    c00 = _mm512_fmadd_ps(_mm512_set1_ps(a[(L) * kMR + 0]), bv, c00);     \
    c01 = _mm512_fmadd_ps(_mm512_set1_ps(a[(L) * kMR + 1]), bv, c01);     \
    c02 = _mm512_fmadd_ps(_mm512_set1_ps(a[(L) * kMR + 2]), bv, c02);     \
    c03 = _mm512_fmadd_ps(_mm512_set1_ps(a[(L) * kMR + 3]), bv, c03);     \
    c04 = _mm512_fmadd_ps(_mm512_set1_ps(a[(L) * kMR + 4]), bv, c04);     \
    c05 = _mm512_fmadd_ps(_mm512_set1_ps(a[(L) * kMR + 5]), bv, c05);     \
  } while (0)

  int64_t trips = kc / kUnrollK;
  for (; trips > 0; --trips) {
    // A streams from L2: fetch 384 bytes (4 trips) ahead; 2 lines cover a trip's 96 bytes.
    _mm_prefetch(reinterpret_cast<const char*>(a) + 384, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(a) + 448, _MM_HINT_T0);
    BOT_GEMM_STEP(0);
    BOT_GEMM_STEP(1);
    BOT_GEMM_STEP(2);
    BOT_GEMM_STEP(3);
    a += kUnrollK * kMR;
    b += kUnrollK * kNR;
  }
  for (int64_t left = kc % kUnrollK; left > 0; --left) {
    BOT_GEMM_STEP(0);
    a += kMR;
    b += kNR;
  }
#undef BOT_GEMM_STEP

  __m512 acc[kMR] = {c00, c01, c02, c03, c04, c05};

  // Write back: beta == 0 stores without reading C (NaNs there are not propagated).
  const __m512 vb = _mm512_set1_ps(beta);
  for (int i = 0; i < kMR; ++i) {
    float* row = c + i * ldc;
    __m512 v = acc[i];
    if (beta == 1.0f) {
      v = _mm512_add_ps(_mm512_loadu_ps(row), v);
    } else if (beta != 0.0f) {
      v = _mm512_fmadd_ps(vb, _mm512_loadu_ps(row), v);
    }
    _mm512_storeu_ps(row, v);
  }
}

// The wide kernel, 12 x 32: C(12, 32) = [A panel; the next A panel] (12, kc) *
// [B panel, the next B panel] (kc, 32), two micro-panels of each operand at once (the packed
// layouts are unchanged: panel p + 1 starts kc * kMR or kc * kNR floats after panel p).
// Per k-step: 2 loads of B, 12 broadcasts of A, 24 FMAs: 14 loads for 24 FMAs where the
// 6 x 16 kernel needs 7 for 6, which caps it at about two thirds of the FMA peak. Its 24
// accumulators are independent chains enough to hide the FMA latency without a second set;
// with the 2 rows of B and a broadcast register that is 27 of the 32 zmm.
void microkernel_avx512_wide(int64_t kc, const float* a0, const float* a1, const float* b0, const float* b1,
                             float* c, int64_t ldc, float beta) {
  for (int i = 0; i < 2 * kMR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 2 * kNR - 1), _MM_HINT_T0);
  }
  __m512 acc[2 * kMR][2];
  for (int i = 0; i < 2 * kMR; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t l = 0; l < kc; ++l) {
    // A streams from L2: each panel's row of 6 floats per step, 4 steps = 96 bytes ahead.
    _mm_prefetch(reinterpret_cast<const char*>(a0 + 4 * kMR), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(a1 + 4 * kMR), _MM_HINT_T0);
    const __m512 bv0 = _mm512_loadu_ps(b0);
    const __m512 bv1 = _mm512_loadu_ps(b1);
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) {
      const __m512 av = _mm512_set1_ps(a0[i]);
      acc[i][0] = _mm512_fmadd_ps(av, bv0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(av, bv1, acc[i][1]);
    }
#pragma GCC unroll 6
    for (int i = 0; i < kMR; ++i) {
      const __m512 av = _mm512_set1_ps(a1[i]);
      acc[kMR + i][0] = _mm512_fmadd_ps(av, bv0, acc[kMR + i][0]);
      acc[kMR + i][1] = _mm512_fmadd_ps(av, bv1, acc[kMR + i][1]);
    }
    a0 += kMR;
    a1 += kMR;
    b0 += kNR;
    b1 += kNR;
  }
  // Write back: beta == 0 stores without reading C (NaNs there are not propagated).
  const __m512 vb = _mm512_set1_ps(beta);
  for (int i = 0; i < 2 * kMR; ++i) {
    float* row = c + i * ldc;
    for (int h = 0; h < 2; ++h) {
      __m512 v = acc[i][h];
      if (beta == 1.0f) {
        v = _mm512_add_ps(_mm512_loadu_ps(row + h * kNR), v);
      } else if (beta != 0.0f) {
        v = _mm512_fmadd_ps(vb, _mm512_loadu_ps(row + h * kNR), v);
      }
      _mm512_storeu_ps(row + h * kNR, v);
    }
  }
}

}  // namespace gemm
}  // namespace bot
