// Single-precision GEMM: C = alpha * op(A) * op(B) + beta * C, all matrices row-major.
//
//   op(A) is (M, K): A itself (lda >= K) or, with trans_a, A^T where A is (K, M) (lda >= M)
//   op(B) is (K, N): B itself (ldb >= N) or, with trans_b, B^T where B is (N, K) (ldb >= K)
//   C is (M, N), ldc >= N. With beta == 0, C is written without being read (NaNs in C
//   are not propagated).
//
// sgemm packs A and B into cache-sized panels and runs an AVX2/FMA micro-kernel (portable
// C++ where AVX2 is missing). `threads`: kPool uses the core's thread pool, kCaller runs
// on the calling thread only (for callers that already split the work across threads).
#pragma once
#include <cstdint>
#include <functional>

namespace bot {

enum class GemmThreads { kPool, kCaller };

struct GemmProblem {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false, trans_b = false;
  int64_t lda = 0, ldb = 0, ldc = 0;
  float alpha = 1.0f, beta = 0.0f;

  void validate() const;  // throws ERR_SHAPE / ERR_ARGUMENT
  double flops() const { return 2.0 * double(m) * double(n) * double(k); }
};

void sgemm(const GemmProblem& p, const float* a, const float* b, float* c,
           GemmThreads threads = GemmThreads::kPool);

// op(B) (k, n) packed once for several products with the same B: sgemm_pack_b writes
// sgemm_packed_b_numel(k, n) floats (b, ldb, trans_b as in GemmProblem), and
// sgemm_prepacked_b computes what sgemm computes for a problem with that k and n (its
// ldb and trans_b unused), reading B from there; `packed` must be 32-byte aligned. The
// packed block is read-only, so several threads may share it.
int64_t sgemm_packed_b_numel(int64_t k, int64_t n);
void sgemm_pack_b(int64_t k, int64_t n, const float* b, int64_t ldb, bool trans_b,
                  float* packed);
void sgemm_prepacked_b(const GemmProblem& p, const float* a, const float* packed_b, float* c,
                       GemmThreads threads = GemmThreads::kPool);
// The same, calling `done(row0, row1, col0, col1)` once for each block of C that is final
// (its last k block added), on the thread that computed it, while the block is still in
// its cache: an epilogue (bias, activation) without a pass of its own. The blocks tile C.
using GemmBlockDone = std::function<void(int64_t row0, int64_t row1, int64_t col0, int64_t col1)>;
void sgemm_prepacked_b(const GemmProblem& p, const float* a, const float* packed_b, float* c,
                       GemmThreads threads, const GemmBlockDone& done);

// The oracle: a plain triple loop with a double accumulator.
void sgemm_reference(const GemmProblem& p, const float* a, const float* b, float* c);

// Convenience builder for the common contiguous case.
GemmProblem gemm_problem(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b,
                         float alpha = 1.0f, float beta = 0.0f);

}  // namespace bot
