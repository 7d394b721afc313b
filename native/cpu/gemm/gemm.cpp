// sgemm: entry point, validation and the reference. (Placeholder blocked loop; the packed
// AVX2 kernel replaces the body of sgemm.)
#include "bot/ops/gemm.h"

#include <string>

#include "bot/status.h"
#include "bot/threadpool.h"

namespace bot {

void GemmProblem::validate() const {
  BOT_CHECK(m >= 0 && n >= 0 && k >= 0, Code::kShape, "gemm sizes must be >= 0");
  BOT_CHECK(lda >= (trans_a ? m : k) && lda >= 1, Code::kShape, "gemm lda too small");
  BOT_CHECK(ldb >= (trans_b ? k : n) && ldb >= 1, Code::kShape, "gemm ldb too small");
  BOT_CHECK(ldc >= n && ldc >= 1, Code::kShape, "gemm ldc too small");
}

GemmProblem gemm_problem(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b,
                         float alpha, float beta) {
  GemmProblem p;
  p.m = m; p.n = n; p.k = k;
  p.trans_a = trans_a; p.trans_b = trans_b;
  p.lda = std::max<int64_t>(1, trans_a ? m : k);
  p.ldb = std::max<int64_t>(1, trans_b ? k : n);
  p.ldc = std::max<int64_t>(1, n);
  p.alpha = alpha; p.beta = beta;
  return p;
}

void sgemm_reference(const GemmProblem& p, const float* a, const float* b, float* c) {
  p.validate();
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.n; ++j) {
      double acc = 0.0;
      for (int64_t l = 0; l < p.k; ++l) {
        float av = p.trans_a ? a[l * p.lda + i] : a[i * p.lda + l];
        float bv = p.trans_b ? b[j * p.ldb + l] : b[l * p.ldb + j];
        acc += double(av) * double(bv);
      }
      float& out = c[i * p.ldc + j];
      out = p.beta == 0.0f ? float(p.alpha * acc) : float(p.alpha * acc + p.beta * out);
    }
  }
}

void sgemm(const GemmProblem& p, const float* a, const float* b, float* c, GemmThreads threads) {
  p.validate();
  auto rows = [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; ++i) {
      float* crow = c + i * p.ldc;
      if (p.beta == 0.0f) {
        for (int64_t j = 0; j < p.n; ++j) crow[j] = 0.0f;
      } else if (p.beta != 1.0f) {
        for (int64_t j = 0; j < p.n; ++j) crow[j] *= p.beta;
      }
      for (int64_t l = 0; l < p.k; ++l) {
        float av = p.alpha * (p.trans_a ? a[l * p.lda + i] : a[i * p.lda + l]);
        if (p.trans_b) {
          for (int64_t j = 0; j < p.n; ++j) crow[j] += av * b[j * p.ldb + l];
        } else {
          const float* brow = b + l * p.ldb;
          for (int64_t j = 0; j < p.n; ++j) crow[j] += av * brow[j];
        }
      }
    }
  };
  if (threads == GemmThreads::kCaller) rows(0, p.m, 0);
  else parallel_for(p.m, rows, 4);
}

}  // namespace bot
