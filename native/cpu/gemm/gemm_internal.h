// Internals of the packed SGEMM (not a public header): the micro-tile contract shared by
// the packing routines and the micro-kernels, and the cache-blocking constants.
//
// Packed layouts (BLIS / GotoBLAS, see Goto & van de Geijn, "Anatomy of High-Performance
// Matrix Multiplication", ACM TOMS 2008, and Van Zee & van de Geijn, "BLIS", TOMS 2015):
//   packed A: ceil(mc / kMR) micro-panels, each (kc, kMR): element (i, l) of a panel at
//             [l * kMR + i]; rows past the matrix edge are zero.  alpha is folded in.
//   packed B: ceil(nc / kNR) micro-panels, each (kc, kNR): element (l, j) of a panel at
//             [l * kNR + j]; columns past the matrix edge are zero.
// A micro-kernel multiplies one A micro-panel by one B micro-panel, a (kMR, kNR) tile of C.
#pragma once
#include <cstdint>

namespace bot {
namespace gemm {

constexpr int kMR = 6;   // micro-tile rows: 6 x 2 accumulators = 12 of the 16 ymm registers
constexpr int kNR = 16;  // micro-tile columns: two 8-float ymm (or one zmm) vectors per row of C

// Cache blocking. The B micro-panel (kKC x kNR) stays in L1 while the kernel sweeps the A
// block (kMC x kKC) out of L2; the packed B block (kKC x kNC) lives in L3.
constexpr int64_t kKC = 256;   // B micro-panel 256*16*4 = 16 KiB + A micro-panel 6 KiB: half of a 32-48 KiB L1D
constexpr int64_t kMC = 144;   // A block 144*256*4 = 144 KiB: well inside a 256 KiB-1 MiB L2 (multiple of kMR)
constexpr int64_t kNC = 4080;  // B block 256*4080*4 = 4 MiB: a share of L3 (multiple of kNR)
static_assert(kMC % kMR == 0, "A blocks hold whole micro-panels");
static_assert(kNC % kNR == 0, "B blocks hold whole micro-panels");

// Packing (pack.cpp). `a`/`b` point at element (0, 0) of op(A)/op(B)'s block; the
// routines read the transposed layouts directly.
//   pack_a: op(A) block (mc, kc) -> ceil(mc/kMR) panels, times alpha.
//   pack_b: op(B) block (kc, nc) -> ceil(nc/kNR) panels.
void pack_a(int64_t mc, int64_t kc, const float* a, int64_t lda, bool trans_a, float alpha,
            float* packed);
void pack_b(int64_t kc, int64_t nc, const float* b, int64_t ldb, bool trans_b, float* packed);

// Micro-kernel contract: c[i*ldc + j] (i < kMR, j < kNR) =
//   sum_l a[l*kMR + i] * b[l*kNR + j]  (+ beta * c[i*ldc + j] when beta != 0; beta == 0
//   writes without reading). kc >= 1; a and b 32-byte aligned; c unaligned.
using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                             float beta);
void microkernel_portable(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                          float beta);
#if defined(BOT_HAVE_X86)
void microkernel_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                      float beta);
void microkernel_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                        float beta);
// Two A and two B micro-panels at once: a (2 kMR, 2 kNR) tile of C (a0, a1: consecutive A
// panels; b0, b1: consecutive B panels); the same contract otherwise.
void microkernel_avx512_wide(int64_t kc, const float* a0, const float* a1, const float* b0, const float* b1,
                             float* c, int64_t ldc, float beta);
#endif

}  // namespace gemm
}  // namespace bot
