// conv2d on the CPU: forward, backward-data, backward-filter (see bot/ops/conv2d.h), and
// Conv2dProblem::validate. The oracles live in conv2d_reference.cpp.
//
//   x, dx  (N, H, W, C)      w, dw  (K, R, S, Cg)      y, dy  (N, P, Q, K)
//   M = N*P*Q output pixels, RSC = R*S*C (the length of one im2col row when groups == 1)
//
// groups == 1 runs on bot::sgemm:
//   - 1x1, stride 1, pad 0 is a plain GEMM on NHWC, no copy at all:
//       y (M, K) = x (M, C) * w^T,  dx (M, C) = dy (M, K) * w,  dw (K, C) = dy^T * x.
//   - everything else is lowered to im2col one row tile at a time (never the whole
//     batch): col (T, RSC) holds the receptive fields of T output pixels, then
//       forward          y[tile] (T, K)  = col * w^T
//       backward-data    dcol (T, RSC)   = dy[tile] * w, scattered back with col2im
//       backward-filter  dw (K, RSC)    += dy[tile]^T * col
//     In NHWC one kernel row of a receptive field is S*C contiguous floats, so im2col is
//     a memcpy per kernel row when the window is inside the image; a 1x1 strided
//     convolution (the ResNet downsample) degenerates to a gather of C-float rows.
//   Tiles are split across the thread pool (sgemm on the calling thread, per-thread
//   scratch) when there are at least as many tiles as threads; otherwise they run one
//   after another and sgemm uses the pool. The weights, the GEMM's B operand in forward
//   and backward-data, are packed once per call and shared by all the tiles.
//   conv2d_forward_bias (a conv with a BN folded in, inference) adds the bias (and a
//   residual block's shortcut, when given) and applies the ReLU to each tile as it leaves
//   the GEMM, still in cache; it tiles the 1x1 GEMM too, and can take weights packed once
//   for many calls (conv2d_pack_weights). Packed stride-1 3x3 convolutions with padding 1
//   and at least 16 output tiles of 4x4 run as Winograd F(4x4, 3x3) instead
//   (conv2d_winograd.cpp), with the same epilogue in its output transform.
//   conv2d_backward_data_accumulate adds dx into the caller's buffer (beta = 1 for 1x1;
//   the scatter-add of col2im does it anyway).
//
// groups > 1: a 3x3 depthwise convolution (groups == C == K, padding 1, strides 1 or 2:
// MobileNet's) runs the kernels of conv2d_depthwise_*.cpp (AVX-512 / AVX2 / plain loops,
// chosen at run time). Every other grouped convolution runs the direct loops below, over
// NHWC pixels with the inner loop over channels; the weights are first transposed so
// that, for one kernel tap, the weights of consecutive channels are contiguous.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "bot/ops/conv2d.h"
#include "bot/ops/gemm.h"
#include "bot/status.h"
#include "bot/threadpool.h"
#include "cpu/conv2d_depthwise.h"
#include "cpu/conv2d_winograd.h"

namespace bot {

// ---------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------

namespace {

// Every size, stride and pad is at most 2^31 - 1, so sums like h + 2*pad_h cannot
// overflow; products are checked one factor at a time below.
constexpr int64_t kMaxDim = std::numeric_limits<int32_t>::max();

std::string problem_str(const Conv2dProblem& p) {
  return "x (" + std::to_string(p.n) + ", " + std::to_string(p.h) + ", " + std::to_string(p.w) +
         ", " + std::to_string(p.c) + "), w (" + std::to_string(p.k) + ", " +
         std::to_string(p.r) + ", " + std::to_string(p.s) + ", C/" + std::to_string(p.groups) +
         "), stride (" + std::to_string(p.stride_h) + ", " + std::to_string(p.stride_w) +
         "), pad (" + std::to_string(p.pad_h) + ", " + std::to_string(p.pad_w) + ")";
}

void check_product(std::initializer_list<int64_t> dims, const char* what,
                   const Conv2dProblem& p) {
  int64_t n = 1;
  for (int64_t d : dims) {
    BOT_CHECK(n <= std::numeric_limits<int64_t>::max() / d, Code::kShape,
              std::string("conv2d: ") + what + " overflows int64 for " + problem_str(p));
    n *= d;
  }
}

}  // namespace

void Conv2dProblem::validate() const {
  BOT_CHECK(n >= 1 && h >= 1 && w >= 1 && c >= 1 && k >= 1 && r >= 1 && s >= 1, Code::kShape,
            "conv2d: every size must be >= 1, got " + problem_str(*this));
  BOT_CHECK(n <= kMaxDim && h <= kMaxDim && w <= kMaxDim && c <= kMaxDim && k <= kMaxDim &&
                r <= kMaxDim && s <= kMaxDim,
            Code::kShape, "conv2d: every size must be below 2^31, got " + problem_str(*this));
  BOT_CHECK(stride_h >= 1 && stride_w >= 1 && stride_h <= kMaxDim && stride_w <= kMaxDim,
            Code::kArgument, "conv2d: strides must be in [1, 2^31), got " + problem_str(*this));
  BOT_CHECK(pad_h >= 0 && pad_w >= 0 && pad_h <= kMaxDim && pad_w <= kMaxDim, Code::kArgument,
            "conv2d: paddings must be in [0, 2^31), got " + problem_str(*this));
  BOT_CHECK(groups >= 1 && groups <= kMaxDim, Code::kArgument,
            "conv2d: groups must be >= 1, got " + std::to_string(groups));
  BOT_CHECK(c % groups == 0 && k % groups == 0, Code::kShape,
            "conv2d: groups (" + std::to_string(groups) + ") must divide the input channels (" +
                std::to_string(c) + ") and the output channels (" + std::to_string(k) + ")");
  BOT_CHECK(h + 2 * pad_h >= r && w + 2 * pad_w >= s, Code::kShape,
            "conv2d: the padded input is smaller than the kernel (output would be empty): " +
                problem_str(*this));
  check_product({n, h, w, c}, "the input size", *this);
  check_product({k, r, s, c / groups}, "the weight size", *this);
  check_product({n, p(), q(), k}, "the output size", *this);
  check_product({r, s, c}, "the im2col row length", *this);
}

// ---------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------

namespace {

// Tile size. w (K x RSC: up to 2.4 MB for ResNet-50's 3x3 convolutions) is packed once per
// call and shared by the tiles; the sizes below were measured when sgemm still packed it
// again for every tile, so a tile had to carry enough rows to amortise that: measured on
// ResNet-50's 3x3 layers at batch 16 (benchmarks/conv.js), 256 KiB tiles of >= 32 rows
// ran at 100 GFLOP/s forward on 2 threads, 2 MiB tiles of >= 128 rows at 145, and 8 MiB
// tiles (too few to share between the threads) at 73. The col tile itself is streamed
// once into sgemm's packed panels, so it need not fit in L2.
constexpr int64_t kColTileBytes = 2 * 1024 * 1024;
// At least 128 rows: w's repacking then costs under 1/128 of the tile's multiply-adds
// per byte of w, even when one im2col row alone exceeds the byte budget.
constexpr int64_t kMinTileRows = 128;
// More rows than this buy nothing more and cost parallelism: tiles are the unit of work
// handed to threads.
constexpr int64_t kMaxTileRows = 1024;
// Direct (grouped) loops: at least 64K multiply-adds (~10 us) per chunk of work handed to
// a thread, above the pool's wake-up cost.
constexpr int64_t kDirectGrainMacs = 1 << 16;
// Element-wise passes (zeroing, reducing partial sums): 32K floats = 128 KiB per chunk.
constexpr int64_t kElementGrain = 1 << 15;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Threads a parallel_for issued here would use: 1 inside a parallel region, where the
// pool runs nested loops inline (so per-thread partial buffers would be wasted).
int64_t usable_threads() {
  return ThreadPool::in_parallel_region() ? 1 : ThreadPool::global().size();
}

// Items per chunk for a direct loop doing `macs` multiply-adds per item (in double: the
// product of several sizes may not fit int64 on absurd but valid problems).
int64_t direct_grain(double macs) {
  return std::max<int64_t>(1, int64_t(double(kDirectGrainMacs) / std::max(macs, 1.0)));
}

// Per-thread scratch that grows and is never shrunk: the kernels on one thread reuse it
// from call to call, so a steady caller allocates nothing. One buffer per thread and
// role; contents are undefined on return. 64-byte aligned (packed GEMM operands need 32).
enum class Scratch { kTile, kPartials, kWeights };
float* scratch(int64_t n, Scratch role = Scratch::kTile) {
  constexpr int64_t kAlignFloats = 16;  // 64 bytes
  thread_local std::vector<float> buf[3];
  std::vector<float>& b = buf[int(role)];
  if (int64_t(b.size()) < n + kAlignFloats) b = std::vector<float>(size_t(n + kAlignFloats));
  const uintptr_t at = reinterpret_cast<uintptr_t>(b.data());
  return b.data() + (-(at / sizeof(float)) & (kAlignFloats - 1));
}

// The sizes every pass needs, derived once from the problem.
struct Dims {
  int64_t N, H, W, C, K, R, S, P, Q, PQ, M, RSC, Cg, Kg, G;
  int64_t sh, sw, ph, pw;
  explicit Dims(const Conv2dProblem& pr)
      : N(pr.n), H(pr.h), W(pr.w), C(pr.c), K(pr.k), R(pr.r), S(pr.s), P(pr.p()), Q(pr.q()),
        PQ(P * Q), M(N * P * Q), RSC(R * S * C), Cg(pr.c_per_group()), Kg(pr.k / pr.groups),
        G(pr.groups), sh(pr.stride_h), sw(pr.stride_w), ph(pr.pad_h), pw(pr.pad_w) {}
  // A 1x1, stride-1, unpadded convolution: NHWC x is already the im2col matrix.
  bool pointwise() const { return R == 1 && S == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
};

// How the M output rows are cut into im2col tiles.
struct TilePlan {
  int64_t rows = 0;       // rows per tile (the last may be shorter)
  int64_t count = 0;      // number of tiles
  bool parallel = false;  // tiles across threads (sgemm on the caller) vs. pooled sgemm
};

TilePlan plan_tiles(const Dims& d) {
  TilePlan t;
  const int64_t fit = kColTileBytes / int64_t(sizeof(float)) / d.RSC;
  t.rows = std::min(d.M, std::clamp(fit, kMinTileRows, kMaxTileRows));
  t.count = ceil_div(d.M, t.rows);
  const int64_t threads = usable_threads();
  t.parallel = threads > 1 && t.count >= threads;
  if (t.parallel) {
    // Round the tile count up to a multiple of the threads so every thread gets the same
    // number of (slightly smaller) tiles.
    const int64_t target = ceil_div(t.count, threads) * threads;
    t.rows = ceil_div(d.M, target);
    t.count = ceil_div(d.M, t.rows);
  }
  return t;
}

// Writes the receptive fields of output rows [m0, m1) into col (m1 - m0, RSC); taps that
// fall into the padding are zero.
void im2col(const Dims& d, const float* x, int64_t m0, int64_t m1, float* col) {
  const int64_t SC = d.S * d.C;
  for (int64_t m = m0; m < m1; ++m) {
    float* row = col + (m - m0) * d.RSC;
    const int64_t n = m / d.PQ, p = (m % d.PQ) / d.Q, q = m % d.Q;
    const int64_t ih0 = p * d.sh - d.ph, iw0 = q * d.sw - d.pw;
    const bool cols_inside = iw0 >= 0 && iw0 + d.S <= d.W;
    for (int64_t r = 0; r < d.R; ++r) {
      float* dst = row + r * SC;
      const int64_t ih = ih0 + r;
      if (ih < 0 || ih >= d.H) {
        std::fill(dst, dst + SC, 0.0f);
        continue;
      }
      const int64_t line = (n * d.H + ih) * d.W;  // first pixel of input row ih
      if (cols_inside) {
        std::memcpy(dst, x + (line + iw0) * d.C, sizeof(float) * size_t(SC));
        continue;
      }
      for (int64_t s = 0; s < d.S; ++s) {
        const int64_t iw = iw0 + s;
        if (iw < 0 || iw >= d.W) std::fill(dst + s * d.C, dst + (s + 1) * d.C, 0.0f);
        else std::memcpy(dst + s * d.C, x + (line + iw) * d.C, sizeof(float) * size_t(d.C));
      }
    }
  }
}

// im2col of one tile split over the pool: a tile that runs alone (one tile, or tiles one
// after another with a pooled sgemm) would otherwise be gathered by one thread while the
// others wait; inline when the tiles themselves are split across threads.
void im2col_tile(const Dims& d, const float* x, int64_t m0, int64_t m1, float* col) {
  const int64_t grain = std::max<int64_t>(1, kElementGrain / d.RSC);
  parallel_for(m1 - m0, [&](int64_t r0, int64_t r1, int) {
    im2col(d, x, m0 + r0, m0 + r1, col + r0 * d.RSC);
  }, grain);
}

// The adjoint of im2col: adds dcol (m1 - m0, RSC) into dx at the taps' input positions.
// Rows of different images never touch the same dx element.
void col2im_add(const Dims& d, const float* dcol, int64_t m0, int64_t m1, float* dx) {
  for (int64_t m = m0; m < m1; ++m) {
    const float* row = dcol + (m - m0) * d.RSC;
    const int64_t n = m / d.PQ, p = (m % d.PQ) / d.Q, q = m % d.Q;
    const int64_t ih0 = p * d.sh - d.ph, iw0 = q * d.sw - d.pw;
    for (int64_t r = 0; r < d.R; ++r) {
      const int64_t ih = ih0 + r;
      if (ih < 0 || ih >= d.H) continue;
      for (int64_t s = 0; s < d.S; ++s) {
        const int64_t iw = iw0 + s;
        if (iw < 0 || iw >= d.W) continue;
        const float* __restrict src = row + (r * d.S + s) * d.C;
        float* __restrict dst = dx + ((n * d.H + ih) * d.W + iw) * d.C;
        for (int64_t c = 0; c < d.C; ++c) dst[c] += src[c];
      }
    }
  }
}

void fill_zero(float* a, int64_t n) {
  parallel_for(n, [&](int64_t b, int64_t e, int) { std::fill(a + b, a + e, 0.0f); },
               kElementGrain);
}

// ---------------------------------------------------------------------------------------
// groups == 1: on sgemm
// ---------------------------------------------------------------------------------------

// What forward applies to each output row as it is written: y = y + bias[k], then
// max(y, 0) with relu. bias == nullptr: nothing (a plain convolution).
struct Epilogue {
  const float* bias = nullptr;
  bool relu = false;
  const float* residual = nullptr;  // (M, K) like y, added after the bias
};

bool has_epilogue(const Epilogue& e) { return e.bias != nullptr || e.residual != nullptr || e.relu; }

// The epilogue on rows [m0, m1), channels [k0, k1) of y, on the calling thread.
void epilogue_block(const Dims& d, const Epilogue& e, int64_t m0, int64_t m1, int64_t k0, int64_t k1, float* y) {
  if (!has_epilogue(e)) return;
  const float* __restrict b = e.bias;
  for (int64_t r = m0; r < m1; ++r) {
    float* __restrict yr = y + r * d.K;
    const float* __restrict res = e.residual != nullptr ? e.residual + r * d.K : nullptr;
    for (int64_t k = k0; k < k1; ++k) {  // y + bias + residual, in that order; ReLU (NaN -> 0)
      float v = yr[k];
      if (b != nullptr) v += b[k];
      if (res != nullptr) v += res[k];
      yr[k] = e.relu && !(v > 0.0f) ? 0.0f : v;
    }
  }
}

// Applies the epilogue to output rows [m0, m1) of y (M, K), split over the pool (inline
// when called from a worker, where the rows are the worker's own tile).
void apply_epilogue(const Dims& d, const Epilogue& e, int64_t m0, int64_t m1, float* y) {
  if (!has_epilogue(e)) return;
  const int64_t grain = std::max<int64_t>(1, kElementGrain / d.K);
  parallel_for(m1 - m0, [&](int64_t r0, int64_t r1, int) { epilogue_block(d, e, m0 + r0, m0 + r1, 0, d.K, y); },
               grain);
}

// The epilogue runs on each row tile right after its GEMM, while the tile is still in
// cache (one pass over y that costs no extra trip to memory).
// `packed`: w^T already packed by conv2d_pack_weights, or null.
void forward_gemm(const Dims& d, const float* x, const float* w, const float* packed, float* y,
                  const Epilogue& e) {
  if (d.pointwise() && !has_epilogue(e) && packed == nullptr) {
    sgemm(gemm_problem(d.M, d.K, d.C, false, true), x, w, y);  // (M,C) * (K,C)^T
    return;
  }
  const TilePlan t = plan_tiles(d);
  // w^T (RSC, K) packed once for all the tiles (shared by the threads, read-only).
  const float* wp = packed;
  if (wp == nullptr) {
    float* buf = scratch(sgemm_packed_b_numel(d.RSC, d.K), Scratch::kWeights);
    sgemm_pack_b(d.RSC, d.K, w, d.RSC, true, buf);
    wp = buf;
  }
  auto run = [&](int64_t t0, int64_t t1, GemmThreads threads) {
    float* col = d.pointwise() ? nullptr : scratch(t.rows * d.RSC);
    for (int64_t i = t0; i < t1; ++i) {
      const int64_t m0 = i * t.rows, m1 = std::min(d.M, m0 + t.rows);
      const float* a = x + m0 * d.C;  // pointwise: NHWC x is the im2col matrix
      if (!d.pointwise()) {
        im2col_tile(d, x, m0, m1, col);
        a = col;
      }
      // y[m0:m1] (T, K) = col (T, RSC) * w^T, w being (K, RSC)
      // The epilogue on each block of y as the GEMM's threads finish it, still in cache.
      sgemm_prepacked_b(gemm_problem(m1 - m0, d.K, d.RSC, false, true), a, wp, y + m0 * d.K, threads,
                        [&](int64_t r0, int64_t r1, int64_t k0, int64_t k1) {
                          epilogue_block(d, e, m0 + r0, m0 + r1, k0, k1, y);
                        });
    }
  };
  if (t.parallel) {
    parallel_for(t.count, [&](int64_t i0, int64_t i1, int) { run(i0, i1, GemmThreads::kCaller); });
  } else {
    run(0, t.count, GemmThreads::kPool);
  }
}

// With `accumulate` the gradient is added to dx instead of overwriting it.
void backward_data_gemm(const Dims& d, const float* dy, const float* w, float* dx,
                        bool accumulate) {
  if (d.pointwise()) {  // dx (M,C) (+)= dy (M,K) * w (K,C)
    sgemm(gemm_problem(d.M, d.C, d.K, false, false, 1.0f, accumulate ? 1.0f : 0.0f), dy, w, dx);
    return;
  }
  const TilePlan t = plan_tiles(d);
  // w (K, RSC) packed once for all the tiles (shared by the threads, read-only).
  float* wp = scratch(sgemm_packed_b_numel(d.K, d.RSC), Scratch::kWeights);
  sgemm_pack_b(d.K, d.RSC, w, d.RSC, false, wp);
  // Output rows [mb, me) in tiles: dcol = dy[tile] * w, then scatter-add into dx.
  auto run = [&](int64_t mb, int64_t me, GemmThreads threads) {
    float* dcol = scratch(t.rows * d.RSC);
    for (int64_t m0 = mb; m0 < me; m0 += t.rows) {
      const int64_t m1 = std::min(me, m0 + t.rows);
      // dcol (T, RSC) = dy[m0:m1] (T, K) * w (K, RSC)
      sgemm_prepacked_b(gemm_problem(m1 - m0, d.RSC, d.K, false, false), dy + m0 * d.K, wp,
                        dcol, threads);
      col2im_add(d, dcol, m0, m1, dx);
    }
  };
  const int64_t threads = usable_threads();
  const int64_t image = d.H * d.W * d.C;
  if (threads > 1 && d.N >= threads) {
    // Whole images per thread: the receptive fields of different images never overlap,
    // so the scatter-adds of different threads never race.
    parallel_for(d.N, [&](int64_t n0, int64_t n1, int) {
      if (!accumulate) std::fill(dx + n0 * image, dx + n1 * image, 0.0f);
      run(n0 * d.PQ, n1 * d.PQ, GemmThreads::kCaller);
    });
  } else {
    if (!accumulate) fill_zero(dx, d.N * image);
    run(0, d.M, GemmThreads::kPool);
  }
}

void backward_filter_gemm(const Dims& d, const float* x, const float* dy, float* dw) {
  if (d.pointwise()) {
    sgemm(gemm_problem(d.K, d.C, d.M, true, false), dy, x, dw);  // (M,K)^T * (M,C)
    return;
  }
  const TilePlan t = plan_tiles(d);
  const int64_t wn = d.K * d.RSC;
  // Tiles [t0, t1) accumulated into acc (K, RSC); the first tile overwrites it.
  auto run = [&](int64_t t0, int64_t t1, float* acc, GemmThreads threads) {
    if (t0 == t1) std::fill(acc, acc + wn, 0.0f);  // a chunk without tiles adds nothing
    float* col = scratch(t.rows * d.RSC);
    for (int64_t i = t0; i < t1; ++i) {
      const int64_t m0 = i * t.rows, m1 = std::min(d.M, m0 + t.rows);
      im2col_tile(d, x, m0, m1, col);
      // acc (K, RSC) (+)= dy[m0:m1]^T (K, T) * col (T, RSC)
      const float beta = i == t0 ? 0.0f : 1.0f;
      sgemm(gemm_problem(d.K, d.RSC, m1 - m0, true, false, 1.0f, beta), dy + m0 * d.K, col, acc,
            threads);
    }
  };
  if (!t.parallel) {
    run(0, t.count, dw, GemmThreads::kPool);
    return;
  }
  // One partial dw per chunk of tiles (chunk 0 writes dw itself), then a reduction. The
  // chunk index, not the thread, owns a partial, so a pool resized meanwhile is harmless.
  const int64_t chunks = std::min(usable_threads(), t.count);
  float* parts = scratch((chunks - 1) * wn, Scratch::kPartials);  // taken on the caller
  parallel_for(chunks, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) {
      float* acc = i == 0 ? dw : parts + (i - 1) * wn;
      run(t.count * i / chunks, t.count * (i + 1) / chunks, acc, GemmThreads::kCaller);
    }
  });
  parallel_for(wn, [&](int64_t b, int64_t e, int) {
    for (int64_t i = 1; i < chunks; ++i) {
      const float* __restrict part = parts + (i - 1) * wn;
      for (int64_t j = b; j < e; ++j) dw[j] += part[j];
    }
  }, kElementGrain);
}

// ---------------------------------------------------------------------------------------
// groups > 1: direct loops over NHWC, vectorised over channels
// ---------------------------------------------------------------------------------------

// w (K, R, S, Cg) -> wt (R, S, Cg, K): for one tap and one input channel of a group, the
// weights of consecutive output channels are contiguous.
const float* weights_rsck(const Dims& d, const float* w) {
  float* wt = scratch(d.K * d.R * d.S * d.Cg, Scratch::kWeights);
  const int64_t RS = d.R * d.S;
  for (int64_t k = 0; k < d.K; ++k)
    for (int64_t rs = 0; rs < RS; ++rs)
      for (int64_t c = 0; c < d.Cg; ++c) wt[(rs * d.Cg + c) * d.K + k] = w[(k * RS + rs) * d.Cg + c];
  return wt;
}

// w (K, R, S, Cg) -> wt (R, S, K, Cg): for one tap, the weights of consecutive output
// channels (and within one, of its group's input channels) are contiguous.
const float* weights_rskc(const Dims& d, const float* w) {
  float* wt = scratch(d.K * d.R * d.S * d.Cg, Scratch::kWeights);
  const int64_t RS = d.R * d.S;
  for (int64_t k = 0; k < d.K; ++k)
    for (int64_t rs = 0; rs < RS; ++rs)
      std::memcpy(wt + (rs * d.K + k) * d.Cg, w + (k * RS + rs) * d.Cg,
                  sizeof(float) * size_t(d.Cg));
  return wt;
}

// Output position whose tap `t` reads input coordinate i, or -1 when there is none.
inline int64_t output_of(int64_t i, int64_t t, int64_t stride, int64_t pad, int64_t out) {
  const int64_t num = i + pad - t;
  if (num < 0 || num % stride != 0) return -1;
  const int64_t o = num / stride;
  return o < out ? o : -1;
}

void forward_direct(const Dims& d, const float* x, const float* w, float* y) {
  const float* wt = weights_rsck(d, w);  // on the caller's scratch, read by the workers
  const int64_t grain = direct_grain(double(d.K) * double(d.R * d.S) * double(d.Cg));
  parallel_for(d.M, [&](int64_t mb, int64_t me, int) {
    for (int64_t m = mb; m < me; ++m) {
      const int64_t n = m / d.PQ, p = (m % d.PQ) / d.Q, q = m % d.Q;
      float* __restrict acc = y + m * d.K;  // (K): the output pixel, accumulated in place
      std::fill(acc, acc + d.K, 0.0f);
      for (int64_t r = 0; r < d.R; ++r) {
        const int64_t ih = p * d.sh - d.ph + r;
        if (ih < 0 || ih >= d.H) continue;
        for (int64_t s = 0; s < d.S; ++s) {
          const int64_t iw = q * d.sw - d.pw + s;
          if (iw < 0 || iw >= d.W) continue;
          const float* __restrict xr = x + ((n * d.H + ih) * d.W + iw) * d.C;  // (C)
          const float* __restrict wrs = wt + (r * d.S + s) * d.Cg * d.K;  // (Cg, K)
          if (d.Cg == 1 && d.Kg == 1) {  // depthwise, multiplier 1: k == c
            for (int64_t k = 0; k < d.K; ++k) acc[k] += xr[k] * wrs[k];
          } else if (d.Kg == 1) {  // one output channel per group: k == g
            for (int64_t c = 0; c < d.Cg; ++c) {
              const float* __restrict wc = wrs + c * d.K;
              for (int64_t g = 0; g < d.G; ++g) acc[g] += xr[g * d.Cg + c] * wc[g];
            }
          } else {  // general: the group's Kg outputs per input channel, contiguous
            for (int64_t g = 0; g < d.G; ++g)
              for (int64_t c = 0; c < d.Cg; ++c) {
                const float xv = xr[g * d.Cg + c];
                const float* __restrict wv = wrs + c * d.K + g * d.Kg;
                float* __restrict a = acc + g * d.Kg;
                for (int64_t j = 0; j < d.Kg; ++j) a[j] += xv * wv[j];
              }
          }
        }
      }
    }
  }, grain);
}

void backward_data_direct(const Dims& d, const float* dy, const float* w, float* dx,
                          bool accumulate) {
  const float* wt = weights_rskc(d, w);  // on the caller's scratch, read by the workers
  // Gather per input pixel: each thread owns the dx pixels it writes, so nothing races.
  const int64_t grain = direct_grain(double(d.R * d.S) * double(d.C) * double(d.Kg) /
                                     (double(d.sh) * double(d.sw)));
  parallel_for(d.N * d.H * d.W, [&](int64_t ib, int64_t ie, int) {
    for (int64_t i = ib; i < ie; ++i) {
      const int64_t n = i / (d.H * d.W), ih = (i / d.W) % d.H, iw = i % d.W;
      float* __restrict acc = dx + i * d.C;  // (C)
      if (!accumulate) std::fill(acc, acc + d.C, 0.0f);
      for (int64_t r = 0; r < d.R; ++r) {
        const int64_t p = output_of(ih, r, d.sh, d.ph, d.P);
        if (p < 0) continue;
        for (int64_t s = 0; s < d.S; ++s) {
          const int64_t q = output_of(iw, s, d.sw, d.pw, d.Q);
          if (q < 0) continue;
          const float* __restrict dyr = dy + ((n * d.P + p) * d.Q + q) * d.K;  // (K)
          const float* __restrict wrs = wt + (r * d.S + s) * d.K * d.Cg;  // (K, Cg)
          if (d.Cg == 1 && d.Kg == 1) {  // depthwise, multiplier 1: c == k
            for (int64_t c = 0; c < d.C; ++c) acc[c] += dyr[c] * wrs[c];
          } else {
            for (int64_t g = 0; g < d.G; ++g)
              for (int64_t j = 0; j < d.Kg; ++j) {
                const int64_t k = g * d.Kg + j;
                const float gv = dyr[k];
                const float* __restrict wv = wrs + k * d.Cg;
                float* __restrict a = acc + g * d.Cg;
                for (int64_t c = 0; c < d.Cg; ++c) a[c] += gv * wv[c];
              }
          }
        }
      }
    }
  }, grain);
}

void backward_filter_direct(const Dims& d, const float* x, const float* dy, float* dw) {
  const int64_t wn = d.K * d.R * d.S * d.Cg;
  const int64_t RS = d.R * d.S;
  // Partial sums in (R, S, K, Cg) order, one per chunk of output pixels, then a reduction
  // that also transposes back to (K, R, S, Cg).
  const double total = double(d.M) * double(wn);  // multiply-adds, an upper bound
  const int64_t most = std::min(usable_threads(), d.M);
  const int64_t chunks = total / double(kDirectGrainMacs) >= double(most)
                             ? most
                             : std::max<int64_t>(1, int64_t(total / double(kDirectGrainMacs)));
  float* parts = scratch(chunks * wn, Scratch::kPartials);  // taken on the caller
  fill_zero(parts, chunks * wn);
  parallel_for(chunks, [&](int64_t b, int64_t e, int) {
    for (int64_t part_i = b; part_i < e; ++part_i) {
      float* part = parts + part_i * wn;
      for (int64_t m = d.M * part_i / chunks; m < d.M * (part_i + 1) / chunks; ++m) {
        const int64_t n = m / d.PQ, p = (m % d.PQ) / d.Q, q = m % d.Q;
        const float* __restrict dyr = dy + m * d.K;  // (K)
        for (int64_t r = 0; r < d.R; ++r) {
          const int64_t ih = p * d.sh - d.ph + r;
          if (ih < 0 || ih >= d.H) continue;
          for (int64_t s = 0; s < d.S; ++s) {
            const int64_t iw = q * d.sw - d.pw + s;
            if (iw < 0 || iw >= d.W) continue;
            const float* __restrict xr = x + ((n * d.H + ih) * d.W + iw) * d.C;  // (C)
            float* __restrict prs = part + (r * d.S + s) * d.K * d.Cg;           // (K, Cg)
            if (d.Cg == 1 && d.Kg == 1) {  // depthwise, multiplier 1: k == c
              for (int64_t c = 0; c < d.C; ++c) prs[c] += dyr[c] * xr[c];
            } else {
              for (int64_t g = 0; g < d.G; ++g)
                for (int64_t j = 0; j < d.Kg; ++j) {
                  const int64_t k = g * d.Kg + j;
                  const float gv = dyr[k];
                  const float* __restrict xg = xr + g * d.Cg;
                  float* __restrict pv = prs + k * d.Cg;
                  for (int64_t c = 0; c < d.Cg; ++c) pv[c] += gv * xg[c];
                }
            }
          }
        }
      }
    }
  });
  parallel_for(d.K, [&](int64_t kb, int64_t ke, int) {
    for (int64_t k = kb; k < ke; ++k)
      for (int64_t rs = 0; rs < RS; ++rs)
        for (int64_t c = 0; c < d.Cg; ++c) {
          float sum = 0.0f;
          for (int64_t i = 0; i < chunks; ++i) sum += parts[i * wn + (rs * d.K + k) * d.Cg + c];
          dw[(k * RS + rs) * d.Cg + c] = sum;
        }
  }, std::max<int64_t>(1, kElementGrain / (RS * d.Cg * chunks)));
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------

void conv2d_forward(const Conv2dProblem& p, const float* x, const float* w, float* y) {
  p.validate();
  const Dims d(p);
  if (p.groups == 1) forward_gemm(d, x, w, nullptr, y, Epilogue{});
  else if (depthwise3x3_applies(p)) depthwise3x3_forward(p, x, w, nullptr, false, y);
  else forward_direct(d, x, w, y);
}

int64_t conv2d_packed_weights_numel(const Conv2dProblem& p) {
  p.validate();
  if (p.groups != 1) return 0;
  return winograd_applies(p) ? winograd_packed_numel(p) : sgemm_packed_b_numel(p.r * p.s * p.c, p.k);
}

void conv2d_pack_weights(const Conv2dProblem& p, const float* w, float* packed) {
  p.validate();
  BOT_CHECK(p.groups == 1, Code::kArgument, "conv2d: only groups == 1 weights are packed");
  if (winograd_applies(p)) {
    winograd_pack_weights(p, w, packed);
    return;
  }
  const int64_t rsc = p.r * p.s * p.c;
  sgemm_pack_b(rsc, p.k, w, rsc, true, packed);  // w^T (RSC, K)
}

void conv2d_forward_bias(const Conv2dProblem& p, const float* x, const float* w,
                         const float* bias, bool relu, float* y, const float* packed, int64_t packed_n,
                         const float* residual) {
  p.validate();
  const Dims d(p);
  const Epilogue e{bias, relu, residual};
  Conv2dProblem packed_for = p;
  if (packed_n > 0) packed_for.n = packed_n;
  if (p.groups == 1 && packed != nullptr && winograd_applies(packed_for)) {
    winograd_forward(p, x, packed, bias, relu, y, residual);  // packed by conv2d_pack_weights as such
  } else if (p.groups == 1) {
    forward_gemm(d, x, w, packed, y, e);
  } else if (depthwise3x3_applies(p) && residual == nullptr) {
    depthwise3x3_forward(p, x, w, bias, relu, y);  // the epilogue in the kernel's registers
  } else if (depthwise3x3_applies(p)) {
    depthwise3x3_forward(p, x, w, bias, false, y);
    apply_epilogue(d, Epilogue{nullptr, relu, residual}, 0, d.M, y);
  } else {
    forward_direct(d, x, w, y);
    apply_epilogue(d, e, 0, d.M, y);
  }
}

void conv2d_backward_data(const Conv2dProblem& p, const float* dy, const float* w, float* dx) {
  p.validate();
  const Dims d(p);
  if (p.groups == 1) backward_data_gemm(d, dy, w, dx, false);
  else if (depthwise3x3_applies(p)) depthwise3x3_backward_data(p, dy, w, dx, false);
  else backward_data_direct(d, dy, w, dx, false);
}

void conv2d_backward_data_accumulate(const Conv2dProblem& p, const float* dy, const float* w,
                                     float* dx) {
  p.validate();
  const Dims d(p);
  if (p.groups == 1) backward_data_gemm(d, dy, w, dx, true);
  else if (depthwise3x3_applies(p)) depthwise3x3_backward_data(p, dy, w, dx, true);
  else backward_data_direct(d, dy, w, dx, true);
}

void conv2d_backward_filter(const Conv2dProblem& p, const float* x, const float* dy, float* dw) {
  p.validate();
  const Dims d(p);
  if (p.groups == 1) backward_filter_gemm(d, x, dy, dw);
  else if (depthwise3x3_applies(p)) depthwise3x3_backward_filter(p, x, dy, dw);
  else backward_filter_direct(d, x, dy, dw);
}

}  // namespace bot
