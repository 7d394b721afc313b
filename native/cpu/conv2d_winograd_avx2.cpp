// The Winograd transforms (conv2d_winograd_simd.h) for AVX2 + FMA: 16 channels per step,
// two ymm. Compiled with -mavx2 -mfma (CMake, *_avx2.cpp); only called when
// bot::use_avx2_fma().
#include "cpu/conv2d_winograd_simd.h"

namespace bot {
namespace winograd {

void input_transform_avx2(const Block& b, const float* x, float* v) { input_transform<16>(b, x, v); }

void output_transform_avx2(const Block& b, const float* m, const float* bias, bool relu, float* y) {
  output_transform<16>(b, m, bias, relu, y);
}

}  // namespace winograd
}  // namespace bot
