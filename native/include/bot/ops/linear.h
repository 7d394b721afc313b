// Fully connected layer, PyTorch layout: y = x * w^T + b.
//   x (N, IN), w (OUT, IN), b (OUT) or null, y (N, OUT)
//   Backward: dx = dy * w (N, IN), dw = dy^T * x (OUT, IN), db = sum_n dy (OUT).
// Runs on sgemm.
#pragma once
#include <cstdint>

namespace bot {

struct LinearProblem {
  int64_t n = 0, in = 0, out = 0;
  void validate() const;
  double flops() const { return 2.0 * double(n) * double(in) * double(out); }
};

void linear_forward(const LinearProblem& p, const float* x, const float* w, const float* b,
                    float* y);
// Any of dx, dw, db may be null to skip that gradient.
void linear_backward(const LinearProblem& p, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db);

}  // namespace bot
