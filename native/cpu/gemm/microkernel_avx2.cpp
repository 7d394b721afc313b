// AVX2/FMA SGEMM micro-kernel, 6 x 16: C(6, 16) = Apanel(6, kc) * Bpanel(kc, 16) (+ beta C).
//
// Packed layouts (gemm_internal.h): a[l*6 + i], b[l*16 + j], both 32-byte aligned.
// Register plan (the 6x16 shape of BLIS's Haswell sgemm kernel; Van Zee & van de Geijn,
// ACM TOMS 2015): 12 accumulators ymm4..ymm15 hold the tile, ymm0/ymm1 the current row of
// B, ymm2/ymm3 broadcast elements of A: all 16 ymm registers, no spills. Per k-step: 2
// loads of B, 6 broadcasts of A, 12 FMAs; the 12 independent accumulators cover the FMA
// latency (4-5 cycles) x throughput (2 per cycle). The k loop is inline asm because GCC 12
// spills accumulators when it is written with intrinsics (measured: ~10% slower).
// Compiled with -mavx2 -mfma (CMake, *_avx2.cpp); only called when bot::use_avx2_fma().
#include <immintrin.h>

#include "cpu/gemm/gemm_internal.h"

namespace bot {
namespace gemm {

static_assert(kMR == 6 && kNR == 16, "this kernel is written for a 6 x 16 tile");

namespace {
constexpr int kUnrollK = 4;  // k-steps per loop trip (the asm below spells out 4 steps)
}  // namespace

// One k-step in AT&T syntax: loads B row L (2 ymm), then for each of the 6 rows of A a
// broadcast (alternating ymm2/ymm3 so consecutive rows do not wait on one register) and
// 2 FMAs into that row's accumulators. Offsets: B row L at L*64 bytes (16 floats), A
// element (row i, step L) at L*24 + 4*i bytes (6 floats per step).
#define BOT_GEMM_STEP(L)                               \
  "vmovaps " #L "*64(%[b]), %%ymm0\n\t"                \
  "vmovaps " #L "*64+32(%[b]), %%ymm1\n\t"             \
  "vbroadcastss " #L "*24+0(%[a]), %%ymm2\n\t"         \
  "vfmadd231ps %%ymm0, %%ymm2, %%ymm4\n\t"             \
  "vfmadd231ps %%ymm1, %%ymm2, %%ymm5\n\t"             \
  "vbroadcastss " #L "*24+4(%[a]), %%ymm3\n\t"         \
  "vfmadd231ps %%ymm0, %%ymm3, %%ymm6\n\t"             \
  "vfmadd231ps %%ymm1, %%ymm3, %%ymm7\n\t"             \
  "vbroadcastss " #L "*24+8(%[a]), %%ymm2\n\t"         \
  "vfmadd231ps %%ymm0, %%ymm2, %%ymm8\n\t"             \
  "vfmadd231ps %%ymm1, %%ymm2, %%ymm9\n\t"             \
  "vbroadcastss " #L "*24+12(%[a]), %%ymm3\n\t"        \
  "vfmadd231ps %%ymm0, %%ymm3, %%ymm10\n\t"            \
  "vfmadd231ps %%ymm1, %%ymm3, %%ymm11\n\t"            \
  "vbroadcastss " #L "*24+16(%[a]), %%ymm2\n\t"        \
  "vfmadd231ps %%ymm0, %%ymm2, %%ymm12\n\t"            \
  "vfmadd231ps %%ymm1, %%ymm2, %%ymm13\n\t"            \
  "vbroadcastss " #L "*24+20(%[a]), %%ymm3\n\t"        \
  "vfmadd231ps %%ymm0, %%ymm3, %%ymm14\n\t"            \
  "vfmadd231ps %%ymm1, %%ymm3, %%ymm15\n\t"

void microkernel_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc,
                      float beta) {
  // Bring the C tile towards L1 while the k loop runs (each 16-float row spans <= 2 lines).
  for (int i = 0; i < kMR; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + kNR - 1), _MM_HINT_T0);
  }

  // The accumulators live in ymm4..ymm15 only inside the asm, which zeroes them first and
  // stores them to `acc` at the end (12 stores per kc k-steps: noise), so no register
  // variables are needed and any GCC/Clang compiles it the same way.
  alignas(32) float acc[kMR][kNR];
  int64_t trips = kc / kUnrollK, left = kc % kUnrollK;
  __asm__ volatile(
      "vxorps %%ymm4, %%ymm4, %%ymm4\n\t"
      "vxorps %%ymm5, %%ymm5, %%ymm5\n\t"
      "vxorps %%ymm6, %%ymm6, %%ymm6\n\t"
      "vxorps %%ymm7, %%ymm7, %%ymm7\n\t"
      "vxorps %%ymm8, %%ymm8, %%ymm8\n\t"
      "vxorps %%ymm9, %%ymm9, %%ymm9\n\t"
      "vxorps %%ymm10, %%ymm10, %%ymm10\n\t"
      "vxorps %%ymm11, %%ymm11, %%ymm11\n\t"
      "vxorps %%ymm12, %%ymm12, %%ymm12\n\t"
      "vxorps %%ymm13, %%ymm13, %%ymm13\n\t"
      "vxorps %%ymm14, %%ymm14, %%ymm14\n\t"
      "vxorps %%ymm15, %%ymm15, %%ymm15\n\t"
      "test %[trips], %[trips]\n\t"
      "jz 2f\n\t"
      ".p2align 5\n"
      "1:\n\t"
      // A streams from L2: fetch 384 bytes (4 trips) ahead; 2 lines cover a trip's 96 bytes.
      "prefetcht0 384(%[a])\n\t"
      "prefetcht0 448(%[a])\n\t"
      BOT_GEMM_STEP(0)
      BOT_GEMM_STEP(1)
      BOT_GEMM_STEP(2)
      BOT_GEMM_STEP(3)
      "add $96, %[a]\n\t"   // 4 steps x 6 floats x 4 bytes
      "add $256, %[b]\n\t"  // 4 steps x 16 floats x 4 bytes
      "dec %[trips]\n\t"
      "jnz 1b\n"
      "2:\n\t"
      "test %[left], %[left]\n\t"
      "jz 4f\n"
      "3:\n\t"
      BOT_GEMM_STEP(0)
      "add $24, %[a]\n\t"
      "add $64, %[b]\n\t"
      "dec %[left]\n\t"
      "jnz 3b\n"
      "4:\n\t"
      "vmovaps %%ymm4, 0(%[acc])\n\t"    // acc row i at i*64 bytes, halves at +0 and +32
      "vmovaps %%ymm5, 32(%[acc])\n\t"
      "vmovaps %%ymm6, 64(%[acc])\n\t"
      "vmovaps %%ymm7, 96(%[acc])\n\t"
      "vmovaps %%ymm8, 128(%[acc])\n\t"
      "vmovaps %%ymm9, 160(%[acc])\n\t"
      "vmovaps %%ymm10, 192(%[acc])\n\t"
      "vmovaps %%ymm11, 224(%[acc])\n\t"
      "vmovaps %%ymm12, 256(%[acc])\n\t"
      "vmovaps %%ymm13, 288(%[acc])\n\t"
      "vmovaps %%ymm14, 320(%[acc])\n\t"
      "vmovaps %%ymm15, 352(%[acc])\n\t"
      : [a] "+r"(a), [b] "+r"(b), [trips] "+r"(trips), [left] "+r"(left)
      : [acc] "r"(&acc[0][0])
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",
        "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory");
#undef BOT_GEMM_STEP

  // Write back: beta == 0 stores without reading C (NaNs there are not propagated).
  const __m256 vb = _mm256_set1_ps(beta);
  for (int i = 0; i < kMR; ++i) {
    float* row = c + i * ldc;
    __m256 lo = _mm256_load_ps(acc[i]), hi = _mm256_load_ps(acc[i] + 8);
    if (beta == 1.0f) {
      lo = _mm256_add_ps(_mm256_loadu_ps(row), lo);
      hi = _mm256_add_ps(_mm256_loadu_ps(row + 8), hi);
    } else if (beta != 0.0f) {
      lo = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row), lo);
      hi = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row + 8), hi);
    }
    _mm256_storeu_ps(row, lo);
    _mm256_storeu_ps(row + 8, hi);
  }
}

}  // namespace gemm
}  // namespace bot
