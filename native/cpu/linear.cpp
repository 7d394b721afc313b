// Fully connected layer on sgemm (see bot/ops/linear.h).
//   forward:  y (N, OUT) = x (N, IN) * w^T (IN, OUT) + b
//   backward: dx (N, IN) = dy (N, OUT) * w (OUT, IN)
//             dw (OUT, IN) = dy^T (OUT, N) * x (N, IN)
//             db (OUT) = column sums of dy, accumulated in double
#include "bot/ops/linear.h"

#include <vector>

#include "bot/ops/gemm.h"
#include "bot/status.h"

namespace bot {

void LinearProblem::validate() const {
  BOT_CHECK(n >= 1 && in >= 1 && out >= 1, Code::kShape,
            "linear sizes must be >= 1, got n=" + std::to_string(n) + " in=" + std::to_string(in) +
                " out=" + std::to_string(out));
}

void linear_forward(const LinearProblem& p, const float* x, const float* w, const float* b,
                    float* y) {
  p.validate();
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
