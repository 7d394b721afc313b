// The depthwise 3x3 backward-filter pass with AVX2/FMA: 8 channels per vector, 4 outputs
// per step of a row's interior (4 dy + 3 tap sums of a kernel row + 1 input of the 16 ymm
// registers). The kernel is
// conv2d_depthwise_backward_filter_simd.h; compiled with -mavx2 -mfma (CMake, *_avx2.cpp)
// and called from conv2d_depthwise_backward_filter.cpp only when use_avx2_fma() is true.
#include "cpu/conv2d_depthwise_backward_filter_simd.h"

namespace bot {

namespace {
constexpr int kPixAvx2 = 4;  // outputs per interior step: 6 input loads per 12 FMAs at stride 1
}  // namespace

void depthwise3x3_backward_filter_rows_avx2(const Depthwise3x3& d, const float* x,
                                            const float* dy, float* part, float* row_sums,
                                            int64_t row0, int64_t row1) {
  backward_filter_rows<Avx2Lanes, kPixAvx2>(d, x, dy, part, row_sums, row0, row1);
}

}  // namespace bot
