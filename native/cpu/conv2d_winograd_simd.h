// The Winograd F(4x4, 3x3) input and output transforms (see conv2d_winograd.h) as one
// template over the channel block: plain loops over W channels at a time, which the
// compiler turns into vector code for the instruction set of the file that instantiates
// it (conv2d_winograd_avx512.cpp, _avx2.cpp, and conv2d_winograd.cpp for the portable
// build). Channels past the last full block take the W = 1 instance.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "cpu/conv2d_winograd.h"

namespace bot {
namespace winograd {

// B^T applied to one 6-vector (Lavin and Gray's F(4, 3) with interpolation points
// 0, +-1, +-2 and infinity).
template <int W>
inline void input_1d(const float (*d)[W], int step, float (*t)[W], int tstep) {
  for (int v = 0; v < W; ++v) {
    const float d0 = d[0][v], d1 = d[step][v], d2 = d[2 * step][v];
    const float d3 = d[3 * step][v], d4 = d[4 * step][v], d5 = d[5 * step][v];
    t[0][v] = 4.0f * d0 - 5.0f * d2 + d4;
    t[tstep][v] = -4.0f * (d1 + d2) + d3 + d4;
    t[2 * tstep][v] = 4.0f * (d1 - d2) - d3 + d4;
    t[3 * tstep][v] = 2.0f * (d3 - d1) - d2 + d4;
    t[4 * tstep][v] = 2.0f * (d1 - d3) - d2 + d4;
    t[5 * tstep][v] = 4.0f * d1 - 5.0f * d3 + d5;
  }
}

// A^T applied to one 6-vector.
template <int W>
inline void output_1d(const float (*m)[W], int step, float (*o)[W], int ostep) {
  for (int v = 0; v < W; ++v) {
    const float m0 = m[0][v], m1 = m[step][v], m2 = m[2 * step][v];
    const float m3 = m[3 * step][v], m4 = m[4 * step][v], m5 = m[5 * step][v];
    const float a = m1 + m2, b = m1 - m2, c = m3 + m4, e = m3 - m4;
    o[0][v] = m0 + a + c;
    o[ostep][v] = b + 2.0f * e;
    o[2 * ostep][v] = a + 4.0f * c;
    o[3 * ostep][v] = b + 8.0f * e + m5;
  }
}

// Tile `row` of the block: image n, tile row ty, tile column tx.
inline void tile_position(const Block& b, int64_t row, int64_t* n, int64_t* ty, int64_t* tx) {
  const int64_t t = b.first + row;
  const int64_t per_image = b.tiles_h * b.tiles_w;
  *n = t / per_image;
  *ty = t % per_image / b.tiles_w;
  *tx = t % b.tiles_w;
}

// Channels [c0, c0 + W) of one tile: the 6x6 window (zero outside the image), then
// V = B^T d B into v[xi * stride * C + row * C + c].
template <int W>
inline void input_tile(const Block& b, const float* x, int64_t row, int64_t c0, float* v) {
  int64_t n, ty, tx;
  tile_position(b, row, &n, &ty, &tx);
  float d[kPoints][W];
  for (int i = 0; i < kWindow; ++i) {
    const int64_t iy = ty * kTile - 1 + i;
    for (int j = 0; j < kWindow; ++j) {
      const int64_t ix = tx * kTile - 1 + j;
      float* dst = d[i * kWindow + j];
      if (iy < 0 || iy >= b.h || ix < 0 || ix >= b.w) {
        for (int l = 0; l < W; ++l) dst[l] = 0.0f;
      } else {
        const float* src = x + ((n * b.h + iy) * b.w + ix) * b.c + c0;
        for (int l = 0; l < W; ++l) dst[l] = src[l];
      }
    }
  }
  float t[kPoints][W];
  for (int j = 0; j < kWindow; ++j) input_1d<W>(d + j, kWindow, t + j, kWindow);  // columns
  float u[kPoints][W];
  for (int i = 0; i < kWindow; ++i) input_1d<W>(t + i * kWindow, 1, u + i * kWindow, 1);  // rows
  const int64_t plane = b.stride * b.c;
  for (int xi = 0; xi < kPoints; ++xi) {
    float* dst = v + xi * plane + row * b.c + c0;
    for (int l = 0; l < W; ++l) dst[l] = u[xi][l];
  }
}

template <int W>
void input_transform(const Block& b, const float* x, float* v) {
  const int64_t full = b.c / W * W;
  for (int64_t row = 0; row < b.rows; ++row) {
    for (int64_t c0 = 0; c0 < full; c0 += W) input_tile<W>(b, x, row, c0, v);
    for (int64_t c0 = full; c0 < b.c; ++c0) input_tile<1>(b, x, row, c0, v);
  }
  // Rows past the block's tiles: zero, so the GEMM's extra rows stay finite.
  const int64_t plane = b.stride * b.c;
  for (int xi = 0; xi < kPoints; ++xi) {
    float* dst = v + xi * plane + b.rows * b.c;
    std::memset(dst, 0, size_t((b.stride - b.rows) * b.c) * sizeof(float));
  }
}

// Output channels [k0, k0 + W) of one tile: Y = A^T m A + bias, ReLU, stored where the
// tile lies inside the image.
template <int W>
inline void output_tile(const Block& b, const float* m, int64_t row, int64_t k0, const float* bias,
                        bool relu, float* y) {
  int64_t n, ty, tx;
  tile_position(b, row, &n, &ty, &tx);
  const int64_t plane = b.stride * b.kp;
  float mm[kPoints][W];
  for (int xi = 0; xi < kPoints; ++xi) {
    const float* src = m + xi * plane + row * b.kp + k0;
    for (int l = 0; l < W; ++l) mm[xi][l] = src[l];
  }
  float s[kTile * kWindow][W];
  for (int j = 0; j < kWindow; ++j) output_1d<W>(mm + j, kWindow, s + j, kWindow);  // columns
  float o[kTile * kTile][W];
  for (int i = 0; i < kTile; ++i) output_1d<W>(s + i * kWindow, 1, o + i * kTile, 1);  // rows
  float bv[W];
  for (int l = 0; l < W; ++l) bv[l] = bias != nullptr ? bias[k0 + l] : 0.0f;
  const int64_t rows = std::min<int64_t>(kTile, b.h - ty * kTile);
  const int64_t cols = std::min<int64_t>(kTile, b.w - tx * kTile);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t at = ((n * b.h + ty * kTile + i) * b.w + tx * kTile + j) * b.k + k0;
      float* dst = y + at;
      const float* src = o[i * kTile + j];
      if (b.residual != nullptr) {
        const float* res = b.residual + at;
        for (int l = 0; l < W; ++l) {
          const float val = src[l] + bv[l] + res[l];
          dst[l] = relu ? std::max(val, 0.0f) : val;
        }
        continue;
      }
      for (int l = 0; l < W; ++l) {
        const float val = src[l] + bv[l];
        dst[l] = relu ? std::max(val, 0.0f) : val;
      }
    }
  }
}

template <int W>
void output_transform(const Block& b, const float* m, const float* bias, bool relu, float* y) {
  const int64_t full = b.k_begin + (b.k_end - b.k_begin) / W * W;
  for (int64_t row = 0; row < b.rows; ++row) {
    for (int64_t k0 = b.k_begin; k0 < full; k0 += W) output_tile<W>(b, m, row, k0, bias, relu, y);
    for (int64_t k0 = full; k0 < b.k_end; ++k0) output_tile<1>(b, m, row, k0, bias, relu, y);
  }
}

}  // namespace winograd
}  // namespace bot
