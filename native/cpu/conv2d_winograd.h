// Internals of the Winograd convolution (not a public header): F(4x4, 3x3) for the 3x3,
// stride-1, padding-1 convolutions of inference (a batch norm folded in), after Lavin and
// Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016.
//
// The output is cut into 4x4 tiles; each reads a 6x6 window of the input. Per tile and
// channel, V = B^T d B (36 values); per output channel, the weights are transformed once,
// U = G g G^T (36 values per input channel). Then for each of the 36 positions xi, one
// GEMM over the channels: M[xi] (tiles, K) = V[xi] (tiles, C) * U[xi] (C, K), and each
// tile's 4x4 outputs are Y = A^T m A, plus the bias, then the ReLU. This computes 36
// multiply-adds per channel pair for 16 outputs where the direct convolution needs 144.
//
//   x (N, H, W, C)   y (N, H, W, K)   packed: U[xi] for xi = 0..35, each as sgemm_pack_b
//   lays out the (C, K) operand B (sgemm_packed_b_numel(C, K) floats apart)
//
// The transforms keep the channels in the vector lanes (NHWC: one pixel's channels are
// contiguous) and run on a block of tiles at a time, so that V and M stay in the L2 cache
// between the transform and the GEMM; blocks are split across the thread pool. The
// transforms are one template (conv2d_winograd_simd.h) instantiated per instruction set;
// the AVX-512 build also has its own GEMM kernel, which reads V row-major where the
// other builds go through sgemm (which packs V first).
//
// The error against the direct convolution is larger than the GEMM's (the transforms
// scale values by up to 8x10 and add them): see test/conv2d-winograd.test.ts and the
// README's inference section for the measured error.
#pragma once
#include <cstdint>

#include "bot/ops/conv2d.h"

namespace bot {

// 3x3 kernel, stride 1, padding 1, groups 1, K at most the GEMM's column block: the
// problems the algorithm takes; winograd_applies: those with at least 16 output tiles of
// 4x4 (over the batch), unless BAGOFTRICKS_NO_WINOGRAD=1 (the problems the packed forward
// runs this way).
bool winograd_fits(const Conv2dProblem& p);
bool winograd_applies(const Conv2dProblem& p);

// The weights transformed and packed (KRSC in): winograd_packed_numel floats, 32-byte
// aligned.
int64_t winograd_packed_numel(const Conv2dProblem& p);
void winograd_pack_weights(const Conv2dProblem& p, const float* w, float* packed);

// y = conv(x, w) + bias (+ residual), then ReLU when asked, from packed weights (bias and
// residual may be null).
void winograd_forward(const Conv2dProblem& p, const float* x, const float* packed,
                      const float* bias, bool relu, float* y, const float* residual = nullptr);

// The same algorithm in plain scalar loops, one tile and one channel at a time, from KRSC
// weights: the oracle of the fast path's indexing (it rounds as the fast path does, up to
// the order of the GEMM's sums).
void winograd_forward_reference(const Conv2dProblem& p, const float* x, const float* w,
                                const float* bias, bool relu, float* y);

namespace winograd {

constexpr int kTile = 4;     // outputs per tile side
constexpr int kWindow = 6;   // inputs per tile side
constexpr int kPoints = 36;  // kWindow^2 GEMMs

// One block of tiles: `rows` tiles starting at tile `first` (tiles are numbered n-major,
// then tile row, then tile column), `tiles_h` x `tiles_w` tiles per image.
struct Block {
  int64_t n, h, w, c, k;  // problem sizes (P = H, Q = W)
  int64_t tiles_h, tiles_w;
  int64_t first, rows;    // tiles of this block; V and M hold `stride` rows (>= rows)
  int64_t stride;
  int64_t kp;             // K rounded up to the GEMM's 16 columns: M's row length
  int64_t k_begin, k_end; // output channels of this block: k_begin a multiple of 16
  const float* residual;  // null, or an input shaped as y added before the ReLU
};

// V[xi] (stride, C) row-major, xi-major, for the block's tiles (rows past `rows` are zero).
void input_transform_avx512(const Block& b, const float* x, float* v);
void input_transform_avx2(const Block& b, const float* x, float* v);
void input_transform_portable(const Block& b, const float* x, float* v);
// y channels [k_begin, k_end) from M[xi] (stride, kp): Y = A^T m A + bias (+ residual), ReLU.
void output_transform_avx512(const Block& b, const float* m, const float* bias, bool relu, float* y);
void output_transform_avx2(const Block& b, const float* m, const float* bias, bool relu, float* y);
void output_transform_portable(const Block& b, const float* m, const float* bias, bool relu, float* y);
// M[xi] = V[xi] * U[xi] for the 36 points, columns [k_begin, k_end) rounded out to whole
// 16-column panels (AVX-512 only; elsewhere sgemm, which takes every column).
void gemm_avx512(const Block& b, const float* v, const float* packed, float* m);

}  // namespace winograd
}  // namespace bot
