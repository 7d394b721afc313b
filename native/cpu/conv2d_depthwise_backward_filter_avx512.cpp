// The depthwise 3x3 backward-filter pass with AVX-512F: 16 channels per vector, 8 outputs
// per step of a row's interior (8 dy + 3 tap sums of a kernel row + 1 input of the 32 zmm
// registers).
// The kernel is conv2d_depthwise_backward_filter_simd.h; compiled with -mavx512f
// -mavx512vl -mfma (CMake, *_avx512.cpp) and called from
// conv2d_depthwise_backward_filter.cpp only when use_avx512().
#include "cpu/conv2d_depthwise_backward_filter_simd.h"

namespace bot {

namespace {
constexpr int kPixAvx512 = 8;  // outputs per interior step: 10 input loads per 24 FMAs at stride 1
}  // namespace

void depthwise3x3_backward_filter_rows_avx512(const Depthwise3x3& d, const float* x,
                                              const float* dy, float* part, float* row_sums,
                                              int64_t row0, int64_t row1) {
  backward_filter_rows<Avx512Lanes, kPixAvx512>(d, x, dy, part, row_sums, row0, row1);
}

}  // namespace bot
