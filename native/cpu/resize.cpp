// Crop, resize and orient (see bot/ops/resize.h): antialiased bilinear resampling of a box
// of an RGB uint8 image onto a window of a grid, then a mirror and a quarter turn.
//
// The fast path is separable: per output row, the box's needed columns are filtered
// vertically into a float row (a contiguous multiply-add: 8 lanes with AVX2/FMA in
// resize_avx2.cpp, else what the compiler vectorises), then each
// output pixel is the horizontal sum over its taps, written straight to its turned place.
// Weights are computed once per call, per axis. The reference sums the 2-D product of the
// same 1-D triangle weights for every output pixel, in double.
#include "bot/ops/resize.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "bot/cpu_features.h"
#include "bot/status.h"

namespace bot {

#ifdef BOT_HAVE_X86
// Defined in resize_avx2.cpp; only called when use_avx2_fma().
void resize_rows_avx2(const uint8_t* in, int64_t stride, const float* w, int taps, int64_t width,
                      float* row);
#endif

namespace {

constexpr int64_t kMaxSide = int64_t(1) << 20;    // any side of source, grid or window
constexpr int64_t kMaxOutBytes = int64_t(1) << 31;  // one output image
constexpr double kBoxSlack = 1e-6;               // rounding of a box scaled by the DCT factor

// The source pixels a box covers on one axis: [lo, hi).
void covered(double box0, double len, int64_t n, int64_t* lo, int64_t* hi) {
  *lo = std::max<int64_t>(0, int64_t(std::floor(box0 + kBoxSlack)));
  *hi = std::min<int64_t>(n, int64_t(std::ceil(box0 + len - kBoxSlack)));
  if (*hi <= *lo) *hi = std::min<int64_t>(n, *lo + 1);
}

// One axis of the resampling: where output pixel o (a grid coordinate) samples the source,
// and its normalised triangle weights over the covered pixels [lo, hi).
//
// libvips' conventions, which sharp's output follows: shrinking, centre-aligned, c = box0 +
// (o + 0.5) * scale - 0.5; enlarging, c = box0 + o * scale - 0.5. When one axis enlarges and
// the other does not, libvips shrinks first and then enlarges both axes with one affine
// transform, which moves the non-enlarged axis by half a pixel: its output o is the mean of
// the centre-aligned outputs o - 1 and o (clamped at 0).
struct Axis {
  enum Mode { kCentre, kEnlarge, kShifted };
  double box0, scale, support;
  int64_t lo, hi;
  Mode mode;
  Axis(double box0_, double len, int64_t grid, int64_t n, bool other_enlarges)
      : box0(box0_), scale(len / double(grid)) {
    support = std::max(1.0, scale);
    covered(box0_, len, n, &lo, &hi);
    mode = scale < 1 ? kEnlarge : other_enlarges ? kShifted : kCentre;
  }
  // Largest number of taps of one output pixel.
  int max_taps() const { return int(std::ceil(2 * support)) + 3; }
  // Adds `share` x the weights of the triangle at c into w (w[0] is source pixel `first`).
  void add_triangle(double c, double share, int64_t first, std::vector<double>* w) const {
    const int64_t i0 = std::max(lo, int64_t(std::floor(c - support)) + 1);
    const int64_t i1 = std::min(hi - 1, int64_t(std::ceil(c + support)) - 1);
    double sum = 0;
    for (int64_t i = i0; i <= i1; ++i) sum += std::max(0.0, 1.0 - std::fabs(double(i) - c) / support);
    if (sum <= 0) {  // c is farther than the support from every covered pixel: the nearest
      const int64_t i = std::clamp<int64_t>(int64_t(std::lround(c)), lo, hi - 1);
      (*w)[size_t(i - first)] += share;
      return;
    }
    for (int64_t i = i0; i <= i1; ++i)
      (*w)[size_t(i - first)] += share * std::max(0.0, 1.0 - std::fabs(double(i) - c) / support) / sum;
  }
  // The weights of output o, dense over [*first, *first + w->size()), trimmed of zeros.
  void weights(int64_t o, int64_t* first, std::vector<double>* w) const {
    const double centre = box0 + (double(o) + 0.5) * scale - 0.5;
    const double reach = support + 2;
    *first = std::max(lo, int64_t(std::floor(centre - scale - reach)));
    const int64_t last = std::min(hi - 1, int64_t(std::ceil(centre + reach)));
    w->assign(size_t(std::max<int64_t>(1, last - *first + 1)), 0.0);
    if (mode == kEnlarge) add_triangle(box0 + double(o) * scale - 0.5, 1.0, *first, w);
    else if (mode == kCentre) add_triangle(centre, 1.0, *first, w);
    else {
      add_triangle(centre - (o > 0 ? scale : 0), 0.5, *first, w);
      add_triangle(centre, 0.5, *first, w);
    }
    size_t a = 0, b = w->size();
    while (a + 1 < b && (*w)[a] == 0) ++a;
    while (b > a + 1 && (*w)[b - 1] == 0) --b;
    *first += int64_t(a);
    w->resize(b);
    w->erase(w->begin(), w->begin() + int64_t(a));
  }
};

// Weights of window positions [w0, w0 + count) on one axis: first tap, tap count and the
// weights, `stride` apart and zero-padded to it; stride is the largest tap count.
void axis_weights(const Axis& a, int64_t w0, int64_t count, std::vector<int32_t>* first,
                  std::vector<int32_t>* taps, std::vector<float>* weights, int* stride) {
  const int cap = a.max_taps();
  first->resize(size_t(count));
  taps->resize(size_t(count));
  weights->assign(size_t(count * cap), 0.f);
  std::vector<double> w;
  w.reserve(size_t(cap) + 8);
  int widest = 1;
  for (int64_t o = 0; o < count; ++o) {
    int64_t i0 = 0;
    a.weights(w0 + o, &i0, &w);
    const int n = int(std::min<size_t>(w.size(), size_t(cap)));
    (*first)[size_t(o)] = int32_t(i0);
    (*taps)[size_t(o)] = n;
    widest = std::max(widest, n);
    for (int k = 0; k < n; ++k) (*weights)[size_t(o * cap + k)] = float(w[size_t(k)]);
  }
  // Repack at the widest tap count actually used.
  for (int64_t o = 0; o < count; ++o)
    for (int k = 0; k < widest; ++k) (*weights)[size_t(o * widest + k)] = (*weights)[size_t(o * cap + k)];
  weights->resize(size_t(count * widest));
  *stride = widest;
}

// One output row from the vertically filtered row: t taps per pixel (zero-padded), written
// `step` bytes apart from `d`. Always inlined, so that horizontal<T> below runs it with a
// constant tap count the compiler unrolls.
__attribute__((always_inline)) inline void horizontal_any(int t, const float* row, int64_t c0,
                                                          const int32_t* xi, const float* xw,
                                                          int64_t n, uint8_t* d, int64_t step) {
  for (int64_t ox = 0; ox < n; ++ox, d += step) {
    const float* w = xw + ox * t;
    const float* r = row + (xi[ox] - c0) * 3;
    float a0 = 0, a1 = 0, a2 = 0;
    for (int k = 0; k < t; ++k) {
      a0 += w[k] * r[3 * k];
      a1 += w[k] * r[3 * k + 1];
      a2 += w[k] * r[3 * k + 2];
    }
    d[0] = uint8_t(std::min(std::max(a0 + 0.5f, 0.f), 255.f));
    d[1] = uint8_t(std::min(std::max(a1 + 0.5f, 0.f), 255.f));
    d[2] = uint8_t(std::min(std::max(a2 + 0.5f, 0.f), 255.f));
  }
}

template <int T>
void horizontal(const float* row, int64_t c0, const int32_t* xi, const float* xw, int64_t n,
                uint8_t* d, int64_t step) {
  horizontal_any(T, row, c0, xi, xw, n, d, step);
}

// Where window pixel (x, y) of a w x h window lands after the mirror and the turn.
inline int64_t turned_index(int64_t x, int64_t y, int64_t w, int64_t h, bool flop, int rotate) {
  if (flop) x = w - 1 - x;
  switch (rotate) {
    case 90: return (x * h + (h - 1 - y)) * 3;            // out is h wide
    case 180: return ((h - 1 - y) * w + (w - 1 - x)) * 3;
    case 270: return ((w - 1 - x) * h + y) * 3;
    default: return (y * w + x) * 3;
  }
}

inline uint8_t to_u8(double v) { return uint8_t(std::clamp(std::floor(v + 0.5), 0.0, 255.0)); }

}  // namespace

void CropResizeProblem::validate() const {
  auto side = [](int64_t v) { return v >= 1 && v <= kMaxSide; };
  BOT_CHECK(side(src_w) && side(src_h), Code::kShape,
            "crop_resize: source " + std::to_string(src_w) + "x" + std::to_string(src_h) + " is empty or too large");
  BOT_CHECK(src_stride >= 3 * src_w, Code::kShape, "crop_resize: row stride shorter than a row");
  BOT_CHECK(std::isfinite(box_x) && std::isfinite(box_y) && std::isfinite(box_w) && std::isfinite(box_h) &&
                box_x >= -kBoxSlack && box_y >= -kBoxSlack && box_w > 0 && box_h > 0 &&
                box_x + box_w <= double(src_w) + 1e-3 && box_y + box_h <= double(src_h) + 1e-3,
            Code::kArgument, "crop_resize: the box is not inside the source");
  BOT_CHECK(side(grid_w) && side(grid_h), Code::kShape, "crop_resize: grid is empty or too large");
  BOT_CHECK(win_x >= 0 && win_y >= 0 && win_w >= 1 && win_h >= 1 && win_x + win_w <= grid_w &&
                win_y + win_h <= grid_h,
            Code::kArgument, "crop_resize: the window is not inside the grid");
  BOT_CHECK(rotate == 0 || rotate == 90 || rotate == 180 || rotate == 270, Code::kArgument,
            "crop_resize: rotate must be 0, 90, 180 or 270, not " + std::to_string(rotate));
  BOT_CHECK(out_bytes() < kMaxOutBytes, Code::kShape, "crop_resize: output too large");
}

void crop_resize_u8(const CropResizeProblem& p, const uint8_t* src, uint8_t* out,
                    CropResizeScratch* s) {
  p.validate();
  const bool enlarge_x = p.box_w < double(p.grid_w), enlarge_y = p.box_h < double(p.grid_h);
  const Axis ax(p.box_x, p.box_w, p.grid_w, p.src_w, enlarge_y), ay(p.box_y, p.box_h, p.grid_h, p.src_h, enlarge_x);
  int xs = 0, ys = 0;
  axis_weights(ax, p.win_x, p.win_w, &s->xi, &s->xn, &s->xw, &xs);
  axis_weights(ay, p.win_y, p.win_h, &s->yi, &s->yn, &s->yw, &ys);
  // The columns any output pixel reads: [c0, c1).
  int64_t c0 = s->xi[0], c1 = s->xi[0] + 1;
  for (int64_t o = 0; o < p.win_w; ++o) {
    c0 = std::min<int64_t>(c0, s->xi[size_t(o)]);
    c1 = std::max<int64_t>(c1, s->xi[size_t(o)] + s->xn[size_t(o)]);
  }
  const int64_t width = (c1 - c0) * 3;
  // Zero-padded by xs columns: the padded taps (weight 0) of the last pixels read there.
  s->row.assign(size_t(width + 3 * xs), 0.f);
  float* row = s->row.data();
  // The turn maps a window row to a start and a step in the output.
  const int64_t w = p.win_w, h = p.win_h;
#ifdef BOT_HAVE_X86
  const bool avx2 = use_avx2_fma();
#endif
  for (int64_t oy = 0; oy < p.win_h; ++oy) {
    const float* wy = &s->yw[size_t(oy * ys)];
    const int taps = s->yn[size_t(oy)];
    const uint8_t* in = src + s->yi[size_t(oy)] * p.src_stride + c0 * 3;
#ifdef BOT_HAVE_X86
    if (avx2) {
      resize_rows_avx2(in, p.src_stride, wy, taps, width, row);
    } else
#endif
    {
      for (int64_t e = 0; e < width; ++e) row[e] = wy[0] * float(in[e]);
      for (int k = 1; k < taps; ++k) {
        in += p.src_stride;
        const float wk = wy[k];
        for (int64_t e = 0; e < width; ++e) row[e] += wk * float(in[e]);
      }
    }
    const int64_t first = turned_index(0, oy, w, h, p.flop, p.rotate);
    const int64_t step = w > 1 ? turned_index(1, oy, w, h, p.flop, p.rotate) - first : 3;
    uint8_t* d = out + first;
    const int32_t* xi = s->xi.data();
    const float* xw = s->xw.data();
    switch (xs) {
      case 1: horizontal<1>(row, c0, xi, xw, w, d, step); break;
      case 2: horizontal<2>(row, c0, xi, xw, w, d, step); break;
      case 3: horizontal<3>(row, c0, xi, xw, w, d, step); break;
      case 4: horizontal<4>(row, c0, xi, xw, w, d, step); break;
      case 5: horizontal<5>(row, c0, xi, xw, w, d, step); break;
      case 6: horizontal<6>(row, c0, xi, xw, w, d, step); break;
      default: horizontal_any(xs, row, c0, xi, xw, w, d, step); break;
    }
  }
}

void crop_resize_reference(const CropResizeProblem& p, const uint8_t* src, uint8_t* out) {
  p.validate();
  const bool enlarge_x = p.box_w < double(p.grid_w), enlarge_y = p.box_h < double(p.grid_h);
  const Axis ax(p.box_x, p.box_w, p.grid_w, p.src_w, enlarge_y), ay(p.box_y, p.box_h, p.grid_h, p.src_h, enlarge_x);
  std::vector<double> wx, wy;
  int64_t fx = 0, fy = 0;
  for (int64_t oy = 0; oy < p.win_h; ++oy) {
    ay.weights(p.win_y + oy, &fy, &wy);
    for (int64_t ox = 0; ox < p.win_w; ++ox) {
      ax.weights(p.win_x + ox, &fx, &wx);
      double acc[3] = {0, 0, 0};
      for (size_t ky = 0; ky < wy.size(); ++ky)
        for (size_t kx = 0; kx < wx.size(); ++kx)
          for (int c = 0; c < 3; ++c)
            acc[c] += wy[ky] * wx[kx] * double(src[(fy + int64_t(ky)) * p.src_stride + (fx + int64_t(kx)) * 3 + c]);
      uint8_t* d = out + turned_index(ox, oy, p.win_w, p.win_h, p.flop, p.rotate);
      for (int c = 0; c < 3; ++c) d[c] = to_u8(acc[c]);
    }
  }
}

}  // namespace bot
