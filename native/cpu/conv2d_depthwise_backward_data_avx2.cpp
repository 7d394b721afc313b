// The depthwise 3x3 backward-data pass with AVX2/FMA: 8 channels per vector, 4 input
// columns per step of a row's interior (4 accumulators + 3 weights of a kernel row + 1 dy
// of the 16 ymm registers). The kernel is conv2d_depthwise_backward_data_simd.h; compiled with
// -mavx2 -mfma (CMake, *_avx2.cpp) and called from conv2d_depthwise_backward_data.cpp only
// when use_avx2_fma() is true.
#include "cpu/conv2d_depthwise_backward_data_simd.h"

namespace bot {

namespace {
constexpr int kPixAvx2 = 4;  // input columns per interior step: 6 dy loads per 12 FMAs at stride 1
}  // namespace

void depthwise3x3_backward_data_rows_avx2(const Depthwise3x3& d, const float* dy,
                                          const float* wt, float* dx, bool accumulate,
                                          int64_t row0, int64_t row1) {
  backward_data_rows<Avx2Lanes, kPixAvx2>(d, dy, wt, dx, accumulate, row0, row1);
}

}  // namespace bot
