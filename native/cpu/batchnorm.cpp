// Batch normalisation over the channel (last) dimension of NHWC activations, viewed as
// x (M, C) with M = N*H*W (see bot/ops/batchnorm.h for the formulas).
//
// Statistics. The rows are cut into blocks of a fixed size that depends only on (M, C),
// never on the thread count; each block sums per channel d = x - shift and d^2, in float
// over runs of 16 rows and in double across the runs (shift = the first row, which
// removes most of the cancellation of the one-pass variance), and the block partials are
// added in block order. So the result is
// deterministic and the same for every thread count. The element passes (y, dx) apply
// per-channel coefficients to x - mean; every inner loop runs over C contiguous floats
// so the compiler vectorises it.
//
// Backward: two passes over the data, both split over the pool. Pass 1 reads x, dy and
// (fused ReLU) relu_y and reduces per channel sum g and sum g * (x - mean), g the masked
// dy: in float over runs of 16 rows, each run's sums added to the block's double
// partials (same blocks, same determinism). Pass 2 reads the same three and writes dx.
// With AVX2/FMA both passes run the 8-lane kernels of batchnorm_avx2.cpp; the loops here
// are the portable path.
//
// The *_reference versions are the plain two-pass loop nests in double the fast ones are
// tested against.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "bot/cpu_features.h"
#include "bot/ops/batchnorm.h"
#include "bot/status.h"
#include "bot/threadpool.h"

namespace bot {

#if defined(BOT_HAVE_X86)
// Defined in batchnorm_avx2.cpp (x86 builds only): the backward's two passes over rows
// [r0, r1), the same arithmetic as backward_sums and the dx loop below.
void batchnorm_backward_sums_avx2(int64_t r0, int64_t r1, int64_t c, int64_t run_rows,
                                  const float* x, const float* dy, const float* relu_y,
                                  const float* mean, double* a1, double* a2);
void batchnorm_backward_dx_avx2(int64_t r0, int64_t r1, int64_t c, const float* x,
                                const float* dy, const float* relu_y, const float* mean,
                                const float* ca, const float* cb, const float* cd, float* dx);
#endif

void BatchNormProblem::validate() const {
  BOT_CHECK(m >= 1 && c >= 1, Code::kShape,
            "batchnorm needs m >= 1 and c >= 1, got m=" + std::to_string(m) +
                " c=" + std::to_string(c));
  BOT_CHECK(std::isfinite(eps) && eps > 0.0f, Code::kArgument,
            "batchnorm eps must be a finite number > 0");
  BOT_CHECK(momentum >= 0.0f && momentum <= 1.0f, Code::kArgument,  // false for NaN too
            "batchnorm momentum must be in [0, 1]");
}

void BatchNormProblem::validate_training() const {
  validate();
  BOT_CHECK(m >= 2, Code::kArgument,
            "batchnorm training needs at least 2 values per channel (m >= 2): the unbiased "
            "running variance of one value is undefined");
}

namespace {

constexpr int64_t kBlockElems = 1 << 14;  // 16K floats (64 KiB of x) per statistics block:
                                          // L2-resident, and few enough partials to combine
constexpr int64_t kBlockMinRows = 64;     // and at least 64 rows, so the double partials
                                          // (2 per channel) stay <= 1/16 of x for wide C
constexpr int64_t kGrainElems = 1 << 15;  // 128 KiB per chunk of an element pass: above the
                                          // pool's wake-up cost

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
// where `pass(r0, r1, a1, a2)` adds the terms of rows [r0, r1) to the block partials
// a1/a2. Blocks are combined in a fixed order.
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
      pass(b * blocks.rows, std::min(p.m, (b + 1) * blocks.rows), a1, a1 + c);
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

// Per-channel work arrays of the calling thread (statistics, coefficients), grown and
// never shrunk, so that a steady caller allocates nothing. `slot` picks one of a few
// independent arrays.
constexpr int kWorkSlots = 6;
template <typename T>
T* channel_work(int slot, int64_t c) {
  thread_local std::vector<T> work[kWorkSlots];
  std::vector<T>& w = work[slot];
  if (int64_t(w.size()) < c) w.resize(size_t(c));
  return w.data();
}

// y = ((x - mean_hi) - mean_lo) * scale + beta per channel, parallel over rows. The mean
// is carried as two floats (mean_hi + mean_lo = the double mean to ~2^-48): x - mean_hi
// is exact when x is near the mean, so activations far from zero with a small spread
// keep their precision (the folded form x * scale + bias would cancel catastrophically).
// With kResidual the residual is added to y (the fused BN + residual add); with kRelu the
// output is max(y, 0) (the fused BN+ReLU, or BN + add + ReLU).
template <bool kRelu, bool kResidual>
void normalise_rows_impl(const BatchNormProblem& p, const float* x, const float* mean_hi,
                         const float* mean_lo, const float* scale, const float* beta,
                         const float* residual, float* y) {
  const int64_t c = p.c;
  parallel_for(p.m, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * c;
      const float* rr = kResidual ? residual + r * c : nullptr;
      float* yr = y + r * c;
      for (int64_t j = 0; j < c; ++j) {
        float v = ((xr[j] - mean_hi[j]) - mean_lo[j]) * scale[j] + beta[j];
        if (kResidual) v = v + rr[j];
        yr[j] = kRelu ? (v > 0.0f ? v : 0.0f) : v;
      }
    }
  }, row_grain(p));
}

void normalise_rows(const BatchNormProblem& p, const float* x, const float* mean_hi,
                    const float* mean_lo, const float* scale, const float* beta,
                    const float* residual, float* y) {
  if (residual != nullptr) {
    if (p.relu) normalise_rows_impl<true, true>(p, x, mean_hi, mean_lo, scale, beta, residual, y);
    else normalise_rows_impl<false, true>(p, x, mean_hi, mean_lo, scale, beta, residual, y);
  } else {
    if (p.relu) normalise_rows_impl<true, false>(p, x, mean_hi, mean_lo, scale, beta, nullptr, y);
    else normalise_rows_impl<false, false>(p, x, mean_hi, mean_lo, scale, beta, nullptr, y);
  }
}

// dy, or dy * [relu_y > 0] for the fused BN+ReLU.
inline float masked(const float* dy, const float* relu_y, int64_t i) {
  return relu_y == nullptr || relu_y[i] > 0.0f ? dy[i] : 0.0f;
}

constexpr int64_t kRunRows = 16;  // backward sums: rows added in float before each run's
                                  // sums go to the double partials (a 16-term float sum
                                  // is good to a few ulps)

// Rows [r0, r1) of the backward's pass 1: a1[j] += sum g, a2[j] += sum g * (x - mean[j]),
// in float over runs of kRunRows rows, then in double.
void backward_sums(int64_t r0, int64_t r1, int64_t c, const float* x, const float* dy,
                   const float* relu_y, const float* mean, double* a1, double* a2) {
  thread_local std::vector<float> run;  // (2, C) float sums of one run, per worker
  if (int64_t(run.size()) < 2 * c) run.resize(size_t(2 * c));
  float* s1 = run.data();
  float* s2 = s1 + c;
  for (int64_t rs = r0; rs < r1; rs += kRunRows) {
    const int64_t re = std::min(r1, rs + kRunRows);
    std::fill(s1, s1 + 2 * c, 0.0f);
    for (int64_t r = rs; r < re; ++r) {
      const float* xr = x + r * c;
      for (int64_t j = 0; j < c; ++j) {
        const float g = masked(dy, relu_y, r * c + j);
        s1[j] += g;
        s2[j] += g * (xr[j] - mean[j]);
      }
    }
    for (int64_t j = 0; j < c; ++j) {
      a1[j] += double(s1[j]);
      a2[j] += double(s2[j]);
    }
  }
}

// Rows [r0, r1) of the forward statistics: with d = x - shift[j], a1[j] += sum d and
// a2[j] += sum d^2, in float over runs of kRunRows rows, then in double. (x - shift is
// exact for x within a factor 2 of shift, and small next to x otherwise.)
void forward_sums(int64_t r0, int64_t r1, int64_t c, const float* x, const float* shift,
                  double* a1, double* a2) {
  thread_local std::vector<float> run;  // (2, C) float sums of one run, per worker
  if (int64_t(run.size()) < 2 * c) run.resize(size_t(2 * c));
  float* __restrict s1 = run.data();
  float* __restrict s2 = s1 + c;
  for (int64_t rs = r0; rs < r1; rs += kRunRows) {
    const int64_t re = std::min(r1, rs + kRunRows);
    std::fill(s1, s1 + 2 * c, 0.0f);
    for (int64_t r = rs; r < re; ++r) {
      const float* __restrict xr = x + r * c;
      for (int64_t j = 0; j < c; ++j) {
        const float d = xr[j] - shift[j];
        s1[j] += d;
        s2[j] += d * d;
      }
    }
    for (int64_t j = 0; j < c; ++j) {
      a1[j] += double(s1[j]);
      a2[j] += double(s2[j]);
    }
  }
}

#if defined(BOT_HAVE_X86)
bool backward_avx2() { return use_avx2_fma(); }
void backward_sums_avx2(int64_t r0, int64_t r1, int64_t c, int64_t run_rows, const float* x,
                        const float* dy, const float* relu_y, const float* mean, double* a1,
                        double* a2) {
  batchnorm_backward_sums_avx2(r0, r1, c, run_rows, x, dy, relu_y, mean, a1, a2);
}
void backward_dx_avx2(int64_t r0, int64_t r1, int64_t c, const float* x, const float* dy,
                      const float* relu_y, const float* mean, const float* ca, const float* cb,
                      const float* cd, float* dx) {
  batchnorm_backward_dx_avx2(r0, r1, c, x, dy, relu_y, mean, ca, cb, cd, dx);
}
#else
bool backward_avx2() { return false; }
void backward_sums_avx2(int64_t, int64_t, int64_t, int64_t, const float*, const float*,
                        const float*, const float*, double*, double*) {}
void backward_dx_avx2(int64_t, int64_t, int64_t, const float*, const float*, const float*,
                      const float*, const float*, const float*, const float*, float*) {}
#endif

}  // namespace

void batchnorm_forward_train(const BatchNormProblem& p, const float* x, const float* gamma,
                             const float* beta, float* y, float* running_mean,
                             float* running_var, float* save_mean, float* save_invstd,
                             const float* residual) {
  p.validate_training();
  const int64_t c = p.c;
  const double md = double(p.m);
  double* sum = channel_work<double>(0, c);
  double* sumsq = channel_work<double>(1, c);
  double* mean = channel_work<double>(2, c);
  double* var = channel_work<double>(3, c);
  float* mean_hi = channel_work<float>(0, c);
  float* mean_lo = channel_work<float>(1, c);
  float* scale = channel_work<float>(2, c);
  const float* shift = x;  // the first row
  channel_sums(p, sum, sumsq, [&](int64_t r0, int64_t r1, double* a1, double* a2) {
    forward_sums(r0, r1, c, x, shift, a1, a2);
  });
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
  normalise_rows(p, x, mean_hi, mean_lo, scale, beta, residual, y);
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
                             const float* running_var, float* y, const float* residual) {
  p.validate();
  const int64_t c = p.c;
  float* zero = channel_work<float>(0, c);
  float* scale = channel_work<float>(1, c);
  for (int64_t j = 0; j < c; ++j) {
    zero[j] = 0.0f;
    scale[j] = float(double(gamma[j]) / std::sqrt(double(running_var[j]) + double(p.eps)));
  }
  normalise_rows(p, x, running_mean, zero, scale, beta, residual, y);
}

void batchnorm_backward(const BatchNormProblem& p, const float* x, const float* dy,
                        const float* gamma, const float* mean, const float* invstd,
                        bool training, float* dx, float* dgamma, float* dbeta,
                        const float* relu_y) {
  if (training)
    p.validate_training();
  else
    p.validate();
  const int64_t c = p.c;
  const double md = double(p.m);
  const bool avx2 = backward_avx2();
  // Pass 1 (reads x, dy and relu_y): dbeta = sum g, dgamma = invstd * sum g * (x - mean),
  // g = dy * [relu_y > 0].
  double* sdy = channel_work<double>(0, c);
  double* sdyx = channel_work<double>(1, c);
  channel_sums(p, sdy, sdyx, [&](int64_t r0, int64_t r1, double* a1, double* a2) {
    if (avx2) backward_sums_avx2(r0, r1, c, kRunRows, x, dy, relu_y, mean, a1, a2);
    else backward_sums(r0, r1, c, x, dy, relu_y, mean, a1, a2);
  });
  // Pass 2 (reads x, dy and relu_y, writes dx): dx = a * g + b * (x - mean) + d with, in
  // training mode,
  //   a = gamma * invstd, b = -a * invstd * dgamma / M, d = -a * dbeta / M
  // and in inference mode (constant statistics) b = d = 0.
  float* ca = channel_work<float>(0, c);
  float* cb = channel_work<float>(1, c);
  float* cd = channel_work<float>(2, c);
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
    if (avx2) {
      backward_dx_avx2(r0, r1, c, x, dy, relu_y, mean, ca, cb, cd, dx);
      return;
    }
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
  p.validate_training();
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
    p.validate_training();
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
