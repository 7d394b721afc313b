// The depthwise 3x3 forward pass with AVX-512F: 16 channels per vector, 8 output pixels per
// step of a row's interior (8 accumulators + 3 weights of a kernel row + 1 input of the
// 32 zmm registers; 8 independent FMA chains cover the FMA latency of two pipes). The kernel is
// conv2d_depthwise_forward_simd.h; compiled with -mavx512f -mavx512vl -mfma (CMake,
// *_avx512.cpp) and called from conv2d_depthwise_forward.cpp only when use_avx512().
#include "cpu/conv2d_depthwise_forward_simd.h"

namespace bot {

namespace {
constexpr int kPixAvx512 = 8;  // output pixels per interior step: 10 loads per 24 FMAs at stride 1
}  // namespace

void depthwise3x3_forward_rows_avx512(const Depthwise3x3& d, const float* x, const float* wt,
                                      const float* bias, bool relu, float* y, int64_t row0,
                                      int64_t row1) {
  forward_rows<Avx512Lanes, kPixAvx512>(d, x, wt, bias, relu, y, row0, row1);
}

}  // namespace bot
