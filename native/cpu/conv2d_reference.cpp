// conv2d oracles (see bot/ops/conv2d.h): plain loop nests over the definition, one double
// accumulator per output element, any groups. Every output element is a gather (a sum
// over the terms that reach it), so no pass needs a scratch buffer or a particular order.
// Slow by design: the fast paths in conv2d.cpp are tested against these.
//
//   x  (N, H, W, C)    w  (K, R, S, Cg)    y, dy  (N, P, Q, K)    Cg = C / groups
#include "bot/ops/conv2d.h"

namespace bot {

namespace {

// Kernel-tap origin (top-left input coordinate) of output position o along one axis.
inline int64_t origin(int64_t o, int64_t stride, int64_t pad) { return o * stride - pad; }

// Output position whose tap `t` lands on input coordinate i, or -1 when there is none:
// i = o * stride - pad + t  =>  o = (i + pad - t) / stride, exact and in [0, out).
inline int64_t output_of(int64_t i, int64_t t, int64_t stride, int64_t pad, int64_t out) {
  int64_t num = i + pad - t;
  if (num < 0 || num % stride != 0) return -1;
  int64_t o = num / stride;
  return o < out ? o : -1;
}

}  // namespace

void conv2d_forward_reference(const Conv2dProblem& pr, const float* x, const float* w,
                              float* y) {
  pr.validate();
  const int64_t P = pr.p(), Q = pr.q(), Cg = pr.c_per_group(), Kg = pr.k / pr.groups;
  for (int64_t n = 0; n < pr.n; ++n)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q)
        for (int64_t k = 0; k < pr.k; ++k) {
          const int64_t g = k / Kg;
          double acc = 0.0;
          for (int64_t r = 0; r < pr.r; ++r) {
            const int64_t ih = origin(p, pr.stride_h, pr.pad_h) + r;
            if (ih < 0 || ih >= pr.h) continue;
            for (int64_t s = 0; s < pr.s; ++s) {
              const int64_t iw = origin(q, pr.stride_w, pr.pad_w) + s;
              if (iw < 0 || iw >= pr.w) continue;
              const float* xp = x + ((n * pr.h + ih) * pr.w + iw) * pr.c + g * Cg;
              const float* wp = w + ((k * pr.r + r) * pr.s + s) * Cg;
              for (int64_t c = 0; c < Cg; ++c) acc += double(xp[c]) * double(wp[c]);
            }
          }
          y[((n * P + p) * Q + q) * pr.k + k] = float(acc);
        }
}

void conv2d_backward_data_reference(const Conv2dProblem& pr, const float* dy, const float* w,
                                    float* dx) {
  pr.validate();
  const int64_t P = pr.p(), Q = pr.q(), Cg = pr.c_per_group(), Kg = pr.k / pr.groups;
  // dx[n,h,w,c] = sum over taps (r,s) that read (h,w) from some output (p,q), and over the
  // output channels k of c's group, of dy[n,p,q,k] * w[k,r,s,c'].
  for (int64_t n = 0; n < pr.n; ++n)
    for (int64_t ih = 0; ih < pr.h; ++ih)
      for (int64_t iw = 0; iw < pr.w; ++iw)
        for (int64_t c = 0; c < pr.c; ++c) {
          const int64_t g = c / Cg, cg = c % Cg;
          double acc = 0.0;
          for (int64_t r = 0; r < pr.r; ++r) {
            const int64_t p = output_of(ih, r, pr.stride_h, pr.pad_h, P);
            if (p < 0) continue;
            for (int64_t s = 0; s < pr.s; ++s) {
              const int64_t q = output_of(iw, s, pr.stride_w, pr.pad_w, Q);
              if (q < 0) continue;
              const float* dyp = dy + ((n * P + p) * Q + q) * pr.k;
              for (int64_t k = g * Kg; k < (g + 1) * Kg; ++k)
                acc += double(dyp[k]) * double(w[((k * pr.r + r) * pr.s + s) * Cg + cg]);
            }
          }
          dx[((n * pr.h + ih) * pr.w + iw) * pr.c + c] = float(acc);
        }
}

void conv2d_backward_filter_reference(const Conv2dProblem& pr, const float* x, const float* dy,
                                      float* dw) {
  pr.validate();
  const int64_t P = pr.p(), Q = pr.q(), Cg = pr.c_per_group(), Kg = pr.k / pr.groups;
  // dw[k,r,s,c'] = sum over every output position (n,p,q) of dy[n,p,q,k] times the input
  // element that tap (r,s) of channel c' read there (zero padding contributes nothing).
  for (int64_t k = 0; k < pr.k; ++k) {
    const int64_t g = k / Kg;
    for (int64_t r = 0; r < pr.r; ++r)
      for (int64_t s = 0; s < pr.s; ++s)
        for (int64_t cg = 0; cg < Cg; ++cg) {
          double acc = 0.0;
          for (int64_t n = 0; n < pr.n; ++n)
            for (int64_t p = 0; p < P; ++p) {
              const int64_t ih = origin(p, pr.stride_h, pr.pad_h) + r;
              if (ih < 0 || ih >= pr.h) continue;
              for (int64_t q = 0; q < Q; ++q) {
                const int64_t iw = origin(q, pr.stride_w, pr.pad_w) + s;
                if (iw < 0 || iw >= pr.w) continue;
                acc += double(dy[((n * P + p) * Q + q) * pr.k + k]) *
                       double(x[((n * pr.h + ih) * pr.w + iw) * pr.c + g * Cg + cg]);
              }
            }
          dw[((k * pr.r + r) * pr.s + s) * Cg + cg] = float(acc);
        }
  }
}

}  // namespace bot
