// gemm_check: bot::sgemm against bot::sgemm_reference on many shapes; exits 1 on mismatch.
//
// Covers all four transpose combinations, sizes 1, odd primes and sizes that cross the
// kMR/kNR tiles and the kMC/kKC/kNC cache blocks, padded lda/ldb/ldc (the padding of C
// must stay untouched), alpha != 1, beta 0 (C pre-filled with NaN: it must not be read),
// beta 1 and 0.5, and both GemmThreads modes (the pool cycles through 2, 3 and 4 threads,
// so both 1-D and 2-D thread grids are exercised, even on a 2-core machine). The
// micro-kernel is chosen once per process from the CPU and BAGOFTRICKS_NO_AVX2, so run it
// twice to cover both kernels:
//   build-gemm/gemm_check && BAGOFTRICKS_NO_AVX2=1 build-gemm/gemm_check
// Tolerance per element: |c - ref| <= 1e-4 * (|alpha| sum_l |a_il||b_lj| + |beta c_ij|)
// + 1e-30, i.e. relative to the magnitude the dot product went through.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "bot/cpu_features.h"
#include "bot/ops/gemm.h"
#include "bot/threadpool.h"

namespace {

constexpr float kRelTol = 1e-4f;        // float accumulation over K <= ~5000 stays far below this
constexpr uint32_t kSeed = 20240601u;   // fixed seed: failures are reproducible
constexpr int kRandomCases = 300;       // random shapes on top of the fixed list
constexpr int kPoolSizes[3] = {2, 3, 4};  // thread counts cycled through for kPool cases

struct Case {
  int64_t m, n, k;
  bool ta, tb;
  int64_t pad_a, pad_b, pad_c;  // extra elements per row beyond the minimum leading dimension
  float alpha, beta;
  bool pool;
};

std::string describe(const Case& c) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "m=%lld n=%lld k=%lld transA=%d transB=%d padA=%lld padB=%lld padC=%lld "
                "alpha=%g beta=%g threads=%s seed=%u",
                (long long)c.m, (long long)c.n, (long long)c.k, c.ta, c.tb, (long long)c.pad_a,
                (long long)c.pad_b, (long long)c.pad_c, c.alpha, c.beta,
                c.pool ? "pool" : "caller", kSeed);
  return buf;
}

// Returns true when sgemm matches the reference for this case.
bool run_case(const Case& cs, std::mt19937& rng) {
  bot::GemmProblem p;
  p.m = cs.m; p.n = cs.n; p.k = cs.k;
  p.trans_a = cs.ta; p.trans_b = cs.tb;
  p.lda = (cs.ta ? cs.m : cs.k) + cs.pad_a;
  p.ldb = (cs.tb ? cs.k : cs.n) + cs.pad_b;
  p.ldc = cs.n + cs.pad_c;
  p.alpha = cs.alpha; p.beta = cs.beta;

  const int64_t a_rows = cs.ta ? cs.k : cs.m, b_rows = cs.tb ? cs.n : cs.k;
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> a(size_t(a_rows * p.lda)), b(size_t(b_rows * p.ldb));
  std::vector<float> c0(size_t(cs.m * p.ldc));
  for (float& v : a) v = dist(rng);
  for (float& v : b) v = dist(rng);
  for (float& v : c0) v = dist(rng);
  const float kSentinel = 12345.0f;  // marks the ldc padding, which must come back unchanged
  for (int64_t i = 0; i < cs.m; ++i)
    for (int64_t j = cs.n; j < p.ldc; ++j) c0[size_t(i * p.ldc + j)] = kSentinel;

  std::vector<float> ref = c0, got = c0;
  if (cs.beta == 0.0f) {  // beta == 0 must not read C: poison it
    for (int64_t i = 0; i < cs.m; ++i)
      for (int64_t j = 0; j < cs.n; ++j) got[size_t(i * p.ldc + j)] = NAN;
  }
  bot::sgemm_reference(p, a.data(), b.data(), ref.data());
  bot::sgemm(p, a.data(), b.data(), got.data(),
             cs.pool ? bot::GemmThreads::kPool : bot::GemmThreads::kCaller);

  // Error bound from the magnitudes: reference on |A|, |B|, |alpha|, |beta|, |C0|.
  std::vector<float> abs_a(a), abs_b(b), bound(c0);
  for (float& v : abs_a) v = std::fabs(v);
  for (float& v : abs_b) v = std::fabs(v);
  for (float& v : bound) v = std::fabs(v);
  bot::GemmProblem pa = p;
  pa.alpha = std::fabs(p.alpha);
  pa.beta = std::fabs(p.beta);
  bot::sgemm_reference(pa, abs_a.data(), abs_b.data(), bound.data());

  int64_t bad = 0;
  for (int64_t i = 0; i < cs.m; ++i) {
    for (int64_t j = 0; j < p.ldc; ++j) {
      const size_t idx = size_t(i * p.ldc + j);
      bool ok;
      if (j >= cs.n) {
        ok = got[idx] == kSentinel;
      } else {
        const float tol = kRelTol * bound[idx] + 1e-30f;
        ok = std::fabs(got[idx] - ref[idx]) <= tol;  // false for NaN
      }
      if (!ok && bad++ < 3) {
        std::fprintf(stderr, "MISMATCH %s at (%lld, %lld): got %.8g want %.8g\n",
                     describe(cs).c_str(), (long long)i, (long long)j, got[idx],
                     j >= cs.n ? kSentinel : ref[idx]);
      }
    }
  }
  return bad == 0;
}

}  // namespace

int main() {
  std::mt19937 rng(kSeed);
  std::vector<Case> cases;

  // Fixed shapes: degenerate, tile edges, odd primes, block crossings.
  const int64_t dims[][3] = {
      {1, 1, 1},     {1, 17, 3},     {6, 16, 1},    {7, 17, 5},      {5, 15, 257},
      {13, 31, 97},  {37, 1, 41},    {1, 53, 29},   {64, 64, 64},    {97, 101, 103},
      {145, 33, 9},  {150, 40, 513}, {300, 7, 260}, {11, 4100, 19},  {200, 200, 200},
      {31, 4113, 7}, {289, 67, 300}, {6, 4097, 258}, {433, 5, 3},    {2, 3, 600},
      // Above sgemm's threading threshold (16 MFLOP): row, column and 2-D thread grids.
      {203, 177, 311}, {500, 33, 600}, {13, 2000, 400}, {97, 4200, 40}, {12, 1800, 400}};
  const float betas[] = {0.0f, 1.0f, 0.5f};
  for (const auto& d : dims) {
    for (int t = 0; t < 4; ++t) {
      for (float beta : betas) {
        for (int pool = 0; pool < 2; ++pool) {
          const bool padded = (t + pool) % 2 == 1;
          cases.push_back({d[0], d[1], d[2], (t & 1) != 0, (t & 2) != 0, padded ? 3 : 0,
                           padded ? 5 : 0, padded ? 2 : 0, t == 3 ? -1.5f : 1.0f, beta,
                           pool == 1});
        }
      }
    }
  }
  // Random shapes, mostly small, some larger.
  std::uniform_int_distribution<int> small(1, 70), pad(0, 9), coin(0, 1), beta_pick(0, 2);
  std::uniform_int_distribution<int> large(1, 400);
  for (int i = 0; i < kRandomCases; ++i) {
    const bool big = i % 10 == 0;
    Case c{big ? large(rng) : small(rng), big ? large(rng) : small(rng),
           big ? large(rng) : small(rng), coin(rng) == 1, coin(rng) == 1, pad(rng), pad(rng),
           pad(rng), coin(rng) == 1 ? 0.75f : 1.0f, betas[beta_pick(rng)], coin(rng) == 1};
    cases.push_back(c);
  }

  int failed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    // Pool sizes 2, 3 and 4 in turn: even and odd thread grids, tm x tn with both > 1.
    if (cases[i].pool) bot::ThreadPool::global().set_size(kPoolSizes[i % 3]);
    failed += run_case(cases[i], rng) ? 0 : 1;
  }
  // k == 0 and alpha == 0: C = beta * C only.
  {
    bot::GemmProblem p = bot::gemm_problem(3, 4, 0, false, false, 1.0f, 0.5f);
    std::vector<float> c(12, 2.0f);
    bot::sgemm(p, nullptr, nullptr, c.data());
    bool ok = true;
    for (float v : c) ok = ok && v == 1.0f;
    p = bot::gemm_problem(3, 4, 5, false, false, 0.0f, 0.0f);
    std::vector<float> a(15, 1.0f), b(20, 1.0f);
    std::fill(c.begin(), c.end(), NAN);
    bot::sgemm(p, a.data(), b.data(), c.data());
    for (float v : c) ok = ok && v == 0.0f;
    if (!ok) std::fprintf(stderr, "MISMATCH k == 0 or alpha == 0 did not give beta * C\n");
    failed += ok ? 0 : 1;
  }

  const char* kernel = bot::use_avx512() ? "avx512" : bot::use_avx2_fma() ? "avx2-fma" : "portable";
  std::printf("gemm_check (%s kernel): %zu cases, %d failed\n", kernel, cases.size() + 1,
              failed);
  std::printf("%zu passed, %d failed\n", cases.size() + 1 - size_t(failed), failed);
  return failed == 0 ? 0 : 1;
}
