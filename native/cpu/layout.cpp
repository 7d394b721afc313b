// NCHW -> NHWC (see bot/ops/layout.h). The fast path walks blocks of 64 pixels: each channel's
// run of 64 floats is read contiguously and scattered with stride C into a block of y that
// stays in L1, so both sides stream through memory once.
#include "bot/ops/layout.h"

#include <algorithm>

#include "bot/threadpool.h"

namespace bot {

namespace {
constexpr int64_t kBlock = 64;          // pixels per block
constexpr int64_t kGrainFloats = 1 << 15;  // per parallel chunk, at least
}  // namespace

void nchw_to_nhwc(int64_t n, int64_t c, int64_t hw, const float* x, float* y) {
  const int64_t blocks = (hw + kBlock - 1) / kBlock;
  const int64_t grain = std::max<int64_t>(1, kGrainFloats / (kBlock * c));
  parallel_for(n * blocks, [&](int64_t b0, int64_t b1, int) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t img = b / blocks, p0 = b % blocks * kBlock, p1 = std::min(hw, p0 + kBlock);
      const float* src = x + img * c * hw;
      float* dst = y + img * hw * c;
      for (int64_t ch = 0; ch < c; ++ch) {
        const float* s = src + ch * hw;
        for (int64_t p = p0; p < p1; ++p) dst[p * c + ch] = s[p];
      }
    }
  }, grain);
}

void nchw_to_nhwc_reference(int64_t n, int64_t c, int64_t hw, const float* x, float* y) {
  for (int64_t i = 0; i < n; ++i)
    for (int64_t p = 0; p < hw; ++p)
      for (int64_t ch = 0; ch < c; ++ch) y[(i * hw + p) * c + ch] = x[(i * c + ch) * hw + p];
}

}  // namespace bot
