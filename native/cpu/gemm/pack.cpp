// Packing for the blocked SGEMM: copies a block of op(A) into kMR-row micro-panels (alpha
// folded in) and a block of op(B) into kNR-column micro-panels, so that the micro-kernel
// reads both with unit stride. Layouts are in gemm_internal.h; all four transpose
// combinations are read directly from the caller's row-major storage:
//   op(A)(i, l) = trans_a ? a[l*lda + i] : a[i*lda + l]
//   op(B)(l, j) = trans_b ? b[j*ldb + l] : b[l*ldb + j]
// Edge panels (fewer than kMR rows / kNR columns left) are padded with zeros, so the
// micro-kernel always computes a whole tile and the padding contributes nothing.
#include <algorithm>

#include "cpu/gemm/gemm_internal.h"

namespace bot {
namespace gemm {

namespace {

// One A micro-panel: rows [0, mr) of the block, mr <= kMR.
void pack_a_panel(int64_t mr, int64_t kc, const float* a, int64_t lda, bool trans_a,
                  float alpha, float* dst) {
  if (trans_a) {
    // op(A) row i is column i of A: each l gives kMR contiguous floats.
    if (mr == kMR) {
      for (int64_t l = 0; l < kc; ++l, dst += kMR) {
        const float* src = a + l * lda;
        for (int i = 0; i < kMR; ++i) dst[i] = alpha * src[i];
      }
    } else {
      for (int64_t l = 0; l < kc; ++l, dst += kMR) {
        const float* src = a + l * lda;
        for (int i = 0; i < kMR; ++i) dst[i] = i < mr ? alpha * src[i] : 0.0f;
      }
    }
    return;
  }
  // op(A) row i is row i of A: kMR row streams, each read with unit stride.
  if (mr == kMR) {
    const float* r0 = a;
    const float* r1 = a + lda;
    const float* r2 = a + 2 * lda;
    const float* r3 = a + 3 * lda;
    const float* r4 = a + 4 * lda;
    const float* r5 = a + 5 * lda;
    static_assert(kMR == 6, "the unrolled rows above assume kMR == 6");
    for (int64_t l = 0; l < kc; ++l, dst += kMR) {
      dst[0] = alpha * r0[l];
      dst[1] = alpha * r1[l];
      dst[2] = alpha * r2[l];
      dst[3] = alpha * r3[l];
      dst[4] = alpha * r4[l];
      dst[5] = alpha * r5[l];
    }
  } else {
    for (int64_t l = 0; l < kc; ++l, dst += kMR) {
      for (int i = 0; i < kMR; ++i) dst[i] = i < mr ? alpha * a[i * lda + l] : 0.0f;
    }
  }
}

// One B micro-panel: columns [0, nr) of the block, nr <= kNR.
void pack_b_panel(int64_t kc, int64_t nr, const float* b, int64_t ldb, bool trans_b,
                  float* dst) {
  if (!trans_b) {
    // op(B) row l is row l of B: each l gives up to kNR contiguous floats.
    if (nr == kNR) {
      for (int64_t l = 0; l < kc; ++l, dst += kNR) {
        const float* src = b + l * ldb;
        for (int j = 0; j < kNR; ++j) dst[j] = src[j];
      }
    } else {
      for (int64_t l = 0; l < kc; ++l, dst += kNR) {
        const float* src = b + l * ldb;
        for (int j = 0; j < kNR; ++j) dst[j] = j < nr ? src[j] : 0.0f;
      }
    }
    return;
  }
  // op(B) column j is row j of B: a transpose. Work in strips of kStripK values of l so
  // that the kNR source rows are each read a cache line at a time.
  constexpr int64_t kStripK = 16;  // 16 floats = one 64-byte cache line per source row
  for (int64_t l0 = 0; l0 < kc; l0 += kStripK) {
    const int64_t lk = std::min(kStripK, kc - l0);
    float* d = dst + l0 * kNR;
    for (int j = 0; j < kNR; ++j) {
      if (j < nr) {
        const float* src = b + j * ldb + l0;
        for (int64_t l = 0; l < lk; ++l) d[l * kNR + j] = src[l];
      } else {
        for (int64_t l = 0; l < lk; ++l) d[l * kNR + j] = 0.0f;
      }
    }
  }
}

}  // namespace

void pack_a(int64_t mc, int64_t kc, const float* a, int64_t lda, bool trans_a, float alpha,
            float* packed) {
  for (int64_t i = 0; i < mc; i += kMR) {
    const int64_t mr = std::min<int64_t>(kMR, mc - i);
    const float* src = trans_a ? a + i : a + i * lda;
    pack_a_panel(mr, kc, src, lda, trans_a, alpha, packed + i * kc);
  }
}

void pack_b(int64_t kc, int64_t nc, const float* b, int64_t ldb, bool trans_b, float* packed) {
  for (int64_t j = 0; j < nc; j += kNR) {
    const int64_t nr = std::min<int64_t>(kNR, nc - j);
    const float* src = trans_b ? b + j * ldb : b + j;
    pack_b_panel(kc, nr, src, ldb, trans_b, packed + j * kc);
  }
}

}  // namespace gemm
}  // namespace bot
