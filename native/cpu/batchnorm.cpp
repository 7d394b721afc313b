// Batch normalisation over the channel (last) dimension of NHWC activations, viewed as
// x (M, C) with M = N*H*W (see bot/ops/batchnorm.h for the formulas).
//
// Statistics. The rows are cut into blocks of a fixed size that depends only on (M, C),
// never on the thread count; each block sums per channel, in double, d = x - shift and
// d^2 (shift = the first row, which removes most of the cancellation of the one-pass
// variance), and the block partials are added in block order. So the result is
// deterministic and the same for every thread count. The element passes (y, dx) apply
// per-channel coefficients to x - mean; every inner loop runs over C contiguous floats
// so the compiler vectorises it.
//
// The *_reference versions are the plain two-pass loop nests in double the fast ones are
// tested against.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bot/ops/batchnorm.h"
#include "bot/status.h"
#include "bot/threadpool.h"

namespace bot {

void BatchNormProblem::validate() const {
  BOT_CHECK(m >= 1 && c >= 1, Code::kShape,
            "batchnorm needs m >= 1 and c >= 1, got m=" + std::to_string(m) +
                " c=" + std::to_string(c));
  BOT_CHECK(std::isfinite(eps) && eps > 0.0f, Code::kArgument,
            "batchnorm eps must be a finite number > 0");
  BOT_CHECK(momentum >= 0.0f && momentum <= 1.0f, Code::kArgument,  // false for NaN too
            "batchnorm momentum must be in [0, 1]");
}

namespace {

constexpr int64_t kBlockElems = 1 << 14;  // 16K floats (64 KiB of x) per statistics block:
                                          // L2-resident, and few enough partials to combine
constexpr int64_t kBlockMinRows = 64;     // and at least 64 rows, so the double partials
                                          // (2 per channel) stay <= 1/16 of x for wide C
constexpr int64_t kGrainElems = 1 << 15;  // 128 KiB per chunk of an element pass: above the
                                          // pool's wake-up cost

void check_train(const BatchNormProblem& p) {
  p.validate();
  BOT_CHECK(p.m >= 2, Code::kArgument,
            "batchnorm training needs at least 2 values per channel (m >= 2): the unbiased "
            "running variance of one value is undefined");
}

// Rows per statistics block and the number of blocks; functions of (m, c) only.
struct Blocks {
  int64_t rows, count;
};
Blocks stat_blocks(const BatchNormProblem& p) {
  int64_t rows = std::max(kBlockMinRows, kBlockElems / p.c);
  return {rows, (p.m + rows - 1) / rows};
}

int64_t row_grain(const BatchNormProblem& p) { return std::max<int64_t>(1, kGrainElems / p.c); }

// Per-channel sums over the rows, in double, written to s1/s2 (each c):
//   s1 = sum_m a(m),  s2 = sum_m a(m) * b(m)
// where the row functions are given by Pass. Blocks are combined in a fixed order.
template <typename Pass>
void channel_sums(const BatchNormProblem& p, double* s1, double* s2, const Pass& pass) {
  const int64_t c = p.c;
  const Blocks blocks = stat_blocks(p);
  // The block partials, (blocks, 2, C): up to a few MB for ResNet's early layers. Kept per
  // calling thread and reused (grown, never shrunk): a fresh buffer of that size on every
  // call is mapped and page-faulted anew each time, which cost more than the sums. The
  // pointer is taken here, on the calling thread; the workers write through it.
  thread_local std::vector<double> scratch;
  scratch.assign(size_t(blocks.count * 2 * c), 0.0);
  double* part = scratch.data();
  parallel_for(blocks.count, [&](int64_t b0, int64_t b1, int) {
    for (int64_t b = b0; b < b1; ++b) {
      double* a1 = part + b * 2 * c;
      double* a2 = a1 + c;
      const int64_t r1 = std::min(p.m, (b + 1) * blocks.rows);
      for (int64_t r = b * blocks.rows; r < r1; ++r) pass(r, a1, a2);
    }
  });
  for (int64_t j = 0; j < c; ++j) s1[j] = s2[j] = 0.0;
  for (int64_t b = 0; b < blocks.count; ++b) {
    const double* a1 = part + b * 2 * c;
    const double* a2 = a1 + c;
    for (int64_t j = 0; j < c; ++j) {
      s1[j] += a1[j];
      s2[j] += a2[j];
    }
  }
}

// y = ((x - mean_hi) - mean_lo) * scale + beta per channel, parallel over rows. The mean
// is carried as two floats (mean_hi + mean_lo = the double mean to ~2^-48): x - mean_hi
// is exact when x is near the mean, so activations far from zero with a small spread
// keep their precision (the folded form x * scale + bias would cancel catastrophically).
// With kRelu the output is max(y, 0) (the fused BN+ReLU).
template <bool kRelu>
void normalise_rows_impl(const BatchNormProblem& p, const float* x, const float* mean_hi,
                         const float* mean_lo, const float* scale, const float* beta, float* y) {
  const int64_t c = p.c;
  parallel_for(p.m, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * c;
      float* yr = y + r * c;
      for (int64_t j = 0; j < c; ++j) {
        float v = ((xr[j] - mean_hi[j]) - mean_lo[j]) * scale[j] + beta[j];
        yr[j] = kRelu ? (v > 0.0f ? v : 0.0f) : v;
      }
    }
  }, row_grain(p));
}

void normalise_rows(const BatchNormProblem& p, const float* x, const float* mean_hi,
                    const float* mean_lo, const float* scale, const float* beta, float* y) {
  if (p.relu) normalise_rows_impl<true>(p, x, mean_hi, mean_lo, scale, beta, y);
  else normalise_rows_impl<false>(p, x, mean_hi, mean_lo, scale, beta, y);
}

// dy, or dy * [relu_y > 0] for the fused BN+ReLU.
inline float masked(const float* dy, const float* relu_y, int64_t i) {
  return relu_y == nullptr || relu_y[i] > 0.0f ? dy[i] : 0.0f;
}

}  // namespace

void batchnorm_forward_train(const BatchNormProblem& p, const float* x, const float* gamma,
                             const float* beta, float* y, float* running_mean,
                             float* running_var, float* save_mean, float* save_invstd) {
  check_train(p);
  const int64_t c = p.c;
  const double md = double(p.m);
  std::vector<double> sum(static_cast<size_t>(c)), sumsq(static_cast<size_t>(c));
  const float* shift = x;  // the first row
  channel_sums(p, sum.data(), sumsq.data(), [&](int64_t r, double* a1, double* a2) {
    const float* xr = x + r * c;
    for (int64_t j = 0; j < c; ++j) {
      double d = double(xr[j]) - double(shift[j]);
      a1[j] += d;
      a2[j] += d * d;
    }
  });
  const size_t cs = static_cast<size_t>(c);
  std::vector<float> mean_hi(cs), mean_lo(cs), scale(cs);
  std::vector<double> mean(cs), var(cs);
  for (int64_t j = 0; j < c; ++j) {
    double dm = sum[j] / md;
    mean[j] = double(shift[j]) + dm;
    var[j] = std::max(0.0, sumsq[j] / md - dm * dm);  // biased
    double invstd = 1.0 / std::sqrt(var[j] + double(p.eps));
    mean_hi[j] = float(mean[j]);
    mean_lo[j] = float(mean[j] - double(mean_hi[j]));
    scale[j] = float(double(gamma[j]) * invstd);
    save_mean[j] = mean_hi[j];
    save_invstd[j] = float(invstd);
  }
  normalise_rows(p, x, mean_hi.data(), mean_lo.data(), scale.data(), beta, y);
  // Last, so that a running buffer the caller also passed as gamma/beta is read first.
  const double mom = double(p.momentum);
  for (int64_t j = 0; j < c; ++j) {
    running_mean[j] = float((1.0 - mom) * double(running_mean[j]) + mom * mean[j]);
    running_var[j] =
        float((1.0 - mom) * double(running_var[j]) + mom * var[j] * md / (md - 1.0));
  }
}

void batchnorm_forward_infer(const BatchNormProblem& p, const float* x, const float* gamma,
                             const float* beta, const float* running_mean,
                             const float* running_var, float* y) {
  p.validate();
  const int64_t c = p.c;
  const size_t cs = static_cast<size_t>(c);
  std::vector<float> zero(cs, 0.0f), scale(cs);
  for (int64_t j = 0; j < c; ++j)
    scale[j] = float(double(gamma[j]) / std::sqrt(double(running_var[j]) + double(p.eps)));
  normalise_rows(p, x, running_mean, zero.data(), scale.data(), beta, y);
}

void batchnorm_backward(const BatchNormProblem& p, const float* x, const float* dy,
                        const float* gamma, const float* mean, const float* invstd,
                        bool training, float* dx, float* dgamma, float* dbeta,
                        const float* relu_y) {
  if (training)
    check_train(p);
  else
    p.validate();
  const int64_t c = p.c;
  const double md = double(p.m);
  // dbeta = sum dy, dgamma = invstd * sum dy * (x - mean)
  std::vector<double> sdy(static_cast<size_t>(c)), sdyx(static_cast<size_t>(c));
  channel_sums(p, sdy.data(), sdyx.data(), [&](int64_t r, double* a1, double* a2) {
    const float* xr = x + r * c;
    for (int64_t j = 0; j < c; ++j) {
      double g = double(masked(dy, relu_y, r * c + j));
      a1[j] += g;
      a2[j] += g * (double(xr[j]) - double(mean[j]));
    }
  });
  // dx = a * dy + b * (x - mean) + d with, in training mode,
  //   a = gamma * invstd, b = -a * invstd * dgamma / M, d = -a * dbeta / M
  // and in inference mode (constant statistics) b = d = 0.
  std::vector<float> ca(static_cast<size_t>(c)), cb(static_cast<size_t>(c)),
      cd(static_cast<size_t>(c));
  for (int64_t j = 0; j < c; ++j) {
    double is = double(invstd[j]);
    double db = sdy[j];
    double dg = sdyx[j] * is;
    dbeta[j] = float(db);
    dgamma[j] = float(dg);
    double a = double(gamma[j]) * is;
    ca[j] = float(a);
    cb[j] = training ? float(-a * is * dg / md) : 0.0f;
    cd[j] = training ? float(-a * db / md) : 0.0f;
  }
  parallel_for(p.m, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * c;
      float* dxr = dx + r * c;
      for (int64_t j = 0; j < c; ++j)
        dxr[j] = ca[j] * masked(dy, relu_y, r * c + j) + cb[j] * (xr[j] - mean[j]) + cd[j];
    }
  }, row_grain(p));
}

// --- references: plain loops, two passes, double ----------------------------------------

void batchnorm_forward_train_reference(const BatchNormProblem& p, const float* x,
                                       const float* gamma, const float* beta, float* y,
                                       float* running_mean, float* running_var,
                                       float* save_mean, float* save_invstd) {
  check_train(p);
  const double md = double(p.m);
  for (int64_t j = 0; j < p.c; ++j) {
    double mean = 0.0;
    for (int64_t r = 0; r < p.m; ++r) mean += x[r * p.c + j];
    mean /= md;
    double var = 0.0;
    for (int64_t r = 0; r < p.m; ++r) {
      double d = x[r * p.c + j] - mean;
      var += d * d;
    }
    var /= md;
    double invstd = 1.0 / std::sqrt(var + double(p.eps));
    for (int64_t r = 0; r < p.m; ++r)
      y[r * p.c + j] = float((x[r * p.c + j] - mean) * invstd * gamma[j] + beta[j]);
    save_mean[j] = float(mean);
    save_invstd[j] = float(invstd);
    double mom = p.momentum;
    running_mean[j] = float((1.0 - mom) * running_mean[j] + mom * mean);
    running_var[j] = float((1.0 - mom) * running_var[j] + mom * var * md / (md - 1.0));
  }
}

void batchnorm_backward_reference(const BatchNormProblem& p, const float* x, const float* dy,
                                  const float* gamma, const float* mean, const float* invstd,
                                  bool training, float* dx, float* dgamma, float* dbeta) {
  if (training)
    check_train(p);
  else
    p.validate();
  const double md = double(p.m);
  for (int64_t j = 0; j < p.c; ++j) {
    double db = 0.0, dg = 0.0;
    for (int64_t r = 0; r < p.m; ++r) {
      double xhat = (x[r * p.c + j] - double(mean[j])) * invstd[j];
      db += dy[r * p.c + j];
      dg += dy[r * p.c + j] * xhat;
    }
    dbeta[j] = float(db);
    dgamma[j] = float(dg);
    for (int64_t r = 0; r < p.m; ++r) {
      double g = dy[r * p.c + j];
      if (training) {
        double xhat = (x[r * p.c + j] - double(mean[j])) * invstd[j];
        dx[r * p.c + j] = float(double(gamma[j]) * invstd[j] / md * (md * g - db - xhat * dg));
      } else {
        dx[r * p.c + j] = float(g * gamma[j] * invstd[j]);
      }
    }
  }
}

void batchnorm_invstd(int64_t c, const float* var, float eps, float* invstd) {
  for (int64_t j = 0; j < c; ++j) invstd[j] = static_cast<float>(1.0 / std::sqrt(double(var[j]) + double(eps)));
}

}  // namespace bot
