// Max and average pooling on NHWC activations (see bot/ops/pool2d.h).
//
//   x (N, H, W, C) -> y (N, P, Q, C); one window per output pixel, rows h in
//   [p*stride_h - pad_h, p*stride_h - pad_h + kernel_h), clipped to the input.
//   Output size and divisor follow PyTorch (aten/src/ATen/native/Pool.h
//   pooling_output_shape, AvgPoolKernel.cpp):
//     P = floor((H + 2*pad - k + (ceil ? stride - 1 : 0)) / stride) + 1, and in ceil mode
//     P -= 1 when the last window would start at or past H + pad (inside the right
//     padding only). Average divisor: (window clipped to [-pad, H + pad)) in each
//     dimension when count_include_pad, else the window clipped to [0, H).
//   Max: padding never wins; ties go to the first element in row-major window order; a
//   NaN wins (PyTorch: `val > max || isnan(val)`).
//
// Forward kernels run over the rows (n, p) of the output in parallel, channels innermost.
// Max backward recomputes the argmax from x and scatters dy into dx; it runs over (image,
// channel block) tasks, which own disjoint parts of dx. Average backward gathers: each dx
// pixel sums dy / divisor over the output windows that cover it, so it runs over the rows
// (n, h) of dx without races. Every result is the same for every thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "bot/ops/pool2d.h"
#include "bot/status.h"
#include "bot/threadpool.h"

namespace bot {

namespace {

constexpr int64_t kGrainElems = 1 << 15;  // ~32K elements read per chunk: above the pool's
                                          // wake-up cost
constexpr int64_t kChannelAlign = 16;     // channel blocks of backward tasks: 64 bytes

int64_t floor_div(int64_t a, int64_t b) {  // b > 0
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

int64_t pooled_size(int64_t in, int64_t k, int64_t s, int64_t pad, bool ceil_mode) {
  int64_t out = floor_div(in + 2 * pad - k + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= in + pad) --out;  // last window must start inside
  return out;
}

// One dimension of the window of output index o.
struct Window {
  int64_t lo, hi;  // clipped to the input: [lo, hi), possibly empty
  int64_t count;   // divisor factor of average pooling
};
Window window(int64_t o, int64_t in, int64_t k, int64_t s, int64_t pad, bool include_pad) {
  int64_t start = o * s - pad;
  int64_t end = std::min(start + k, in + pad);  // clipped to the padded input
  Window w;
  w.lo = std::max<int64_t>(start, 0);
  w.hi = std::min(end, in);
  w.count = include_pad ? end - start : std::max<int64_t>(w.hi - w.lo, 0);
  return w;
}

Window row_window(const Pool2dProblem& p, int64_t o) {
  return window(o, p.h, p.kernel_h, p.stride_h, p.pad_h, p.count_include_pad);
}
Window col_window(const Pool2dProblem& p, int64_t o) {
  return window(o, p.w, p.kernel_w, p.stride_w, p.pad_w, p.count_include_pad);
}

// Channels per backward task: whole images when there are enough of them for the pool,
// else channel blocks (multiples of kChannelAlign) so a batch of 1 still runs in parallel.
int64_t channel_block(int64_t n, int64_t c) {
  int64_t threads = ThreadPool::global().size();
  if (n >= threads) return c;
  int64_t parts = (threads + n - 1) / n;
  int64_t cb = (c + parts - 1) / parts;
  cb = (cb + kChannelAlign - 1) / kChannelAlign * kChannelAlign;
  return std::min(cb, c);
}

int64_t grain_for(int64_t elems_per_item) {
  return std::max<int64_t>(1, kGrainElems / std::max<int64_t>(elems_per_item, 1));
}

}  // namespace

int64_t Pool2dProblem::p() const {
  return pooled_size(h, kernel_h, stride_h, pad_h, ceil_mode);
}
int64_t Pool2dProblem::q() const {
  return pooled_size(w, kernel_w, stride_w, pad_w, ceil_mode);
}

void Pool2dProblem::validate() const {
  BOT_CHECK(n >= 1 && h >= 1 && w >= 1 && c >= 1, Code::kShape,
            "pool2d input sizes must be >= 1");
  BOT_CHECK(kernel_h >= 1 && kernel_w >= 1, Code::kArgument, "pool2d kernel must be >= 1");
  BOT_CHECK(stride_h >= 1 && stride_w >= 1, Code::kArgument, "pool2d stride must be >= 1");
  BOT_CHECK(pad_h >= 0 && pad_w >= 0, Code::kArgument, "pool2d padding must be >= 0");
  BOT_CHECK(pad_h <= kernel_h / 2 && pad_w <= kernel_w / 2, Code::kArgument,
            "pool2d padding must be at most half the kernel size");
  BOT_CHECK(p() >= 1 && q() >= 1, Code::kShape,
            "pool2d output is empty: input " + std::to_string(h) + "x" + std::to_string(w) +
                " is too small for the kernel");
}

void maxpool2d_forward(const Pool2dProblem& p, const float* x, float* y) {
  p.validate();
  const int64_t P = p.p(), Q = p.q(), C = p.c, H = p.h, W = p.w;
  const float lowest = -std::numeric_limits<float>::infinity();
  parallel_for(p.n * P, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t ni = r / P;
      const Window wh = row_window(p, r % P);
      for (int64_t q = 0; q < Q; ++q) {
        const Window ww = col_window(p, q);
        float* yq = y + (r * Q + q) * C;
        for (int64_t j = 0; j < C; ++j) yq[j] = lowest;
        for (int64_t ih = wh.lo; ih < wh.hi; ++ih) {
          for (int64_t iw = ww.lo; iw < ww.hi; ++iw) {
            const float* xp = x + ((ni * H + ih) * W + iw) * C;
            for (int64_t j = 0; j < C; ++j) {
              float v = xp[j];
              yq[j] = (v > yq[j] || v != v) ? v : yq[j];
            }
          }
        }
      }
    }
  }, grain_for(Q * C * p.kernel_h * p.kernel_w));
}

void maxpool2d_backward(const Pool2dProblem& p, const float* x, const float* dy, float* dx) {
  p.validate();
  const int64_t P = p.p(), Q = p.q(), C = p.c, H = p.h, W = p.w;
  const int64_t cb = channel_block(p.n, C);
  const int64_t blocks = (C + cb - 1) / cb;
  const float lowest = -std::numeric_limits<float>::infinity();
  parallel_for(p.n * blocks, [&](int64_t t0, int64_t t1, int) {
    // Per worker, grown and reused across calls (a step allocates nothing).
    thread_local std::vector<float> best;
    thread_local std::vector<int32_t> arg;  // h*W + w of the winner; H*W < 2^31
    if (int64_t(best.size()) < cb) {
      best.resize(static_cast<size_t>(cb));
      arg.resize(static_cast<size_t>(cb));
    }
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ni = t / blocks, c0 = (t % blocks) * cb, len = std::min(cb, C - c0);
      float* dxn = dx + ni * H * W * C + c0;
      for (int64_t i = 0; i < H * W; ++i)
        for (int64_t j = 0; j < len; ++j) dxn[i * C + j] = 0.0f;
      for (int64_t oi = 0; oi < P; ++oi) {
        const Window wh = row_window(p, oi);
        for (int64_t q = 0; q < Q; ++q) {
          const Window ww = col_window(p, q);
          if (wh.lo >= wh.hi || ww.lo >= ww.hi) continue;
          for (int64_t j = 0; j < len; ++j) {
            best[j] = lowest;
            arg[j] = int32_t(wh.lo * W + ww.lo);
          }
          for (int64_t ih = wh.lo; ih < wh.hi; ++ih) {
            for (int64_t iw = ww.lo; iw < ww.hi; ++iw) {
              const float* xp = x + ((ni * H + ih) * W + iw) * C + c0;
              const int32_t off = int32_t(ih * W + iw);
              for (int64_t j = 0; j < len; ++j) {
                float v = xp[j];
                bool take = v > best[j] || v != v;
                best[j] = take ? v : best[j];
                arg[j] = take ? off : arg[j];
              }
            }
          }
          const float* g = dy + ((ni * P + oi) * Q + q) * C + c0;
          for (int64_t j = 0; j < len; ++j) dxn[int64_t(arg[j]) * C + j] += g[j];
        }
      }
    }
  });
}

void avgpool2d_forward(const Pool2dProblem& p, const float* x, float* y) {
  p.validate();
  const int64_t P = p.p(), Q = p.q(), C = p.c, H = p.h, W = p.w;
  parallel_for(p.n * P, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t ni = r / P;
      const Window wh = row_window(p, r % P);
      for (int64_t q = 0; q < Q; ++q) {
        const Window ww = col_window(p, q);
        float* yq = y + (r * Q + q) * C;
        for (int64_t j = 0; j < C; ++j) yq[j] = 0.0f;
        if (wh.lo >= wh.hi || ww.lo >= ww.hi) continue;  // empty window: 0, as PyTorch
        for (int64_t ih = wh.lo; ih < wh.hi; ++ih) {
          for (int64_t iw = ww.lo; iw < ww.hi; ++iw) {
            const float* xp = x + ((ni * H + ih) * W + iw) * C;
            for (int64_t j = 0; j < C; ++j) yq[j] += xp[j];
          }
        }
        const float div = float(wh.count * ww.count);
        for (int64_t j = 0; j < C; ++j) yq[j] /= div;
      }
    }
  }, grain_for(Q * C * p.kernel_h * p.kernel_w));
}

void avgpool2d_backward(const Pool2dProblem& p, const float* dy, float* dx) {
  p.validate();
  const int64_t P = p.p(), Q = p.q(), C = p.c, H = p.h, W = p.w;
  // Divisor factors of each output row and column.
  std::vector<int64_t> count_h(static_cast<size_t>(P)), count_w(static_cast<size_t>(Q));
  for (int64_t o = 0; o < P; ++o) count_h[size_t(o)] = row_window(p, o).count;
  for (int64_t o = 0; o < Q; ++o) count_w[size_t(o)] = col_window(p, o).count;
  // Output indices whose window covers input index i: o*s - pad <= i < o*s - pad + k.
  auto covering = [](int64_t i, int64_t k, int64_t s, int64_t pad, int64_t out,
                     int64_t* lo, int64_t* hi) {
    *lo = std::max<int64_t>(floor_div(i + pad - k, s) + 1, 0);
    *hi = std::min(floor_div(i + pad, s) + 1, out);
  };
  const int64_t per_row = W * C * ((p.kernel_h + p.stride_h - 1) / p.stride_h) *
                          ((p.kernel_w + p.stride_w - 1) / p.stride_w);
  parallel_for(p.n * H, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t ni = r / H, ih = r % H;
      int64_t p0, p1;
      covering(ih, p.kernel_h, p.stride_h, p.pad_h, P, &p0, &p1);
      for (int64_t iw = 0; iw < W; ++iw) {
        int64_t q0, q1;
        covering(iw, p.kernel_w, p.stride_w, p.pad_w, Q, &q0, &q1);
        float* d = dx + (r * W + iw) * C;
        for (int64_t j = 0; j < C; ++j) d[j] = 0.0f;
        for (int64_t oi = p0; oi < p1; ++oi) {
          for (int64_t q = q0; q < q1; ++q) {
            const float div = float(count_h[size_t(oi)] * count_w[size_t(q)]);
            const float* g = dy + ((ni * P + oi) * Q + q) * C;
            for (int64_t j = 0; j < C; ++j) d[j] += g[j] / div;
          }
        }
      }
    }
  }, grain_for(per_row));
}

// --- references: plain loop nests -------------------------------------------------------

void maxpool2d_forward_reference(const Pool2dProblem& p, const float* x, float* y) {
  p.validate();
  const int64_t P = p.p(), Q = p.q();
  for (int64_t ni = 0; ni < p.n; ++ni)
    for (int64_t oi = 0; oi < P; ++oi)
      for (int64_t q = 0; q < Q; ++q)
        for (int64_t j = 0; j < p.c; ++j) {
          float best = -std::numeric_limits<float>::infinity();
          for (int64_t kh = 0; kh < p.kernel_h; ++kh)
            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
              int64_t ih = oi * p.stride_h - p.pad_h + kh, iw = q * p.stride_w - p.pad_w + kw;
              if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) continue;  // padding
              float v = x[((ni * p.h + ih) * p.w + iw) * p.c + j];
              if (v > best || std::isnan(v)) best = v;
            }
          y[((ni * P + oi) * Q + q) * p.c + j] = best;
        }
}

void avgpool2d_forward_reference(const Pool2dProblem& p, const float* x, float* y) {
  p.validate();
  const int64_t P = p.p(), Q = p.q();
  for (int64_t ni = 0; ni < p.n; ++ni)
    for (int64_t oi = 0; oi < P; ++oi)
      for (int64_t q = 0; q < Q; ++q)
        for (int64_t j = 0; j < p.c; ++j) {
          double sum = 0.0;
          int64_t inside = 0, padded = 0;  // window elements in the input / padded input
          for (int64_t kh = 0; kh < p.kernel_h; ++kh)
            for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
              int64_t ih = oi * p.stride_h - p.pad_h + kh, iw = q * p.stride_w - p.pad_w + kw;
              if (ih >= p.h + p.pad_h || iw >= p.w + p.pad_w) continue;  // past the padding
              ++padded;
              if (ih < 0 || ih >= p.h || iw < 0 || iw >= p.w) continue;
              ++inside;
              sum += x[((ni * p.h + ih) * p.w + iw) * p.c + j];
            }
          int64_t div = p.count_include_pad ? padded : inside;
          y[((ni * P + oi) * Q + q) * p.c + j] = inside == 0 ? 0.0f : float(sum / double(div));
        }
}

}  // namespace bot
