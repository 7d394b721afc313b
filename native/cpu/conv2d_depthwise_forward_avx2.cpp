// The depthwise 3x3 forward pass with AVX2/FMA: 8 channels per vector, 4 output pixels per
// step of a row's interior (4 accumulators + 3 weights of a kernel row + 1 input, and the
// 4 independent FMA chains of a step interleave with the next block's). The kernel is conv2d_depthwise_forward_simd.h; compiled with -mavx2 -mfma
// (CMake, *_avx2.cpp) and called from conv2d_depthwise_forward.cpp only when
// use_avx2_fma() is true.
#include "cpu/conv2d_depthwise_forward_simd.h"

namespace bot {

namespace {
constexpr int kPixAvx2 = 4;  // output pixels per interior step: 6 loads per 12 FMAs at stride 1
}  // namespace

void depthwise3x3_forward_rows_avx2(const Depthwise3x3& d, const float* x, const float* wt,
                                    const float* bias, bool relu, float* y, int64_t row0,
                                    int64_t row1) {
  forward_rows<Avx2Lanes, kPixAvx2>(d, x, wt, bias, relu, y, row0, row1);
}

}  // namespace bot
