// The depthwise 3x3 backward-filter pass with AVX2/FMA: 8 channels per vector, 2 outputs
// per step of a row's interior (9 tap sums + 2 dy + 1 input = 12 of the 16 ymm registers;
// the 9 sums are 9 independent FMA chains). The kernel is
// conv2d_depthwise_backward_filter_simd.h; compiled with -mavx2 -mfma (CMake, *_avx2.cpp)
// and called from conv2d_depthwise_backward_filter.cpp only when use_avx2_fma() is true.
#include "cpu/conv2d_depthwise_backward_filter_simd.h"

namespace bot {

namespace {
constexpr int kPixAvx2 = 2;  // outputs per interior step (register budget above)
}  // namespace

void depthwise3x3_backward_filter_rows_avx2(const Depthwise3x3& d, const float* x,
                                            const float* dy, float* part, int64_t row0,
                                            int64_t row1) {
  backward_filter_rows<Avx2Lanes, kPixAvx2>(d, x, dy, part, row0, row1);
}

}  // namespace bot
