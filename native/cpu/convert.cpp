// FP32 <-> FP16 conversion (see bot/ops/convert.h). The portable path does the IEEE
// rounding by hand; convert_avx2.cpp uses F16C's vcvtps2ph / vcvtph2ps, 8 lanes at a time.
#include "bot/ops/convert.h"

#include <cstring>

#include "bot/cpu_features.h"
#include "bot/threadpool.h"

namespace bot {

// Defined in convert_avx2.cpp (x86 builds only); process floor(n / 8) * 8 elements.
void f32_to_f16_f16c(int64_t n, const float* x, uint16_t* y);
void f16_to_f32_f16c(int64_t n, const uint16_t* x, float* y);
void f32_round_to_f16_f16c(int64_t n, float* x);

uint16_t f32_to_f16_scalar(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // Inf or NaN; NaN keeps a quiet payload bit
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u | ((abs >> 13) & 0x3ffu) : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520: Inf
  if (abs < 0x38800000u) {  // below 2^-14: subnormal half (or zero)
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // below 2^-25: rounds to 0
    const uint32_t exp = abs >> 23;
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;  // with the implicit bit
    // value = mant * 2^(exp - 150) and the half subnormal unit is 2^-24, so the half's
    // mantissa is mant * 2^(exp - 126): shift right by 126 - exp (14..24 here).
    const uint32_t shift = 126 - exp;
    uint32_t q = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1u))) ++q;  // round to nearest even
    return static_cast<uint16_t>(sign | q);
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits.
  uint32_t h = ((abs - 0x38000000u) >> 13);
  const uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent
  return static_cast<uint16_t>(sign | h);
}

float f16_to_f32_scalar(uint16_t h) {
  const uint32_t sign = (uint32_t(h) & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0x1fu) {
    x = sign | 0x7f800000u | (mant << 13);  // Inf / NaN
  } else if (exp != 0) {
    x = sign | ((exp + 112u) << 23) | (mant << 13);  // 112 = 127 - 15
  } else if (mant == 0) {
    x = sign;
  } else {  // subnormal half: mant * 2^-24, normalise
    float v = float(mant) * 5.9604644775390625e-08f;  // 2^-24
    std::memcpy(&x, &v, 4);
    x |= sign;
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

namespace {
constexpr int64_t kGrain = 1 << 16;  // 64K elements per chunk; conversion is memory bound
}

void f32_to_f16(int64_t n, const float* x, uint16_t* y) {
  parallel_for(n, [&](int64_t b, int64_t e, int) {
    int64_t done = 0;
#ifdef BOT_HAVE_X86
    if (use_f16c()) {
      f32_to_f16_f16c(e - b, x + b, y + b);
      done = (e - b) / 8 * 8;
    }
#endif
    for (int64_t i = b + done; i < e; ++i) y[i] = f32_to_f16_scalar(x[i]);
  }, kGrain);
}

void f16_to_f32(int64_t n, const uint16_t* x, float* y) {
  parallel_for(n, [&](int64_t b, int64_t e, int) {
    int64_t done = 0;
#ifdef BOT_HAVE_X86
    if (use_f16c()) {
      f16_to_f32_f16c(e - b, x + b, y + b);
      done = (e - b) / 8 * 8;
    }
#endif
    for (int64_t i = b + done; i < e; ++i) y[i] = f16_to_f32_scalar(x[i]);
  }, kGrain);
}

void f32_round_to_f16(int64_t n, float* x) {
  parallel_for(n, [&](int64_t b, int64_t e, int) {
    int64_t done = 0;
#ifdef BOT_HAVE_X86
    if (use_f16c()) {
      f32_round_to_f16_f16c(e - b, x + b);
      done = (e - b) / 8 * 8;
    }
#endif
    for (int64_t i = b + done; i < e; ++i) x[i] = f16_to_f32_scalar(f32_to_f16_scalar(x[i]));
  }, kGrain);
}

}  // namespace bot
