#include "bot/cpu_features.h"

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
#endif
  return f;
}

bool disabled_by_env() {
  const char* v = std::getenv("BAGOFTRICKS_NO_AVX2");
  return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}
}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

bool use_avx2_fma() {
  static const bool use = cpu_features().avx2 && cpu_features().fma && !disabled_by_env();
  return use;
}

bool use_f16c() {
  static const bool use = cpu_features().f16c && !disabled_by_env();
  return use;
}

}  // namespace bot
