// FP32 <-> FP16 (IEEE binary16) conversion. f32 -> f16 rounds to nearest even, overflows
// to infinity, keeps NaN a NaN, and produces subnormals; F16C instructions are used when
// the CPU has them, with a bit-exact portable path otherwise.
#pragma once
#include <cstdint>

namespace bot {

void f32_to_f16(int64_t n, const float* x, uint16_t* y);
// x = f16_to_f32(f32_to_f16(x)) in place: FP16 storage emulated in FP32 buffers (the CPU's
// mixed-precision mode computes in FP32 on FP16-rounded values).
void f32_round_to_f16(int64_t n, float* x);
void f16_to_f32(int64_t n, const uint16_t* x, float* y);
uint16_t f32_to_f16_scalar(float x);
float f16_to_f32_scalar(uint16_t h);

}  // namespace bot
