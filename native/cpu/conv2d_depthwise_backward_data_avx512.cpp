// The depthwise 3x3 backward-data pass with AVX-512F: 16 channels per vector, 8 input
// columns per step of a row's interior (8 accumulators + 3 weights of a kernel row + 1 dy
// of the 32 zmm registers). The kernel is conv2d_depthwise_backward_data_simd.h; compiled with
// -mavx512f -mavx512vl -mfma (CMake, *_avx512.cpp) and called from
// conv2d_depthwise_backward_data.cpp only when use_avx512().
#include "cpu/conv2d_depthwise_backward_data_simd.h"

namespace bot {

namespace {
constexpr int kPixAvx512 = 8;  // input columns per interior step: 10 dy loads per 24 FMAs at stride 1
}  // namespace

void depthwise3x3_backward_data_rows_avx512(const Depthwise3x3& d, const float* dy,
                                            const float* wt, float* dx, bool accumulate,
                                            int64_t row0, int64_t row1) {
  backward_data_rows<Avx512Lanes, kPixAvx512>(d, dy, wt, dx, accumulate, row0, row1);
}

}  // namespace bot
