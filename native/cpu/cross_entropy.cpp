// Softmax cross-entropy with label smoothing or soft targets (see bot/ops/cross_entropy.h).
// Per row: m = max z, lse = m + log sum exp(z - m); log p_k = z_k - lse;
// loss_row = -sum_k q_k log p_k; dz_k = (p_k - q_k) / N. Rows are independent and run in
// parallel; the batch mean is summed in row order (deterministic).
#include "bot/ops/cross_entropy.h"

#include <cmath>
#include <string>
#include <vector>

#include "bot/status.h"
#include "bot/threadpool.h"

namespace bot {

void CrossEntropyProblem::validate() const {
  BOT_CHECK(n >= 1, Code::kShape, "cross-entropy needs at least one row");
  BOT_CHECK(classes >= 2, Code::kShape,
            "cross-entropy needs at least 2 classes, got " + std::to_string(classes));
  BOT_CHECK(std::isfinite(smoothing) && smoothing >= 0.0f && smoothing < 1.0f, Code::kArgument,
            "label smoothing must be in [0, 1), got " + std::to_string(smoothing));
}

namespace {

// One row: returns its loss and writes dz (if not null). q(k) gives the target.
template <typename Target>
double row_loss(int64_t classes, const float* z, Target q, double inv_n, float* dz) {
  double m = z[0];
  for (int64_t k = 1; k < classes; ++k) m = std::fmax(m, double(z[k]));
  double sum = 0.0;
  for (int64_t k = 0; k < classes; ++k) sum += std::exp(double(z[k]) - m);
  double lse = m + std::log(sum);
  double loss = 0.0;
  for (int64_t k = 0; k < classes; ++k) {
    double logp = double(z[k]) - lse;
    double qk = q(k);
    if (qk != 0.0) loss -= qk * logp;
    if (dz != nullptr) dz[k] = static_cast<float>((std::exp(logp) - qk) * inv_n);
  }
  return loss;
}

template <typename RowFn>
double mean_over_rows(int64_t n, RowFn row) {
  std::vector<double> losses(static_cast<size_t>(n));
  parallel_for(n, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) losses[i] = row(i);
  }, 16);
  double total = 0.0;
  for (double l : losses) total += l;
  return total / double(n);
}

}  // namespace

void cross_entropy_check_labels(const CrossEntropyProblem& p, const int32_t* labels) {
  for (int64_t i = 0; i < p.n; ++i)
    BOT_CHECK(labels[i] >= 0 && labels[i] < p.classes, Code::kArgument,
              "label " + std::to_string(labels[i]) + " at row " + std::to_string(i) +
                  " is outside [0, " + std::to_string(p.classes) + ")");
}

void cross_entropy_check_targets(const CrossEntropyProblem& p, const float* targets) {
  for (int64_t i = 0; i < p.n * p.classes; ++i)
    BOT_CHECK(std::isfinite(targets[i]) && targets[i] >= 0.0f, Code::kArgument,
              "soft targets must be finite and >= 0; element " + std::to_string(i) + " is " +
                  std::to_string(targets[i]));
}

void cross_entropy_check_temperature(float temperature) {
  BOT_CHECK(std::isfinite(temperature) && temperature > 0.0f, Code::kArgument,
            "distillation temperature must be > 0, got " + std::to_string(temperature));
}

double cross_entropy_hard(const CrossEntropyProblem& p, const float* logits,
                          const int32_t* labels, float* dlogits) {
  p.validate();
  cross_entropy_check_labels(p, labels);
  const double on = 1.0 - double(p.smoothing);                  // true class
  const double off = double(p.smoothing) / double(p.classes - 1);  // every other class
  const double inv_n = 1.0 / double(p.n);
  return mean_over_rows(p.n, [&](int64_t i) {
    int32_t y = labels[i];
    auto q = [&](int64_t k) { return k == y ? on : off; };
    return row_loss(p.classes, logits + i * p.classes, q, inv_n,
                    dlogits ? dlogits + i * p.classes : nullptr);
  });
}

double cross_entropy_soft(const CrossEntropyProblem& p, const float* logits,
                          const float* targets, float* dlogits) {
  p.validate();
  cross_entropy_check_targets(p, targets);
  const double inv_n = 1.0 / double(p.n);
  return mean_over_rows(p.n, [&](int64_t i) {
    const float* t = targets + i * p.classes;
    auto q = [&](int64_t k) { return double(t[k]); };
    return row_loss(p.classes, logits + i * p.classes, q, inv_n,
                    dlogits ? dlogits + i * p.classes : nullptr);
  });
}

double cross_entropy_distill(const CrossEntropyProblem& p, const float* logits,
                             const float* teacher_logits, float temperature, float* dlogits) {
  p.validate();
  cross_entropy_check_temperature(temperature);
  const double t = double(temperature);
  const double inv_n = 1.0 / double(p.n);
  const int64_t k = p.classes;
  std::vector<double> losses(static_cast<size_t>(p.n));
  parallel_for(p.n, [&](int64_t i0, int64_t i1, int) {
    std::vector<double> q(static_cast<size_t>(k));
    for (int64_t i = i0; i < i1; ++i) {
      const float* z = logits + i * k;
      const float* r = teacher_logits + i * k;
      // q = softmax(r / T)
      double rm = r[0];
      for (int64_t j = 1; j < k; ++j) rm = std::fmax(rm, double(r[j]));
      double rs = 0.0;
      for (int64_t j = 0; j < k; ++j) rs += q[j] = std::exp((double(r[j]) - rm) / t);
      for (int64_t j = 0; j < k; ++j) q[j] /= rs;
      // log p_T = z/T - lse(z/T)
      double zm = z[0];
      for (int64_t j = 1; j < k; ++j) zm = std::fmax(zm, double(z[j]));
      double zs = 0.0;
      for (int64_t j = 0; j < k; ++j) zs += std::exp((double(z[j]) - zm) / t);
      const double lse = zm / t + std::log(zs);
      double loss = 0.0;
      for (int64_t j = 0; j < k; ++j) {
        const double logp = double(z[j]) / t - lse;
        loss -= q[j] * logp;
        if (dlogits != nullptr) dlogits[i * k + j] += static_cast<float>(t * (std::exp(logp) - q[j]) * inv_n);
      }
      losses[i] = t * t * loss;
    }
  }, 16);
  double total = 0.0;
  for (double l : losses) total += l;
  return total / double(p.n);
}

}  // namespace bot
