// Crop, resize and orient in one pass: the geometry of the data pipeline's transforms on an
// RGB uint8 image, after decoding.
//
//   src (src_h, src_w, 3)  uint8 RGB, rows src_stride bytes apart
//   out (out_h, out_w, 3)  uint8 RGB, contiguous
//
// A box of the source (fractional, in source pixels: pixel i covers [i, i + 1)) is mapped onto
// a grid_w x grid_h grid; the window (win_x, win_y, win_w, win_h) of that grid is computed,
// then mirrored (flop) and turned clockwise by `rotate` degrees, in that order (sharp's order):
// out is win_w x win_h, or win_h x win_w for a quarter turn.
//
// Resampling is bilinear with antialiasing (PIL's and libvips' 'linear' kernel): output pixel
// x samples the source at c = box_x + (x + 0.5) * box_w / grid_w - 0.5 when shrinking, and
// at c = box_x + x * box_w / grid_w - 0.5 when enlarging (libvips' convention for upsizing,
// so that the result agrees with sharp's), with the triangle
// weight max(0, 1 - |i - c| / s), s = max(1, box_w / grid_w), over the source pixels i of the
// box (edges clamped to the box: pixels outside it are never read), weights normalised to 1.
// The same along y. Rounded to nearest, clamped to 0..255.
//
// crop_resize_u8 is separable (vertical pass into a float row, then horizontal) with the
// weights computed once per call; crop_resize_reference evaluates every output pixel's 2-D
// sum directly, in double, and is the oracle the fast one is tested against.
#pragma once
#include <cstdint>
#include <vector>

namespace bot {

struct CropResizeProblem {
  int64_t src_w = 0, src_h = 0, src_stride = 0;  // stride in bytes, >= 3 * src_w
  double box_x = 0, box_y = 0, box_w = 0, box_h = 0;  // inside [0, src_w] x [0, src_h]
  int64_t grid_w = 0, grid_h = 0;
  int64_t win_x = 0, win_y = 0, win_w = 0, win_h = 0;  // inside the grid
  bool flop = false;  // mirror horizontally first
  int rotate = 0;     // then turn clockwise: 0, 90, 180 or 270

  int64_t out_w() const { return rotate % 180 == 0 ? win_w : win_h; }
  int64_t out_h() const { return rotate % 180 == 0 ? win_h : win_w; }
  int64_t out_bytes() const { return out_w() * out_h() * 3; }
  void validate() const;  // throws ERR_ARGUMENT / ERR_SHAPE
};

// Reusable buffers of crop_resize_u8 (weights and the float row): a thread keeps one and
// resizes without allocating once it has grown.
struct CropResizeScratch {
  std::vector<int32_t> xi, yi;  // first source index per output column / row
  std::vector<int32_t> xn, yn;  // number of taps per output column / row
  std::vector<float> xw, yw;    // the taps' weights, max taps per column / row apart
  std::vector<float> row;       // one vertically filtered row of the box's columns (x3)
};

void crop_resize_u8(const CropResizeProblem& p, const uint8_t* src, uint8_t* out,
                    CropResizeScratch* scratch);
void crop_resize_reference(const CropResizeProblem& p, const uint8_t* src, uint8_t* out);

}  // namespace bot
