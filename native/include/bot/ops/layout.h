// Layout changes of image batches.
#pragma once
#include <cstdint>

namespace bot {

// x (N, C, HW) -> y (N, HW, C): PyTorch's NCHW images into the core's NHWC. x and y must
// not overlap. Split over the thread pool by rows of pixels.
void nchw_to_nhwc(int64_t n, int64_t c, int64_t hw, const float* x, float* y);
// The same in one plain loop nest: the oracle.
void nchw_to_nhwc_reference(int64_t n, int64_t c, int64_t hw, const float* x, float* y);

}  // namespace bot
