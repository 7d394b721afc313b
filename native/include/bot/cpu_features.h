// Run-time CPU feature detection; kernels compiled for AVX2/FMA/F16C are only called when
// these say so. BAGOFTRICKS_NO_AVX2=1 in the environment forces the portable paths.
#pragma once

namespace bot {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
};

const CpuFeatures& cpu_features();
// AVX2 and FMA both present and not disabled by BAGOFTRICKS_NO_AVX2.
bool use_avx2_fma();
bool use_f16c();

}  // namespace bot
