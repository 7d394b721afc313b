// Run-time CPU feature detection; kernels compiled for AVX2/FMA/F16C or AVX-512 are only
// called when these say so. BAGOFTRICKS_NO_AVX2=1 in the environment forces the portable
// paths; BAGOFTRICKS_NO_AVX512=1 only turns off the AVX-512 kernels.
#pragma once

namespace bot {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512vl = false;
  bool os_zmm = false;  // the OS saves opmask and ZMM state (XCR0 bits 5-7, with 1-2)
};

const CpuFeatures& cpu_features();
// AVX2 and FMA both present and not disabled by BAGOFTRICKS_NO_AVX2.
bool use_avx2_fma();
bool use_f16c();
// AVX-512F/VL supported by the CPU and enabled by the OS, use_avx2_fma(), and not disabled
// by BAGOFTRICKS_NO_AVX512.
bool use_avx512();

// The core clock in GHz, measured (a dependent imul chain, 3 cycles per imul on Intel since
// Nehalem and AMD since Zen; best of many ~1 ms runs). /proc/cpuinfo often shows the
// nominal rate instead. 0 where it cannot be measured (not x86-64). Takes ~0.2 s.
double measure_clock_ghz();

}  // namespace bot
