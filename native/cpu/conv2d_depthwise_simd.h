// The vector types the depthwise 3x3 kernels are written over (conv2d_depthwise_*_simd.h):
// 8 float lanes with AVX2/FMA, 16 with AVX-512F. Included only by files compiled for those
// instruction sets (*_avx2.cpp, *_avx512.cpp); the type that file's flags allow is defined.
//
// A channel block is kLanes consecutive channels of one pixel; the last block of a C that
// is not a multiple of kLanes is partial, loaded and stored under a mask (masked-off lanes
// read and write no memory). Everything here has internal linkage (an anonymous
// namespace) and uses no standard-library template: an inline function compiled with
// -mavx2 or -mavx512f must never be the copy the linker keeps for the portable code.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace bot {
namespace {

#if defined(__AVX512F__)
struct Avx512Lanes {
  static constexpr int kLanes = 16;
  using V = __m512;
  using Mask = __mmask16;
  // The first n lanes (1 <= n <= 16).
  static Mask first(int64_t n) { return Mask((1u << n) - 1u); }
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static void store(float* p, V v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  // maskz with every lane set: _mm512_max_ps itself starts from GCC 12's self-initialised
  // "undefined" vector, which -Wmaybe-uninitialized reports at every inlined use.
  static V relu(V a) { return _mm512_maskz_max_ps(Mask(0xFFFF), a, _mm512_setzero_ps()); }
};
#elif defined(__AVX2__) && defined(__FMA__)
struct Avx2Lanes {
  static constexpr int kLanes = 8;
  using V = __m256;
  struct Mask {
    __m256i bits;
  };
  // The first n lanes (1 <= n <= 8): a window of 8 into eight all-ones and eight zeros.
  static Mask first(int64_t n) {
    alignas(32) static const int32_t kWindow[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return Mask{_mm256_loadu_si256(reinterpret_cast<const __m256i*>(kWindow + 8 - n))};
  }
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V load(const float* p, Mask m) { return _mm256_maskload_ps(p, m.bits); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static void store(float* p, V v, Mask m) { _mm256_maskstore_ps(p, m.bits, v); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V relu(V a) { return _mm256_max_ps(a, _mm256_setzero_ps()); }
};
#endif

// A count as a type, to pick a template's step width or tap range inside a generic lambda.
template <int N>
struct Count {
  static constexpr int value = N;
};

// The taps s0..s1 of a kernel row that fall inside a row of w pixels for a window whose
// first tap reads column iw0 (pixels at the left and right edges lose a tap to the padding).
struct TapRange {
  int s0, s1;
};
inline TapRange taps_inside(int64_t iw0, int64_t w) {
  return TapRange{iw0 < 0 ? int(-iw0) : 0, iw0 + 2 >= w ? int(w - 1 - iw0) : 2};
}

// p + n, hidden from the optimiser: in a fully unrolled loop that walks one pointer by a
// run-time stride, GCC otherwise keeps a separate pointer per unrolled step (all live at
// once, more than the 16 general registers, so they spill and every vector load first
// loads its address from the stack). One add per step instead.
inline const float* step(const float* p, int64_t n) {
  p += n;
  __asm__("" : "+r"(p));
  return p;
}
inline float* step(float* p, int64_t n) {
  p += n;
  __asm__("" : "+r"(p));
  return p;
}

// Loads and stores of a full (kMasked false) or partial (true) channel block.
template <class T, bool kMasked>
inline typename T::V load_block(const float* p, typename T::Mask m) {
  if constexpr (kMasked) return T::load(p, m);
  else return T::load(p);
}
template <class T, bool kMasked>
inline void store_block(float* p, typename T::V v, typename T::Mask m) {
  if constexpr (kMasked) T::store(p, v, m);
  else T::store(p, v);
}

}  // namespace
}  // namespace bot
