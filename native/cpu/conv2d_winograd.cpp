// Winograd F(4x4, 3x3) convolution (see conv2d_winograd.h): which problems take it, the
// weight transform, the blocked driver, the run-time choice of instruction set, the
// portable transforms, and the scalar oracle.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <new>
#include <vector>

#include "bot/cpu_features.h"
#include "bot/ops/gemm.h"
#include "bot/status.h"
#include "bot/threadpool.h"
#include "cpu/conv2d_winograd.h"
#include "cpu/conv2d_winograd_simd.h"
#include "cpu/gemm/gemm_internal.h"

namespace bot {

namespace winograd {
void input_transform_portable(const Block& b, const float* x, float* v) { input_transform<4>(b, x, v); }
void output_transform_portable(const Block& b, const float* m, const float* bias, bool relu, float* y) {
  output_transform<4>(b, m, bias, relu, y);
}
}  // namespace winograd

namespace {

using winograd::Block;
using winograd::kPoints;
using winograd::kTile;
using winograd::kWindow;

// V and M of one block together stay under this many floats (1 MiB: the L2 of one core),
// so the GEMM reads what the input transform has just written from the cache.
constexpr int64_t kBlockFloats = 256 * 1024;
constexpr int64_t kRowStep = 6;  // the GEMM kernel's rows: blocks hold a multiple of them
constexpr int64_t kLargeUFloats = int64_t(4) << 20;  // 16 MB of transformed weights
constexpr int64_t kLargeURows = 24;
constexpr size_t kAlign = 64;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t padded_k(int64_t k) { return ceil_div(k, gemm::kNR) * gemm::kNR; }

bool env_off() {
  static const bool off = [] {
    const char* v = std::getenv("BAGOFTRICKS_NO_WINOGRAD");
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
  }();
  return off;
}

// Per-thread scratch for V and M, grown as needed, cache-line aligned.
class Scratch {
 public:
  ~Scratch() { release(); }
  float* get(int64_t floats) {
    if (floats > capacity_) {
      release();
      void* p = ::operator new(size_t(floats) * sizeof(float), std::align_val_t(kAlign), std::nothrow);
      BOT_CHECK(p != nullptr, Code::kOutOfMemory, "conv2d (Winograd): cannot allocate scratch");
      data_ = static_cast<float*>(p);
      capacity_ = floats;
    }
    return data_;
  }

 private:
  void release() {
    if (data_ != nullptr) ::operator delete(data_, std::align_val_t(kAlign));
    data_ = nullptr;
    capacity_ = 0;
  }
  float* data_ = nullptr;
  int64_t capacity_ = 0;
};
thread_local Scratch t_scratch;

struct Kernels {
  void (*input)(const Block&, const float*, float*);
  void (*output)(const Block&, const float*, const float*, bool, float*);
  void (*gemm)(const Block&, const float*, const float*, float*);  // null: sgemm per point
};

Kernels select_kernels() {
#if defined(BOT_HAVE_X86)
  if (use_avx512()) return {winograd::input_transform_avx512, winograd::output_transform_avx512, winograd::gemm_avx512};
  if (use_avx2_fma()) return {winograd::input_transform_avx2, winograd::output_transform_avx2, nullptr};
#endif
  return {winograd::input_transform_portable, winograd::output_transform_portable, nullptr};
}

// How `threads` threads share the work: tr ranges of rows (in panels of 6 tiles) times tk
// ranges of 16-column panels of K, one cell per thread. Minimises the largest cell's work:
// per row and channel, 16 FMAs per column panel in the GEMM plus about 3 for the input
// transform, which every cell of a row range repeats. Columns are split only where the
// GEMM takes a column range (`split_k`).
// Large problems get tk = 1; batch 1 at 7x7 (one panel of 4 tiles) gets tr = 1, tk = threads.
struct Grid {
  int64_t tr = 1, tk = 1;
};

Grid choose_grid(int64_t row_panels, int64_t col_panels, int threads, bool split_k) {
  Grid best;
  int64_t best_cost = -1;
  for (int64_t tr = threads; tr >= 1; --tr) {
    if (threads % tr != 0) continue;
    const int64_t tk = threads / tr;
    if (tk > 1 && (!split_k || tk > col_panels)) continue;
    const int64_t cost = ceil_div(row_panels, tr) * (gemm::kNR * ceil_div(col_panels, tk) + 3);
    if (best_cost < 0 || cost < best_cost) {
      best_cost = cost;
      best.tr = tr;
      best.tk = tk;
    }
  }
  return best;
}

// M[xi] = V[xi] * U[xi] through sgemm on the calling thread (it packs V itself).
void gemm_sgemm(const Block& b, const float* v, const float* packed, float* m) {
  for (int xi = 0; xi < kPoints; ++xi) {
    GemmProblem g = gemm_problem(b.stride, b.k, b.c, false, false, 1.0f, 0.0f);
    g.ldc = b.kp;
    sgemm_prepacked_b(g, v + xi * b.stride * b.c, packed + xi * b.kp * b.c, m + xi * b.stride * b.kp,
                      GemmThreads::kCaller);
  }
}

// G g G^T for one 3x3 kernel g (row-major), in double: u (6x6, row-major).
void weight_transform(const double g[9], double u[kPoints]) {
  static const double G[kWindow][3] = {{1.0 / 4, 0, 0},
                                       {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                       {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                       {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                       {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                       {0, 0, 1}};
  double t[kWindow][3];  // G g
  for (int i = 0; i < kWindow; ++i) {
    for (int j = 0; j < 3; ++j) t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
  }
  for (int i = 0; i < kWindow; ++i) {
    for (int j = 0; j < kWindow; ++j) u[i * kWindow + j] = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
  }
}

}  // namespace

bool winograd_fits(const Conv2dProblem& p) {
  return p.r == 3 && p.s == 3 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 1 && p.pad_w == 1 &&
         p.groups == 1 && p.k <= gemm::kNC;
}

// Maps of fewer than 16 tiles of 4x4 over the batch (7x7 at batch 1 to 3) stay on the
// direct GEMM: there the GEMM's rows of 6 tiles are largely padding, the tiles pad 7x7 to
// 8x8, and the transformed weights (36/9 times the direct GEMM's) are read for a few tiles
// only. ResNet-18-D's three 7x7 layers took 2.8-3.0 ms direct against 3.3-3.6 ms through
// Winograd at batch 1, 4.8-5.2 against 5.6-6.1 ms at batch 2; its 14x14 ones (16 tiles at
// batch 1) 2.2-2.3 ms direct against 1.4-1.5 ms (alternating runs). The rule depends on the
// problem alone, never on the thread count, so that the output does not either.
constexpr int64_t kMinTiles = 16;

bool winograd_applies(const Conv2dProblem& p) {
  const int64_t tiles = p.n * ceil_div(p.h, kTile) * ceil_div(p.w, kTile);
  return winograd_fits(p) && tiles >= kMinTiles && !env_off();
}

void conv2d_forward_winograd(const Conv2dProblem& p, const float* x, const float* w, const float* bias, bool relu,
                             float* y, bool reference) {
  p.validate();
  BOT_CHECK(winograd_fits(p), Code::kArgument,
            "conv2d (Winograd): needs a 3x3 kernel, stride 1, padding 1, groups 1 and at most " +
                std::to_string(gemm::kNC) + " output channels");
  if (reference) {
    winograd_forward_reference(p, x, w, bias, relu, y);
    return;
  }
  void* mem = ::operator new(size_t(winograd_packed_numel(p)) * sizeof(float), std::align_val_t(kAlign), std::nothrow);
  BOT_CHECK(mem != nullptr, Code::kOutOfMemory, "conv2d (Winograd): cannot allocate the packed weights");
  std::unique_ptr<float, void (*)(float*)> packed(static_cast<float*>(mem), [](float* f) {
    ::operator delete(f, std::align_val_t(kAlign));
  });
  winograd_pack_weights(p, w, packed.get());
  winograd_forward(p, x, packed.get(), bias, relu, y);
}

int64_t winograd_packed_numel(const Conv2dProblem& p) { return kPoints * padded_k(p.k) * p.c; }

void winograd_pack_weights(const Conv2dProblem& p, const float* w, float* packed) {
  const int64_t C = p.c, K = p.k, kp = padded_k(K);
  // U[xi] (C, K) row-major for every point, then each packed as sgemm's B operand.
  std::vector<float> u(size_t(kPoints * C * K));
  parallel_for(K, [&](int64_t k0, int64_t k1, int) {
    double g[9], t[kPoints];
    for (int64_t k = k0; k < k1; ++k) {
      for (int64_t c = 0; c < C; ++c) {
        for (int rs = 0; rs < 9; ++rs) g[rs] = w[(k * 9 + rs) * C + c];
        weight_transform(g, t);
        for (int xi = 0; xi < kPoints; ++xi) u[size_t((xi * C + c) * K + k)] = float(t[xi]);
      }
    }
  });
  for (int xi = 0; xi < kPoints; ++xi) sgemm_pack_b(C, K, u.data() + xi * C * K, K, false, packed + xi * kp * C);
}

void winograd_forward(const Conv2dProblem& p, const float* x, const float* packed, const float* bias, bool relu,
                      float* y, const float* residual) {
  static const Kernels kernels = select_kernels();
  Block shape{};
  shape.n = p.n;
  shape.h = p.h;
  shape.w = p.w;
  shape.c = p.c;
  shape.k = p.k;
  shape.kp = padded_k(p.k);
  shape.residual = residual;
  shape.tiles_h = ceil_div(p.h, kTile);
  shape.tiles_w = ceil_div(p.w, kTile);
  const int64_t tiles = p.n * shape.tiles_h * shape.tiles_w;
  const int threads = ThreadPool::global().size();
  const int64_t row_panels = ceil_div(tiles, kRowStep), panels = shape.kp / gemm::kNR;
  const Grid grid = choose_grid(row_panels, panels, threads, kernels.gemm != nullptr);
  // As many rows as fit the cache budget, but few enough that every cell of the grid gets
  // rows; a cell then walks its share of rows in blocks of `stride`.
  const int64_t width = ceil_div(panels, grid.tk) * gemm::kNR;  // a cell's columns
  // Each block reads all of U once: where U is larger than a share of L3 (ResNet's 512 x 512
  // layers, 38 MB), blocks of 6 rows would stream it from memory for every 6 tiles, so
  // they take at least kLargeURows (V and M then spill to L3; at batch 32, 7x7: 39-40 ms
  // for ResNet-18-D's three such layers against 59-62 ms with 6 rows, two runs each).
  const int64_t min_rows = kPoints * p.c * shape.kp > kLargeUFloats ? kLargeURows : kRowStep;
  int64_t stride = std::max<int64_t>(min_rows, kBlockFloats / (kPoints * (p.c + width)) / kRowStep * kRowStep);
  stride = std::min(stride, ceil_div(row_panels, grid.tr) * kRowStep);
  shape.stride = stride;
  const int64_t blocks = ceil_div(tiles, stride);
  // Cell (r, j): blocks [blocks * r / tr, blocks * (r + 1) / tr) and 16-column panels
  // [panels * j / tk, panels * (j + 1) / tk). With tk > 1 each cell of a row range
  // transforms the same input tiles (a few percent of the GEMM's work, against a thread
  // left idle).
  parallel_for(grid.tr * grid.tk, [&](int64_t c0, int64_t c1, int) {
    float* v = t_scratch.get(kPoints * stride * (p.c + shape.kp));
    float* m = v + kPoints * stride * p.c;
    for (int64_t cell = c0; cell < c1; ++cell) {
      const int64_t r = cell / grid.tk, j = cell % grid.tk;
      Block b = shape;
      b.k_begin = panels * j / grid.tk * gemm::kNR;
      b.k_end = std::min(p.k, panels * (j + 1) / grid.tk * gemm::kNR);
      if (b.k_begin >= b.k_end) continue;
      for (int64_t blk = blocks * r / grid.tr; blk < blocks * (r + 1) / grid.tr; ++blk) {
        b.first = blk * stride;
        b.rows = std::min(stride, tiles - b.first);
        kernels.input(b, x, v);
        if (kernels.gemm != nullptr) kernels.gemm(b, v, packed, m);
        else gemm_sgemm(b, v, packed, m);
        kernels.output(b, m, bias, relu, y);
      }
    }
  });
}

void winograd_forward_reference(const Conv2dProblem& p, const float* x, const float* w, const float* bias,
                                bool relu, float* y) {
  static const double BT[kWindow][kWindow] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                                              {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
  static const double AT[kTile][kWindow] = {
      {1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};
  const int64_t th = ceil_div(p.h, kTile), tw = ceil_div(p.w, kTile);
  std::vector<double> u(size_t(p.k * p.c * kPoints));
  for (int64_t k = 0; k < p.k; ++k) {
    for (int64_t c = 0; c < p.c; ++c) {
      double g[9];
      for (int rs = 0; rs < 9; ++rs) g[rs] = w[(k * 9 + rs) * p.c + c];
      weight_transform(g, &u[size_t((k * p.c + c) * kPoints)]);
      // The fast path multiplies by U rounded to float.
      for (int xi = 0; xi < kPoints; ++xi) u[size_t((k * p.c + c) * kPoints + xi)] = float(u[size_t((k * p.c + c) * kPoints + xi)]);
    }
  }
  std::vector<double> v(size_t(p.c * kPoints));
  for (int64_t n = 0; n < p.n; ++n) {
    for (int64_t ty = 0; ty < th; ++ty) {
      for (int64_t tx = 0; tx < tw; ++tx) {
        for (int64_t c = 0; c < p.c; ++c) {  // V = B^T d B per channel
          double d[kWindow][kWindow], t[kWindow][kWindow];
          for (int i = 0; i < kWindow; ++i) {
            for (int j = 0; j < kWindow; ++j) {
              const int64_t iy = ty * kTile - 1 + i, ix = tx * kTile - 1 + j;
              const bool inside = iy >= 0 && iy < p.h && ix >= 0 && ix < p.w;
              d[i][j] = inside ? x[((n * p.h + iy) * p.w + ix) * p.c + c] : 0.0;
            }
          }
          for (int i = 0; i < kWindow; ++i) {
            for (int j = 0; j < kWindow; ++j) {
              t[i][j] = 0;
              for (int l = 0; l < kWindow; ++l) t[i][j] += BT[i][l] * d[l][j];
            }
          }
          for (int i = 0; i < kWindow; ++i) {
            for (int j = 0; j < kWindow; ++j) {
              double s = 0;
              for (int l = 0; l < kWindow; ++l) s += t[i][l] * BT[j][l];
              v[size_t(c * kPoints + i * kWindow + j)] = s;
            }
          }
        }
        for (int64_t k = 0; k < p.k; ++k) {
          double m[kWindow][kWindow] = {};
          for (int64_t c = 0; c < p.c; ++c) {
            for (int xi = 0; xi < kPoints; ++xi) {
              m[xi / kWindow][xi % kWindow] += v[size_t(c * kPoints + xi)] * u[size_t((k * p.c + c) * kPoints + xi)];
            }
          }
          double s[kTile][kWindow];
          for (int i = 0; i < kTile; ++i) {
            for (int j = 0; j < kWindow; ++j) {
              s[i][j] = 0;
              for (int l = 0; l < kWindow; ++l) s[i][j] += AT[i][l] * m[l][j];
            }
          }
          for (int i = 0; i < kTile; ++i) {
            for (int j = 0; j < kTile; ++j) {
              const int64_t oy = ty * kTile + i, ox = tx * kTile + j;
              if (oy >= p.h || ox >= p.w) continue;
              double o = bias != nullptr ? double(bias[k]) : 0.0;
              for (int l = 0; l < kWindow; ++l) o += s[i][l] * AT[j][l];
              const float val = float(o);
              y[((n * p.h + oy) * p.w + ox) * p.k + k] = relu ? std::max(val, 0.0f) : val;
            }
          }
        }
      }
    }
  }
}

}  // namespace bot
