// 2-D convolution on NHWC activations and KRSC weights (cross-correlation, as PyTorch).
//
//   x  (N, H, W, C)            input
//   w  (K, R, S, C / groups)   weights; output channel k belongs to group k / (K / groups)
//   y  (N, P, Q, K)            output, P = (H + 2*pad_h - R) / stride_h + 1 (likewise Q)
//
//   y[n,p,q,k] = sum_{r,s,c'} x[n, p*stride_h - pad_h + r, q*stride_w - pad_w + s, g*Cg + c']
//                             * w[k, r, s, c']          with g = k / (K/groups), Cg = C/groups
//
// groups == 1 runs on the GEMM (1x1 stride-1 convolutions are a plain GEMM on NHWC;
// others are lowered to im2col in row tiles, never the whole batch at once). A 3x3
// depthwise convolution (groups == C == K, padding 1, strides 1 or 2) runs AVX-512/AVX2
// kernels with the channels in the vector lanes; other groups > 1 a direct loop
// vectorised over channels.
#pragma once
#include <cstdint>

namespace bot {

struct Conv2dProblem {
  int64_t n = 0, h = 0, w = 0, c = 0;  // input
  int64_t k = 0, r = 0, s = 0;         // output channels, kernel rows and cols
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t groups = 1;

  int64_t p() const { return (h + 2 * pad_h - r) / stride_h + 1; }
  int64_t q() const { return (w + 2 * pad_w - s) / stride_w + 1; }
  int64_t c_per_group() const { return c / groups; }
  int64_t x_numel() const { return n * h * w * c; }
  int64_t w_numel() const { return k * r * s * c_per_group(); }
  int64_t y_numel() const { return n * p() * q() * k; }
  void validate() const;  // throws ERR_SHAPE / ERR_ARGUMENT
  double flops() const {  // of the forward pass; each backward pass costs the same
    return 2.0 * double(n) * double(p()) * double(q()) * double(k) * double(r) * double(s) *
           double(c_per_group());
  }
};

void conv2d_forward(const Conv2dProblem& p, const float* x, const float* w, float* y);
// y = conv(x, w) + bias[k], then max(y, 0) when relu: a convolution with a batch norm
// folded into it (inference). The bias and ReLU are applied to each tile of output rows
// as it leaves the GEMM, not in a separate pass over y. `packed` (groups == 1 only, else
// ignored): the weights as conv2d_pack_weights left them, so that repeated calls with the
// same weights skip the packing; null: w is packed on every call. w may then be null.
// `packed_n`: the batch size the weights were packed for (0: p.n), since the packed form
// depends on it; any p.n then runs with them. `residual` (null, or shaped as y): added
// after the bias and before the ReLU, in the same pass (a residual block's add).
void conv2d_forward_bias(const Conv2dProblem& p, const float* x, const float* w,
                         const float* bias, bool relu, float* y, const float* packed = nullptr,
                         int64_t packed_n = 0, const float* residual = nullptr);
// The GEMM operand of a groups == 1 convolution's weights, packed once for many forward
// calls: conv2d_packed_weights_numel floats (0 when groups > 1), 32-byte aligned.
// Stride-1 3x3 convolutions with padding 1 whose p.n images make at least 16 output tiles of
// 4x4 are packed for (and run as) Winograd F(4x4, 3x3) unless BAGOFTRICKS_NO_WINOGRAD=1
// (see native/cpu/conv2d_winograd.h).
int64_t conv2d_packed_weights_numel(const Conv2dProblem& p);
void conv2d_pack_weights(const Conv2dProblem& p, const float* w, float* packed);
// That Winograd path on its own, whatever the environment says: KRSC weights transformed on
// the call, bias may be null; `reference` runs its scalar oracle instead. Only 3x3 kernels,
// stride 1, padding 1, groups 1 and K <= 4080 (ERR_ARGUMENT otherwise).
void conv2d_forward_winograd(const Conv2dProblem& p, const float* x, const float* w, const float* bias,
                             bool relu, float* y, bool reference = false);
// dx = d(loss)/dx given dy; dx is overwritten.
void conv2d_backward_data(const Conv2dProblem& p, const float* dy, const float* w, float* dx);
// dx += d(loss)/dx given dy: for an input read by several nodes, whose gradient sums the
// contributions (the GEMM accumulates into dx; no separate add pass).
void conv2d_backward_data_accumulate(const Conv2dProblem& p, const float* dy, const float* w,
                                     float* dx);
// dw = d(loss)/dw given dy; dw is overwritten.
void conv2d_backward_filter(const Conv2dProblem& p, const float* x, const float* dy, float* dw);

// Oracles: plain loop nests over the definition above, double accumulators.
void conv2d_forward_reference(const Conv2dProblem& p, const float* x, const float* w, float* y);
void conv2d_backward_data_reference(const Conv2dProblem& p, const float* dy, const float* w,
                                    float* dx);
void conv2d_backward_filter_reference(const Conv2dProblem& p, const float* x, const float* dy,
                                      float* dw);

}  // namespace bot
