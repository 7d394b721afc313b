// The fused colour pass (see bot/ops/augment.h): brightness, saturation, hue, PCA lighting and
// normalisation of a uint8 NHWC batch, written as f32 or f16.
//
// Every step is affine in the pixel, so augment_affine composes them per image, in double,
// into y = M p + t. The fast path then costs 9 multiply-adds per pixel: a scalar loop here,
// 8 outputs per instruction in augment_avx2.cpp. The reference runs the steps one by one.
// Work is split over rows: rows of one image are contiguous, so each chunk handles one
// contiguous span of pixels per image it touches.
#include "bot/ops/augment.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "bot/cpu_features.h"
#include "bot/ops/convert.h"
#include "bot/status.h"
#include "bot/threadpool.h"

namespace bot {

#ifdef BOT_HAVE_X86
// Defined in augment_avx2.cpp; only called when use_avx2_fma() (and use_f16c() for f16).
// Processes `blocks` blocks of 8 pixels (24 elements) starting at x; reads x[-2, 24 * blocks + 2).
void augment_blocks_avx2(const uint8_t* x, int64_t blocks, const float m[9], const float t[3],
                         float* y32, uint16_t* y16);
#endif

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int64_t kGrainElements = 1 << 15;  // 32K outputs (128 KiB of f32) per chunk: above wake-up cost
constexpr int64_t kBlockElements = 24;       // 8 pixels: the period of 3 channels over 8 lanes
// A block at element i reads x[i - 2, i + 26): the lanes' neighbours two channels away.
constexpr int64_t kReadBefore = 2, kReadAfter = 2;

bool finite3(const float* v, int k) {
  for (int i = 0; i < k; ++i)
    if (!std::isfinite(v[i])) return false;
  return true;
}

// c = a * b for 3x3 row-major matrices.
void matmul3(const double* a, const double* b, double* c) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int k = 0; k < 3; ++k) s += a[i * 3 + k] * b[k * 3 + j];
      c[i * 3 + j] = s;
    }
}

// Inverse of a 3x3 matrix by cofactors (T is well conditioned: det = 0.3).
void invert3(const double* a, double* inv) {
  const double c00 = a[4] * a[8] - a[5] * a[7], c01 = a[5] * a[6] - a[3] * a[8],
               c02 = a[3] * a[7] - a[4] * a[6];
  const double det = a[0] * c00 + a[1] * c01 + a[2] * c02;
  inv[0] = c00 / det;
  inv[1] = (a[2] * a[7] - a[1] * a[8]) / det;
  inv[2] = (a[1] * a[5] - a[2] * a[4]) / det;
  inv[3] = c01 / det;
  inv[4] = (a[0] * a[8] - a[2] * a[6]) / det;
  inv[5] = (a[2] * a[3] - a[0] * a[5]) / det;
  inv[6] = c02 / det;
  inv[7] = (a[1] * a[6] - a[0] * a[7]) / det;
  inv[8] = (a[0] * a[4] - a[1] * a[3]) / det;
}

// YIQ -> RGB: the exact inverse of kRgbToYiq.
const double* yiq_to_rgb() {
  static const double* const inv = [] {
    static double m[9];
    invert3(kRgbToYiq, m);
    return m;
  }();
  return inv;
}

// The hue step as a matrix: T^-1 Rot(theta) T with theta = (h - 1) pi.
void hue_matrix(double h, double* out) {
  const double theta = (h - 1.0) * kPi;
  const double u = std::cos(theta), w = std::sin(theta);
  const double rot[9] = {1, 0, 0, 0, u, -w, 0, w, u};
  double tmp[9];
  matmul3(rot, kRgbToYiq, tmp);
  matmul3(yiq_to_rgb(), tmp, out);
}

struct ImageParams {
  double b = 1, s = 1, h = 1, a[3] = {0, 0, 0};
};

ImageParams image_params(const AugmentParams& params, int64_t n) {
  ImageParams q;
  if (params.brightness) q.b = params.brightness[n];
  if (params.saturation) q.s = params.saturation[n];
  if (params.hue) q.h = params.hue[n];
  if (params.alpha)
    for (int j = 0; j < 3; ++j) q.a[j] = params.alpha[n * 3 + j];
  return q;
}

// The lighting offset: rgb[i] = sum_j eigvec[i][j] * a[j] * eigval[j].
void lighting_offset(const AugmentProblem& p, const double* a, double* rgb) {
  for (int i = 0; i < 3; ++i) {
    rgb[i] = 0;
    for (int j = 0; j < 3; ++j) rgb[i] += double(p.eigvec[i * 3 + j]) * a[j] * double(p.eigval[j]);
  }
}

// y = m p + t for `pixels` pixels; the multiply-adds in the same order as the AVX2 path.
template <typename Out, typename Store>
void affine_pixels_scalar(const uint8_t* x, int64_t pixels, const float* m, const float* t, Out* y,
                          Store store) {
  for (int64_t i = 0; i < pixels; ++i) {
    const float r = x[3 * i], g = x[3 * i + 1], b = x[3 * i + 2];
    for (int c = 0; c < 3; ++c) {
      float acc = t[c];
      acc += m[c * 3 + 0] * r;
      acc += m[c * 3 + 1] * g;
      acc += m[c * 3 + 2] * b;
      y[3 * i + c] = store(acc);
    }
  }
}

// One contiguous span of one image: elements [begin, end) of the batch (pixel aligned).
// y32 or y16 is the output (the other null).
void affine_span(const uint8_t* x, int64_t total, int64_t begin, int64_t end, const float* m,
                 const float* t, float* y32, uint16_t* y16) {
  int64_t i = begin;
#ifdef BOT_HAVE_X86
  const bool vec = y16 ? (use_avx2_fma() && use_f16c()) : use_avx2_fma();
  if (vec) {
    // A block may start only where its reads stay inside the batch: i >= 2, i + 26 <= total.
    if (i < kReadBefore) {
      const int64_t head = std::min<int64_t>(end, 3);  // one pixel
      if (y32) affine_pixels_scalar(x + i, (head - i) / 3, m, t, y32 + i, [](float v) { return v; });
      else affine_pixels_scalar(x + i, (head - i) / 3, m, t, y16 + i, f32_to_f16_scalar);
      i = head;
    }
    int64_t blocks = (end - i) / kBlockElements;
    const int64_t room = total - kReadAfter - kBlockElements - i;  // last start allowed, minus i
    blocks = room < 0 ? 0 : std::min(blocks, room / kBlockElements + 1);
    if (blocks > 0) {
      augment_blocks_avx2(x + i, blocks, m, t, y32 ? y32 + i : nullptr, y16 ? y16 + i : nullptr);
      i += blocks * kBlockElements;
    }
  }
#else
  (void)total;
#endif
  if (y32) affine_pixels_scalar(x + i, (end - i) / 3, m, t, y32 + i, [](float v) { return v; });
  else affine_pixels_scalar(x + i, (end - i) / 3, m, t, y16 + i, f32_to_f16_scalar);
}

void forward(const AugmentProblem& p, const uint8_t* x, const AugmentParams& params, float* y32,
             uint16_t* y16, AugmentThreads threads) {
  p.validate();
  params.validate(p.n);
  const int64_t row = p.w * 3, image = p.h * row, total = p.numel();
  const int64_t rows = p.n * p.h;
  auto body = [&](int64_t r0, int64_t r1, int) {
    int64_t r = r0;
    while (r < r1) {
      const int64_t n = r / p.h;
      const int64_t last = std::min(r1, (n + 1) * p.h);  // rows of image n in this chunk
      float m[9], t[3];
      augment_affine(p, params, n, m, t);
      affine_span(x, total, n * image + (r - n * p.h) * row, n * image + (last - n * p.h) * row, m,
                  t, y32, y16);
      r = last;
    }
  };
  if (threads == AugmentThreads::kCaller) {
    body(0, rows, 0);
  } else {
    const int64_t grain = (kGrainElements + row - 1) / row;
    parallel_for(rows, body, grain);
  }
}

}  // namespace

void AugmentProblem::validate() const {
  BOT_CHECK(n >= 1 && h >= 1 && w >= 1, Code::kShape,
            "augment: expected N, H, W >= 1 but received (" + std::to_string(n) + ", " +
                std::to_string(h) + ", " + std::to_string(w) + ")");
  BOT_CHECK(n <= (int64_t(1) << 31) / 3 / h / w, Code::kShape,
            "augment: the batch has more than 2^31-1 elements");
  BOT_CHECK(finite3(mean, 3) && finite3(std, 3) && finite3(eigval, 3) && finite3(eigvec, 9),
            Code::kArgument, "augment: mean, std, eigval and eigvec must be finite");
  for (int c = 0; c < 3; ++c)
    BOT_CHECK(std[c] != 0.0f, Code::kArgument, "augment: std must not be 0");
}

void AugmentParams::validate(int64_t n) const {
  const float* arrays[4] = {brightness, saturation, hue, alpha};
  const char* names[4] = {"brightness", "saturation", "hue", "alpha"};
  for (int k = 0; k < 4; ++k) {
    if (!arrays[k]) continue;
    const int64_t len = k == 3 ? 3 * n : n;
    for (int64_t i = 0; i < len; ++i)
      BOT_CHECK(std::isfinite(arrays[k][i]), Code::kArgument,
                std::string("augment: ") + names[k] + "[" + std::to_string(i) + "] is not finite");
  }
}

void augment_affine(const AugmentProblem& p, const AugmentParams& params, int64_t n, float m[9],
                    float t[3]) {
  const ImageParams q = image_params(params, n);
  // S = s I + (1 - s) 1 luma^T: each output channel keeps s of itself plus (1 - s) grey.
  double sat[9];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) sat[i * 3 + j] = (i == j ? q.s : 0.0) + (1.0 - q.s) * kLuma[j];
  double hue[9], hs[9];
  hue_matrix(q.h, hue);
  matmul3(hue, sat, hs);
  double light[3];
  lighting_offset(p, q.a, light);
  for (int i = 0; i < 3; ++i) {
    const double inv_std = 1.0 / double(p.std[i]);
    for (int j = 0; j < 3; ++j) m[i * 3 + j] = float(hs[i * 3 + j] * q.b * inv_std);
    t[i] = float((light[i] - double(p.mean[i])) * inv_std);
  }
}

void augment_forward_f32(const AugmentProblem& p, const uint8_t* x, const AugmentParams& params,
                         float* y, AugmentThreads threads) {
  forward(p, x, params, y, nullptr, threads);
}

void augment_forward_f16(const AugmentProblem& p, const uint8_t* x, const AugmentParams& params,
                         uint16_t* y, AugmentThreads threads) {
  forward(p, x, params, nullptr, y, threads);
}

void augment_forward_reference(const AugmentProblem& p, const uint8_t* x,
                               const AugmentParams& params, float* y) {
  p.validate();
  params.validate(p.n);
  const int64_t pixels = p.h * p.w;
  for (int64_t n = 0; n < p.n; ++n) {
    const ImageParams q = image_params(params, n);
    const double theta = (q.h - 1.0) * kPi, cos_t = std::cos(theta), sin_t = std::sin(theta);
    const double* tinv = yiq_to_rgb();
    double light[3];
    lighting_offset(p, q.a, light);
    for (int64_t i = 0; i < pixels; ++i) {
      const uint8_t* px = x + (n * pixels + i) * 3;
      double v[3] = {double(px[0]), double(px[1]), double(px[2])};
      for (double& c : v) c *= q.b;                                          // 1. brightness
      const double grey = kLuma[0] * v[0] + kLuma[1] * v[1] + kLuma[2] * v[2];
      for (double& c : v) c = q.s * c + (1.0 - q.s) * grey;                  // 2. saturation
      double yiq[3];                                                         // 3. hue
      for (int r = 0; r < 3; ++r)
        yiq[r] = kRgbToYiq[r * 3] * v[0] + kRgbToYiq[r * 3 + 1] * v[1] + kRgbToYiq[r * 3 + 2] * v[2];
      const double i_turned = cos_t * yiq[1] - sin_t * yiq[2];
      const double q_turned = sin_t * yiq[1] + cos_t * yiq[2];
      yiq[1] = i_turned;
      yiq[2] = q_turned;
      double u[3];
      for (int r = 0; r < 3; ++r) u[r] = tinv[r * 3] * yiq[0] + tinv[r * 3 + 1] * yiq[1] + tinv[r * 3 + 2] * yiq[2];
      for (int c = 0; c < 3; ++c) u[c] += light[c];                          // 4. lighting
      float* out = y + (n * pixels + i) * 3;
      for (int c = 0; c < 3; ++c) out[c] = float((u[c] - p.mean[c]) / p.std[c]);  // 5. normalise
    }
  }
}

namespace {

constexpr int kSrgbSteps = 4096;  // table steps over [0, 1]: interpolation error < 0.005 level

// 255 * srgb(i / kSrgbSteps) for i in [0, kSrgbSteps], one extra entry for the interpolation.
const float* srgb_encode_table() {
  static const float* const table = [] {
    static float t[kSrgbSteps + 2];
    for (int i = 0; i <= kSrgbSteps; ++i) {
      const double v = double(i) / kSrgbSteps;
      t[i] = float(255.0 * (v <= 0.0031308 ? 12.92 * v : 1.055 * std::pow(v, 1.0 / 2.4) - 0.055));
    }
    t[kSrgbSteps + 1] = t[kSrgbSteps];
    return t;
  }();
  return table;
}

inline uint8_t srgb_encode_u8(const float* table, float v) {
  if (!(v > 0.0f)) v = 0.0f;  // also maps NaN to 0
  if (v > 1.0f) v = 1.0f;
  const float pos = v * kSrgbSteps;
  const int i = int(pos);
  const float e = table[i] + (table[i + 1] - table[i]) * (pos - float(i));
  return uint8_t(e + 0.5f);
}

}  // namespace

void ProfileParams::validate(int64_t n) const {
  BOT_CHECK(convert && lut && matrix, Code::kArgument, "srgb_from_profile: missing an array");
  for (int64_t i = 0; i < n * 3 * 256; ++i)
    BOT_CHECK(std::isfinite(lut[i]), Code::kArgument, "srgb_from_profile: lut is not finite");
  for (int64_t i = 0; i < n * 9; ++i)
    BOT_CHECK(std::isfinite(matrix[i]), Code::kArgument, "srgb_from_profile: matrix is not finite");
}

void srgb_from_profile_u8(const AugmentProblem& p, uint8_t* x, const ProfileParams& q,
                          AugmentThreads threads) {
  p.validate();
  q.validate(p.n);
  const float* table = srgb_encode_table();
  auto body = [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {  // r: one row of one image
      const int64_t n = r / p.h;
      if (!q.convert[n]) continue;
      const float* lut = q.lut + n * 768;
      const float* m = q.matrix + n * 9;
      uint8_t* px = x + r * p.w * 3;
      for (int64_t i = 0; i < p.w; ++i, px += 3) {
        const float l0 = lut[px[0]], l1 = lut[256 + px[1]], l2 = lut[512 + px[2]];
        for (int c = 0; c < 3; ++c)
          px[c] = srgb_encode_u8(table, m[c * 3] * l0 + m[c * 3 + 1] * l1 + m[c * 3 + 2] * l2);
      }
    }
  };
  const int64_t rows = p.n * p.h;
  if (threads == AugmentThreads::kCaller) body(0, rows, 0);
  else parallel_for(rows, body, (kGrainElements / 4 + p.w - 1) / p.w);
}

}  // namespace bot
