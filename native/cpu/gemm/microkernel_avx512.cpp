// AVX-512F SGEMM micro-kernel, 6 x 16: C(6, 16) = Apanel(6, kc) * Bpanel(kc, 16) (+ beta C).
//
// Same packed layouts and contract as the AVX2 kernel (gemm_internal.h): a[l*6 + i],
// b[l*16 + j], so one row of the B micro-panel is exactly one zmm. Per k-step: 1 load of B,
// 6 broadcasts of A, 6 FMAs. Six accumulators alone would stall: an FMA's latency (4
// cycles) x 2 FMA pipes needs 8 independent chains. So even and odd k-steps accumulate
// into two separate sets of 6 zmm (12 accumulators, each updated every 6 cycles at full
// rate), summed once at the end. The broadcasts fold into the FMAs as {1to16} memory
// operands, so the loop holds 12 accumulators and 2 rows of B: 14 of the 32 zmm registers,
// no spills (checked with objdump -d, GCC 12).
// Compiled with -mavx512f -mavx512vl -mfma (CMake, *_avx512.cpp); only called when
// bot::use_avx512() (CPU and OS support ZMM state, not disabled by environment).
#include <immintrin.h>

#include "cpu/gemm/gemm_internal.h"

namespace bot {
namespace gemm {

static_assert(kMR == 6 && kNR == 16, "this kernel is written for a 6 x 16 tile");

namespace {
constexpr int kUnrollK = 4;  // k-steps per loop trip: 2 per accumulator set
}  // namespace

void microkernel_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                        float beta) {
  // Bring the C tile towards L1 while the k loop runs (each 16-float row spans <= 2 lines).
  for (int i = 0; i < kMR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + kNR - 1), _MM_HINT_T0);
  }

  // Set 0 takes even k-steps, set 1 odd ones.
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c02 = _mm512_setzero_ps();
  __m512 c03 = _mm512_setzero_ps(), c04 = _mm512_setzero_ps(), c05 = _mm512_setzero_ps();
  __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps(), c12 = _mm512_setzero_ps();
  __m512 c13 = _mm512_setzero_ps(), c14 = _mm512_setzero_ps(), c15 = _mm512_setzero_ps();

  // One k-step into set S: B row L of this trip (loadu: a pre-packed B is only 32-byte
  // aligned), A elements of step L broadcast one by one.
#define BOT_GEMM_STEP(S, L)                                                   \
  do {                                                                        \
    const __m512 bv = _mm512_loadu_ps(b + (L) * kNR);                         \
    c##S##0 = _mm512_fmadd_ps(_mm512_set1_ps(a[(L) * kMR + 0]), bv, c##S##0); \
    c##S##1 = _mm512_fmadd_ps(_mm512_set1_ps(a[(L) * kMR + 1]), bv, c##S##1); \
    c##S##2 = _mm512_fmadd_ps(_mm512_set1_ps(a[(L) * kMR + 2]), bv, c##S##2); \
    c##S##3 = _mm512_fmadd_ps(_mm512_set1_ps(a[(L) * kMR + 3]), bv, c##S##3); \
    c##S##4 = _mm512_fmadd_ps(_mm512_set1_ps(a[(L) * kMR + 4]), bv, c##S##4); \
    c##S##5 = _mm512_fmadd_ps(_mm512_set1_ps(a[(L) * kMR + 5]), bv, c##S##5); \
  } while (0)

  int64_t trips = kc / kUnrollK;
  for (; trips > 0; --trips) {
    // A streams from L2: fetch 384 bytes (4 trips) ahead; 2 lines cover a trip's 96 bytes.
    _mm_prefetch(reinterpret_cast<const char*>(a) + 384, _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(a) + 448, _MM_HINT_T0);
    BOT_GEMM_STEP(0, 0);
    BOT_GEMM_STEP(1, 1);
    BOT_GEMM_STEP(0, 2);
    BOT_GEMM_STEP(1, 3);
    a += kUnrollK * kMR;
    b += kUnrollK * kNR;
  }
  for (int64_t left = kc % kUnrollK; left > 0; --left) {
    BOT_GEMM_STEP(0, 0);
    a += kMR;
    b += kNR;
  }
#undef BOT_GEMM_STEP

  __m512 acc[kMR] = {_mm512_add_ps(c00, c10), _mm512_add_ps(c01, c11), _mm512_add_ps(c02, c12),
                     _mm512_add_ps(c03, c13), _mm512_add_ps(c04, c14), _mm512_add_ps(c05, c15)};

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

}  // namespace gemm
}  // namespace bot
