#include "bot/cpu_features.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace bot {

namespace {
CpuFeatures detect() {
  CpuFeatures f;
#if defined(BOT_HAVE_X86) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  // GCC has no __builtin_cpu_supports("f16c"): read CPUID leaf 1, ECX bit 29.
  unsigned eax = 1, ebx = 0, ecx = 0, edx = 0;
  __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx));
  f.f16c = (ecx >> 29) & 1u;
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  // ZMM registers are usable only if the OS saves their state: OSXSAVE (CPUID.1:ECX bit 27)
  // and XCR0 with SSE, AVX (bits 1-2), opmask, ZMM_Hi256 and Hi16_ZMM (bits 5-7) set.
  if ((ecx >> 27) & 1u) {
    unsigned xcr0_lo = 0, xcr0_hi = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    constexpr unsigned kZmmState = (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7);
    f.os_zmm = (xcr0_lo & kZmmState) == kZmmState;
  }
#endif
  return f;
}

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

bool disabled_by_env() { return env_flag("BAGOFTRICKS_NO_AVX2"); }
}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

bool use_avx2_fma() {
  static const bool use = cpu_features().avx2 && cpu_features().fma && !disabled_by_env();
  return use;
}

bool use_avx512() {
  static const bool use = cpu_features().avx512f && cpu_features().avx512vl &&
                          cpu_features().os_zmm && use_avx2_fma() &&
                          !env_flag("BAGOFTRICKS_NO_AVX512");
  return use;
}

bool use_f16c() {
  static const bool use = cpu_features().f16c && !disabled_by_env();
  return use;
}

double measure_clock_ghz() {
#if defined(__x86_64__)
  using Clock = std::chrono::steady_clock;
  constexpr int64_t kIters = 100'000;    // 100k x 10 imuls x 3 cycles: ~1 ms, shorter than a time slice
  constexpr double kCyclesPerIter = 30.0; // 10 dependent imuls of 3 cycles each
  constexpr int kRuns = 200;              // best of many short runs skips the interrupted ones
  double best = 0.0;
  for (int run = 0; run < kRuns; ++run) {
    uint64_t x = 3;
    auto t0 = Clock::now();
    for (int64_t i = 0; i < kIters; ++i) {
      __asm__ volatile(
          "imul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0\n\t"
          "imul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0\n\t"
          : "+r"(x));
    }
    best = std::max(best, kIters * kCyclesPerIter / std::chrono::duration<double>(Clock::now() - t0).count() * 1e-9);
  }
  return best;
#else
  return 0.0;
#endif
}

}  // namespace bot
