// Max and average pooling on NHWC activations, and global average pooling.
//
//   x (N, H, W, C) -> y (N, P, Q, C)
//   P = floor_or_ceil((H + 2*pad_h - kernel_h) / stride_h) + 1; in ceil mode the last
//   window must start inside the input or the left padding (PyTorch's rule), else P -= 1.
//   Max pooling ignores padding (it never wins); ties go to the first element in
//   row-major window order. Average pooling divides by the number of window elements
//   inside the input when count_include_pad is false (the ResNet-D shortcut: 2x2, stride
//   2, ceil mode), else by the window clipped to the padded input (PyTorch's rule).
//
//   Global average pooling: x (N, H, W, C) -> y (N, C), y = mean over H*W.
#pragma once
#include <cstdint>

namespace bot {

struct Pool2dProblem {
  int64_t n = 0, h = 0, w = 0, c = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  bool ceil_mode = false;
  bool count_include_pad = false;  // average pooling only

  int64_t p() const;
  int64_t q() const;
  int64_t x_numel() const { return n * h * w * c; }
  int64_t y_numel() const { return n * p() * q() * c; }
  void validate() const;  // throws ERR_SHAPE / ERR_ARGUMENT
};

void maxpool2d_forward(const Pool2dProblem& p, const float* x, float* y);
// dx is overwritten: each dy goes to the argmax of its window (recomputed from x).
void maxpool2d_backward(const Pool2dProblem& p, const float* x, const float* dy, float* dx);
void avgpool2d_forward(const Pool2dProblem& p, const float* x, float* y);
void avgpool2d_backward(const Pool2dProblem& p, const float* dy, float* dx);

void maxpool2d_forward_reference(const Pool2dProblem& p, const float* x, float* y);
void avgpool2d_forward_reference(const Pool2dProblem& p, const float* x, float* y);

// x (N, HW, C) -> y (N, C)
void global_avgpool_forward(int64_t n, int64_t hw, int64_t c, const float* x, float* y);
// dy (N, C) -> dx (N, HW, C), dx = dy / HW broadcast
void global_avgpool_backward(int64_t n, int64_t hw, int64_t c, const float* dy, float* dx);

}  // namespace bot
