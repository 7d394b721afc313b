// Portable C++ SGEMM micro-kernel, same 6 x 16 contract as microkernel_avx2.cpp:
//   C(6, 16) = Apanel(6, kc) * Bpanel(kc, 16) (+ beta C); a[l*6 + i], b[l*16 + j].
// Used where AVX2/FMA is missing or disabled (BAGOFTRICKS_NO_AVX2=1). Written as plain
// loops that the compiler keeps in vector registers with whatever SIMD the baseline target
// has (SSE2 on x86-64, NEON on arm64).
#include "cpu/gemm/gemm_internal.h"

namespace bot {
namespace gemm {

namespace {
constexpr int kRowsPerPass = 2;  // 2 rows x 16 floats = 8 SSE accumulators: fits 16 registers with B and A
static_assert(kMR % kRowsPerPass == 0, "passes cover the tile exactly");

// c[i*ldc + j] = acc[j] (+ beta * c[...]); beta == 0 stores without reading C.
inline void store_row(const float* acc, float* row, float beta) {
  if (beta == 0.0f) {
    for (int j = 0; j < kNR; ++j) row[j] = acc[j];
  } else if (beta == 1.0f) {
    for (int j = 0; j < kNR; ++j) row[j] += acc[j];
  } else {
    for (int j = 0; j < kNR; ++j) row[j] = beta * row[j] + acc[j];
  }
}
}  // namespace

// The tile is computed kRowsPerPass rows at a time, each pass re-reading the B panel (in
// L1): one 16-wide row of accumulators per row of A keeps the inner j loop a plain
// vectorisable loop (a 6 x 16 accumulator array makes GCC vectorise across rows with
// shuffles instead, at a tenth of the speed).
void microkernel_portable(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                          float beta) {
  for (int i = 0; i < kMR; i += kRowsPerPass) {
    float acc0[kNR] = {};
    float acc1[kNR] = {};
    for (int64_t l = 0; l < kc; ++l) {
      const float* brow = b + l * kNR;
      const float a0 = a[l * kMR + i];
      const float a1 = a[l * kMR + i + 1];
      for (int j = 0; j < kNR; ++j) {
        acc0[j] += a0 * brow[j];
        acc1[j] += a1 * brow[j];
      }
    }
    store_row(acc0, c + i * ldc, beta);
    store_row(acc1, c + (i + 1) * ldc, beta);
  }
}

}  // namespace gemm
}  // namespace bot
