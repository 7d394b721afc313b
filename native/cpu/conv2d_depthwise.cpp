// The pieces the three depthwise 3x3 ops share (see conv2d_depthwise.h): which problems
// they take, the tap-major weights, and the instruction set they run with.
#include "cpu/conv2d_depthwise.h"

#include <cstddef>
#include <vector>

#include "bot/cpu_features.h"

namespace bot {

bool depthwise3x3_applies(const Conv2dProblem& p) {
  return p.groups == p.c && p.k == p.c && p.r == 3 && p.s == 3 && p.pad_h == 1 && p.pad_w == 1 &&
         (p.stride_h == 1 || p.stride_h == 2) && (p.stride_w == 1 || p.stride_w == 2);
}

const float* depthwise3x3_taps(const Depthwise3x3& d, const float* w) {
  // Grows and is never shrunk, so a steady caller allocates nothing.
  thread_local std::vector<float> buf;
  const int64_t n = Depthwise3x3::kTaps * d.c;
  if (int64_t(buf.size()) < n) buf.resize(size_t(n));
  for (int64_t c = 0; c < d.c; ++c)
    for (int64_t t = 0; t < Depthwise3x3::kTaps; ++t) buf[size_t(t * d.c + c)] = w[c * Depthwise3x3::kTaps + t];
  return buf.data();
}

const char* depthwise3x3_isa() {
#if defined(BOT_HAVE_X86)
  if (use_avx512()) return "avx512";
  if (use_avx2_fma()) return "avx2";
#endif
  return "portable";
}

}  // namespace bot
