// Fully connected layer on sgemm (see bot/ops/linear.h).
//   forward:  y (N, OUT) = x (N, IN) * w^T (IN, OUT) + b; for N <= kDotRows, one pass of dot
//             products over w's rows instead (a classifier at batch 1 would otherwise pack
//             all of w for the GEMM on every call: 8 MB for 2048 x 1000)
//   backward: dx (N, IN) = dy (N, OUT) * w (OUT, IN)
//             dw (OUT, IN) = dy^T (OUT, N) * x (N, IN)
//             db (OUT) = column sums of dy, accumulated in double
#include "bot/ops/linear.h"

#include <algorithm>
#include <vector>

#include "bot/ops/gemm.h"
#include "bot/status.h"
#include "bot/threadpool.h"

namespace bot {

namespace {

constexpr int64_t kDotRows = 4;
constexpr int kLanes = 16;  // independent partial sums (vectorised by the compiler)

// y rows [0, n) = x * w^T + b for outputs [o0, o1), reading each row of w once.
void dot_rows(const LinearProblem& p, const float* x, const float* w, const float* b, float* y, int64_t o0,
              int64_t o1) {
  const int64_t full = p.in / kLanes * kLanes;
  for (int64_t o = o0; o < o1; ++o) {
    const float* wo = w + o * p.in;
    for (int64_t i = 0; i < p.n; ++i) {
      const float* xi = x + i * p.in;
      float acc[kLanes] = {};
      for (int64_t k = 0; k < full; k += kLanes) {
        for (int l = 0; l < kLanes; ++l) acc[l] += xi[k + l] * wo[k + l];
      }
      float s = 0.0f;
      for (int l = 0; l < kLanes; ++l) s += acc[l];
      for (int64_t k = full; k < p.in; ++k) s += xi[k] * wo[k];
      y[i * p.out + o] = b != nullptr ? s + b[o] : s;
    }
  }
}

}  // namespace

void LinearProblem::validate() const {
  BOT_CHECK(n >= 1 && in >= 1 && out >= 1, Code::kShape,
            "linear sizes must be >= 1, got n=" + std::to_string(n) + " in=" + std::to_string(in) +
                " out=" + std::to_string(out));
}

void linear_forward(const LinearProblem& p, const float* x, const float* w, const float* b,
                    float* y) {
  p.validate();
  if (p.n <= kDotRows) {
    parallel_for(p.out, [&](int64_t o0, int64_t o1, int) { dot_rows(p, x, w, b, y, o0, o1); },
                 std::max<int64_t>(1, (int64_t(1) << 15) / p.in));
    return;
  }
  if (b != nullptr) {
    for (int64_t i = 0; i < p.n; ++i)
      for (int64_t o = 0; o < p.out; ++o) y[i * p.out + o] = b[o];
  }
  sgemm(gemm_problem(p.n, p.out, p.in, false, true, 1.0f, b != nullptr ? 1.0f : 0.0f), x, w, y);
}

void linear_backward(const LinearProblem& p, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db) {
  p.validate();
  if (dx != nullptr) sgemm(gemm_problem(p.n, p.in, p.out, false, false), dy, w, dx);
  if (dw != nullptr) sgemm(gemm_problem(p.out, p.in, p.n, true, false), dy, x, dw);
  if (db != nullptr) {
    std::vector<double> acc(static_cast<size_t>(p.out), 0.0);
    for (int64_t i = 0; i < p.n; ++i)
      for (int64_t o = 0; o < p.out; ++o) acc[o] += dy[i * p.out + o];
    for (int64_t o = 0; o < p.out; ++o) db[o] = static_cast<float>(acc[o]);
  }
}

}  // namespace bot
