// The fused colour pass of the Bag-of-Tricks train transform (He et al. 2019, section 2.1:
// steps 3-4 and 6, after the crop, resize and flip that the decoder did) on a uint8 batch.
// It follows gluon-cv's recipe as MXNet implements it (python/mxnet/image/image.py:
// BrightnessJitterAug, SaturationJitterAug, HueJitterAug, LightingAug, ColorNormalizeAug).
//
//   x (N, H, W, 3)  uint8 RGB, 0..255
//   y (N, H, W, 3)  f32, or f16 (IEEE binary16 bits in uint16_t, round to nearest even)
//
// Per image n, with b = brightness[n], s = saturation[n], h = hue[n], a = alpha[n, 0..2],
// and a pixel p = (R, G, B) as floats:
//   1. brightness  p = b * p                       every channel scaled by b
//   2. saturation  p = s * p + (1 - s) * gray(p)   gray = 0.299 R + 0.587 G + 0.114 B (luma):
//                                                  a blend towards the pixel's own grey
//   3. hue         p = T^-1 * Rot(theta) * T * p   T = RGB->YIQ (MXNet's matrix); Rot turns
//                  the chroma plane (I, Q) by theta = (h - 1) * pi and keeps luma Y:
//                  I' = cos(theta) I - sin(theta) Q,  Q' = sin(theta) I + cos(theta) Q.
//                  MXNet draws alpha uniform in [-0.4, 0.4] and turns by alpha * pi; we call
//                  h = 1 + alpha the hue coefficient, so the paper's h in [0.6, 1.4] is a turn
//                  of up to +-0.4 pi (+-72 degrees) and h = 1 is no change. T^-1 is the exact
//                  inverse (MXNet's ityiq is T^-1 rounded to 3 decimals, which makes h = 1 move
//                  a pixel by up to 0.1 of 255; we keep h = 1 exact).
//   4. lighting    p += eigvec * (a .* eigval)      AlexNet's PCA noise: rgb[i] =
//                  sum_j eigvec[i][j] * a[j] * eigval[j] (columns of eigvec are eigenvectors)
//   5. normalise   y = (p - mean) / std             per channel
// Nothing is clamped between steps (MXNet works on float images and does not clamp).
// A null brightness/saturation/hue array means 1 for every image, a null alpha means 0: with
// all four null this is the eval transform's plain normalisation.
//
// Steps 1-5 are affine in the pixel, so the fast path composes them per image into one 3x3
// matrix and offset (augment_affine, in double) and applies y = M p + t: 9 multiply-adds per
// pixel. The reference runs the five steps literally, in double.
#pragma once
#include <cstdint>

namespace bot {

// RGB -> YIQ of MXNet's HueJitterAug (NTSC, rounded to three decimals there; kept exactly).
constexpr double kRgbToYiq[9] = {0.299, 0.587, 0.114, 0.596, -0.274, -0.321, 0.211, -0.523, 0.311};
constexpr double kLuma[3] = {0.299, 0.587, 0.114};  // ITU-R BT.601, MXNet's grey coefficients

enum class AugmentThreads { kPool, kCaller };

struct AugmentProblem {
  int64_t n = 0, h = 0, w = 0;  // x and y are (N, H, W, 3)
  // The paper's constants on 0..255 pixels (ImageNet statistics); any finite values work.
  float mean[3] = {123.68f, 116.779f, 103.939f};
  float std[3] = {58.393f, 57.12f, 57.375f};
  float eigval[3] = {55.46f, 4.794f, 1.148f};
  float eigvec[9] = {-0.5675f, 0.7192f, 0.4009f,    // row i = channel R, G, B;
                     -0.5808f, -0.0045f, -0.8140f,  // column j = eigenvector j
                     -0.5836f, -0.6948f, 0.4203f};

  int64_t numel() const { return n * h * w * 3; }
  void validate() const;  // throws ERR_SHAPE / ERR_ARGUMENT (std 0 or a non-finite constant)
  // Bytes moved by one pass (uint8 in, f32 or f16 out): it is memory bound.
  double bytes(bool f16) const { return double(numel()) * (f16 ? 3.0 : 5.0); }
};

// Per-image random parameters, each array of N (alpha: N x 3) or null (see above).
struct AugmentParams {
  const float* brightness = nullptr;
  const float* saturation = nullptr;
  const float* hue = nullptr;
  const float* alpha = nullptr;
  // Throws ERR_ARGUMENT when a value is not finite (checked once per call, per image).
  void validate(int64_t n) const;
};

// The composed map of image n: y = m (3x3, row-major) * p + t, computed in double.
void augment_affine(const AugmentProblem& p, const AugmentParams& params, int64_t n, float m[9],
                    float t[3]);

void augment_forward_f32(const AugmentProblem& p, const uint8_t* x, const AugmentParams& params,
                         float* y, AugmentThreads threads = AugmentThreads::kPool);
void augment_forward_f16(const AugmentProblem& p, const uint8_t* x, const AugmentParams& params,
                         uint16_t* y, AugmentThreads threads = AugmentThreads::kPool);

// The oracle: the five steps one after another per pixel, in double, written as f32.
void augment_forward_reference(const AugmentProblem& p, const uint8_t* x,
                               const AugmentParams& params, float* y);

// Step 0, optional, in place on the uint8 batch before the pass: colour management of images
// decoded without it (the decoder left their embedded RGB matrix/TRC ICC profile unapplied;
// see lib/data/icc.ts for why). For image n with convert[n] != 0, every pixel becomes
//   l_c = lut[n][c][x_c]                          the profile's tone curve: linear light
//   m   = matrix[n] * l                            profile RGB -> linear sRGB (via XYZ D50)
//   x_c = round(255 * srgb(clamp(m_c, 0, 1)))      srgb(v) = 12.92 v for v <= 0.0031308,
//                                                  else 1.055 v^(1/2.4) - 0.055
// srgb() is tabulated in 4096 steps with linear interpolation (within 0.005 of a level).
struct ProfileParams {
  const uint8_t* convert = nullptr;  // (N)
  const float* lut = nullptr;        // (N, 3, 256)
  const float* matrix = nullptr;     // (N, 3, 3) row-major
  void validate(int64_t n) const;    // throws ERR_ARGUMENT on a missing array or a non-finite value
};
void srgb_from_profile_u8(const AugmentProblem& p, uint8_t* x, const ProfileParams& q,
                          AugmentThreads threads = AugmentThreads::kPool);

}  // namespace bot
