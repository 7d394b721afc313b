// The Winograd transforms (conv2d_winograd_simd.h) for AVX-512, and the 36 GEMMs of a
// block with a kernel that reads V row-major (no packing of the A operand).
//
// GEMM kernel: a (6, 16 * NP) tile of M[xi] = V[xi] (rows, C) * U[xi] (C, kp), NP <= 4
// panels of the packed U (sgemm's layout: the (C, K) operand cut into blocks of kKC
// channels, each block a row of 16-column panels of kc x 16). Per channel: NP loads of U,
// 6 broadcasts of V, 6 * NP FMAs into 6 * NP accumulators (24 of the 32 zmm at NP = 4:
// 10 loads per 24 FMAs). Each element of M is one FMA chain in channel order, whatever
// the block and thread partition.
// Compiled with -mavx512f -mavx512vl -mfma (CMake, *_avx512.cpp); only called when
// bot::use_avx512().
#include <immintrin.h>

#include <algorithm>

#include "cpu/conv2d_winograd_simd.h"
#include "cpu/gemm/gemm_internal.h"

namespace bot {
namespace winograd {

void input_transform_avx512(const Block& b, const float* x, float* v) { input_transform<16>(b, x, v); }

void output_transform_avx512(const Block& b, const float* m, const float* bias, bool relu, float* y) {
  output_transform<16>(b, m, bias, relu, y);
}

namespace {

constexpr int kRows = 6;

// Rows [0, 6) of a (already offset to the tile's first row, lda = C) times panels
// [j, j + NP) of u (one point's packed operand), into c (ldc = kp).
template <int NP>
void kernel(int64_t channels, const float* a, const float* u, int64_t kp, int64_t j, float* c) {
  __m512 acc[kRows][NP];
  for (int i = 0; i < kRows; ++i) {
    for (int p = 0; p < NP; ++p) acc[i][p] = _mm512_setzero_ps();
  }
  const float* a0 = a;
  const float* a1 = a + channels;
  const float* a2 = a + 2 * channels;
  const float* a3 = a + 3 * channels;
  const float* a4 = a + 4 * channels;
  const float* a5 = a + 5 * channels;
  for (int64_t pc = 0; pc < channels; pc += gemm::kKC) {
    const int64_t kc = std::min<int64_t>(gemm::kKC, channels - pc);
    const float* bp = u + kp * pc + j * gemm::kNR * kc;  // panel j of this channel block
    const int64_t panel = gemm::kNR * kc;
    for (int64_t l = pc; l < pc + kc; ++l) {
      __m512 bv[NP];
      for (int p = 0; p < NP; ++p) bv[p] = _mm512_loadu_ps(bp + p * panel);
      bp += gemm::kNR;
      const __m512 v0 = _mm512_set1_ps(a0[l]);
      for (int p = 0; p < NP; ++p) acc[0][p] = _mm512_fmadd_ps(v0, bv[p], acc[0][p]);
      const __m512 v1 = _mm512_set1_ps(a1[l]);
      for (int p = 0; p < NP; ++p) acc[1][p] = _mm512_fmadd_ps(v1, bv[p], acc[1][p]);
      const __m512 v2 = _mm512_set1_ps(a2[l]);
      for (int p = 0; p < NP; ++p) acc[2][p] = _mm512_fmadd_ps(v2, bv[p], acc[2][p]);
      const __m512 v3 = _mm512_set1_ps(a3[l]);
      for (int p = 0; p < NP; ++p) acc[3][p] = _mm512_fmadd_ps(v3, bv[p], acc[3][p]);
      const __m512 v4 = _mm512_set1_ps(a4[l]);
      for (int p = 0; p < NP; ++p) acc[4][p] = _mm512_fmadd_ps(v4, bv[p], acc[4][p]);
      const __m512 v5 = _mm512_set1_ps(a5[l]);
      for (int p = 0; p < NP; ++p) acc[5][p] = _mm512_fmadd_ps(v5, bv[p], acc[5][p]);
    }
  }
  for (int i = 0; i < kRows; ++i) {
    for (int p = 0; p < NP; ++p) _mm512_storeu_ps(c + i * kp + (j + p) * gemm::kNR, acc[i][p]);
  }
}

}  // namespace

void gemm_avx512(const Block& b, const float* v, const float* packed, float* m) {
  const int64_t panels = (b.k_end + gemm::kNR - 1) / gemm::kNR;
  const int64_t u_stride = b.kp * b.c;  // sgemm_packed_b_numel(C, K)
  for (int xi = 0; xi < kPoints; ++xi) {
    const float* vx = v + xi * b.stride * b.c;
    const float* ux = packed + xi * u_stride;
    float* mx = m + xi * b.stride * b.kp;
    for (int64_t j = b.k_begin / gemm::kNR; j < panels; j += 4) {
      const int64_t np = std::min<int64_t>(4, panels - j);
      for (int64_t i = 0; i < b.stride; i += kRows) {
        const float* a = vx + i * b.c;
        float* c = mx + i * b.kp;
        switch (np) {
          case 4: kernel<4>(b.c, a, ux, b.kp, j, c); break;
          case 3: kernel<3>(b.c, a, ux, b.kp, j, c); break;
          case 2: kernel<2>(b.c, a, ux, b.kp, j, c); break;
          default: kernel<1>(b.c, a, ux, b.kp, j, c); break;
        }
      }
    }
  }
}

}  // namespace winograd
}  // namespace bot
