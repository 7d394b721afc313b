// gemm_bench: GFLOP/s of bot::sgemm on square sizes, on 1 thread and on all threads, beside
// the machine's FMA peak and, when it can be loaded, OpenBLAS's cblas_sgemm in the same run.
//
//   build-gemm/gemm_bench [size ...]        default sizes: 256 512 1024 2048
//
// Peak per core = 32 FLOP/cycle (2 FMA units x 8 floats x 2 FLOP, AVX2) x the clock, and
// the clock is measured here, not read from /proc/cpuinfo (which shows the nominal or TSC
// rate): a chain of dependent 64-bit imul instructions runs at one per 3 cycles on every
// x86-64 core of the last decade, so cycles = 3 x count. An AVX2 FMA throughput loop is
// timed too, as a check that 32 FLOP/cycle is reachable.
// OpenBLAS is a peer, never a dependency: it is opened with dlopen (libopenblas.so.0) and
// skipped when absent. OPENBLAS_CORETYPE=Haswell in the environment makes it use its AVX2
// kernels (otherwise it may pick AVX-512 ones where the CPU has them).
// Output: a table, then one JSON line.
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bot/cpu_features.h"
#include "bot/ops/gemm.h"
#include "bot/threadpool.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kFlopPerCycleAvx2 = 32.0;  // 2 FMA pipes x 8 fp32 lanes x 2 FLOP per FMA
constexpr double kMinSeconds = 0.5;         // time each point for at least this long
constexpr int kMinReps = 3;                 // and at least this many calls (best one counts)

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

#if defined(__x86_64__)
// FMA throughput: 12 independent accumulators (enough to cover latency 4-5 x 2 pipes).
__attribute__((target("avx2,fma"))) double measure_fma_gflops() {
  constexpr int64_t kIters = 200'000;  // 200k x 12 FMAs x 16 FLOP = 38 MFLOP: ~0.4 ms per run
  constexpr int kRuns = 200;           // best of many short runs skips the interrupted ones
  double best = 0.0;
  for (int run = 0; run < kRuns; ++run) {
    auto t0 = Clock::now();
    __asm__ volatile(
        "vxorps %%ymm0, %%ymm0, %%ymm0\n\t"
        "vxorps %%ymm1, %%ymm1, %%ymm1\n\t"
        "vxorps %%ymm2, %%ymm2, %%ymm2\n\t"
        "vxorps %%ymm3, %%ymm3, %%ymm3\n\t"
        "vxorps %%ymm4, %%ymm4, %%ymm4\n\t"
        "vxorps %%ymm5, %%ymm5, %%ymm5\n\t"
        "vxorps %%ymm6, %%ymm6, %%ymm6\n\t"
        "vxorps %%ymm7, %%ymm7, %%ymm7\n\t"
        "vxorps %%ymm8, %%ymm8, %%ymm8\n\t"
        "vxorps %%ymm9, %%ymm9, %%ymm9\n\t"
        "vxorps %%ymm10, %%ymm10, %%ymm10\n\t"
        "vxorps %%ymm11, %%ymm11, %%ymm11\n\t"
        "vxorps %%ymm12, %%ymm12, %%ymm12\n\t"
        "vxorps %%ymm13, %%ymm13, %%ymm13\n\t"
        "mov %0, %%rcx\n\t"
        "1:\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm0\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm1\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm2\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm3\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm4\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm5\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm6\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm7\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm8\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm9\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm10\n\t"
        "vfmadd231ps %%ymm12, %%ymm13, %%ymm11\n\t"
        "dec %%rcx\n\t"
        "jnz 1b\n\t"
        "vzeroupper\n\t"
        :
        : "r"(kIters)
        : "rcx", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
          "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13");
    best = std::max(best, kIters * 12.0 * 16.0 / seconds_since(t0) * 1e-9);
  }
  return best;
}
#endif

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto pos = line.find(':');
      if (pos != std::string::npos) return line.substr(pos + 2);
    }
  }
  return "unknown";
}

// OpenBLAS, opened at run time.
struct OpenBlas {
  using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*,
                           int, float, float*, int);
  using SetThreadsFn = void (*)(int);
  using CoreNameFn = char* (*)();
  SgemmFn sgemm = nullptr;
  SetThreadsFn set_threads = nullptr;
  std::string core = "";
  bool load() {
    void* h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) h = dlopen("libopenblas.so", RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) return false;
    sgemm = reinterpret_cast<SgemmFn>(dlsym(h, "cblas_sgemm"));
    set_threads = reinterpret_cast<SetThreadsFn>(dlsym(h, "openblas_set_num_threads"));
    if (auto name = reinterpret_cast<CoreNameFn>(dlsym(h, "openblas_get_corename")))
      core = name();
    return sgemm != nullptr;
  }
};
constexpr int kCblasRowMajor = 101;  // CBLAS_ORDER / CBLAS_TRANSPOSE values from cblas.h
constexpr int kCblasNoTrans = 111;
constexpr int kCblasTrans = 112;

// Best GFLOP/s of fn() over at least kMinReps calls and kMinSeconds, after one warm-up.
template <typename Fn>
double time_gflops(double flops, Fn fn) {
  fn();
  double best = 1e30, total = 0.0;
  for (int rep = 0; rep < kMinReps || total < kMinSeconds; ++rep) {
    auto t0 = Clock::now();
    fn();
    double s = seconds_since(t0);
    best = std::min(best, s);
    total += s;
  }
  return flops / best * 1e-9;
}

struct Row {
  int64_t size;
  int threads;
  bool ta, tb;
  double gflops, openblas;
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoll(argv[i]));
  if (sizes.empty()) sizes = {256, 512, 1024, 2048};

  const int all_threads = std::max(1u, std::thread::hardware_concurrency());
  const double ghz = bot::measure_clock_ghz();
  // The AVX-512 kernel's FMAs are twice as wide (on cores with full-width 512-bit FMA units).
  const double flop_per_cycle = bot::use_avx512() ? 2 * kFlopPerCycleAvx2 : kFlopPerCycleAvx2;
  const double peak_core = flop_per_cycle * ghz;
#if defined(__x86_64__)
  const double fma_loop = bot::use_avx2_fma() ? measure_fma_gflops() : 0.0;
#else
  const double fma_loop = 0.0;
#endif
  OpenBlas ob;
  const bool have_ob = ob.load();
  const char* kernel = bot::use_avx512() ? "avx512" : bot::use_avx2_fma() ? "avx2-fma" : "portable";

  std::printf("gemm_bench: %s, %d threads, kernel %s\n", cpu_model().c_str(), all_threads,
              kernel);
  std::printf("clock %.2f GHz (imul chain) -> peak %.1f GFLOP/s per core (%.0f FLOP/cycle); "
              "AVX2 FMA loop measured %.1f GFLOP/s\n",
              ghz, peak_core, flop_per_cycle, fma_loop);
  std::printf("OpenBLAS: %s\n\n", have_ob ? ("libopenblas.so.0, core " + ob.core).c_str()
                                          : "not found (skipped)");

  std::vector<Row> rows;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  auto run = [&](int64_t n, int threads, bool ta, bool tb) {
    std::vector<float> a(size_t(n * n)), b(size_t(n * n)), c(size_t(n * n));
    for (float& v : a) v = dist(rng);
    for (float& v : b) v = dist(rng);
    bot::GemmProblem p = bot::gemm_problem(n, n, n, ta, tb);
    bot::ThreadPool::global().set_size(threads);
    Row r{n, threads, ta, tb, 0.0, 0.0};
    r.gflops = time_gflops(p.flops(), [&] { bot::sgemm(p, a.data(), b.data(), c.data()); });
    if (have_ob) {
      if (ob.set_threads != nullptr) ob.set_threads(threads);
      const int in = int(n);
      r.openblas = time_gflops(p.flops(), [&] {
        ob.sgemm(kCblasRowMajor, ta ? kCblasTrans : kCblasNoTrans,
                 tb ? kCblasTrans : kCblasNoTrans, in, in, in, 1.0f, a.data(), in, b.data(), in,
                 0.0f, c.data(), in);
      });
    }
    rows.push_back(r);
  };
  for (int64_t n : sizes) {
    run(n, 1, false, false);
    if (all_threads > 1) run(n, all_threads, false, false);
  }
  // The transposed layouts (used by the backward passes) at one size, one thread.
  const int64_t tsize = std::find(sizes.begin(), sizes.end(), 1024) != sizes.end() ? 1024
                                                                                   : sizes[0];
  run(tsize, 1, true, false);
  run(tsize, 1, false, true);
  run(tsize, 1, true, true);

  std::printf("%6s %4s %7s %8s %8s %10s %8s\n", "size", "thr", "op", "GFLOP/s", "%peak",
              "OpenBLAS", "ours/OB");
  for (const Row& r : rows) {
    const double pct = 100.0 * r.gflops / (peak_core * r.threads);
    const char* op = r.ta ? (r.tb ? "TT" : "TN") : (r.tb ? "NT" : "NN");
    if (have_ob) {
      std::printf("%6lld %4d %7s %8.1f %7.1f%% %10.1f %8.2f\n", (long long)r.size, r.threads,
                  op, r.gflops, pct, r.openblas, r.gflops / r.openblas);
    } else {
      std::printf("%6lld %4d %7s %8.1f %7.1f%% %10s %8s\n", (long long)r.size, r.threads, op,
                  r.gflops, pct, "-", "-");
    }
  }

  std::printf("{\"bench\":\"gemm\",\"cpu\":\"%s\",\"kernel\":\"%s\",\"clock_ghz\":%.3f,"
              "\"peak_gflops_per_core\":%.1f,\"fma_loop_gflops\":%.1f,\"openblas\":%s,"
              "\"results\":[",
              cpu_model().c_str(), kernel, ghz, peak_core, fma_loop,
              have_ob ? ("\"" + ob.core + "\"").c_str() : "null");
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const char* op = r.ta ? (r.tb ? "TT" : "TN") : (r.tb ? "NT" : "NN");
    std::printf("%s{\"size\":%lld,\"threads\":%d,\"op\":\"%s\",\"gflops\":%.2f,"
                "\"pct_peak\":%.1f",
                i ? "," : "", (long long)r.size, r.threads, op, r.gflops,
                100.0 * r.gflops / (peak_core * r.threads));
    if (have_ob) std::printf(",\"openblas_gflops\":%.2f,\"ratio\":%.3f", r.openblas,
                             r.gflops / r.openblas);
    std::printf("}");
  }
  std::printf("]}\n");
  return 0;
}
