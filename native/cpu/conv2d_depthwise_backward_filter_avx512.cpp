// The depthwise 3x3 backward-filter pass with AVX-512F: 16 channels per vector, 4 outputs
// per step of a row's interior (9 tap sums + 4 dy + 1 input = 14 of the 32 zmm registers).
// The kernel is conv2d_depthwise_backward_filter_simd.h; compiled with -mavx512f
// -mavx512vl -mfma (CMake, *_avx512.cpp) and called from
// conv2d_depthwise_backward_filter.cpp only when use_avx512().
#include "cpu/conv2d_depthwise_backward_filter_simd.h"

namespace bot {

namespace {
constexpr int kPixAvx512 = 4;  // outputs per interior step (register budget above)
}  // namespace

void depthwise3x3_backward_filter_rows_avx512(const Depthwise3x3& d, const float* x,
                                              const float* dy, float* part, int64_t row0,
                                              int64_t row1) {
  backward_filter_rows<Avx512Lanes, kPixAvx512>(d, x, dy, part, row0, row1);
}

}  // namespace bot
