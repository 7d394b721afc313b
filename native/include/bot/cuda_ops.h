// The CUDA backend's single ops over HOST memory: each function copies its inputs to the
// device, runs the kernels on the process stream, copies the results back and
// synchronises before it returns. No CUDA type appears here, so every build compiles
// against this header; a CPU-only build throws ERR_CUDA_UNAVAILABLE from each function.
//
// The signatures and semantics are those of the CPU ops of the same name (bot/ops/*.h):
// the same problem structs, validated the same way (ERR_SHAPE / ERR_ARGUMENT), the same
// layouts (NHWC activations, KRSC conv weights, (out, in) linear weights). Results agree
// with the CPU core within FP32 rounding (statistics and losses are accumulated in FP32 or
// double on the device, in a different order). Device errors: ERR_CUDA_UNAVAILABLE (no
// build, driver or device), ERR_CUDA_OOM (recoverable), ERR_CUDA_FATAL (sticky: the
// process can no longer use CUDA, and every later call says so).
#pragma once
#include <cstdint>
#include <vector>

#include "bot/ops/batchnorm.h"
#include "bot/ops/conv2d.h"
#include "bot/ops/cross_entropy.h"
#include "bot/ops/linear.h"
#include "bot/ops/pool2d.h"
#include "bot/ops/sgd.h"

namespace bot::cuda {

// Convolution (groups == 1 only; a grouped problem throws ERR_ARGUMENT). f16: the FP32
// inputs are rounded to FP16 on the device and the tensor-core kernels run on them (FP32
// accumulation); y and dx come back widened to FP32, dw is FP32 throughout. reference: the
// one-thread-per-output kernels the fast ones are tested against.
struct ConvOptions {
  bool f16 = false;
  bool reference = false;
};
void conv2d_forward(const Conv2dProblem& p, const float* x, const float* w, float* y,
                    ConvOptions o = {});
void conv2d_backward_data(const Conv2dProblem& p, const float* dy, const float* w, float* dx,
                          ConvOptions o = {});
void conv2d_backward_filter(const Conv2dProblem& p, const float* x, const float* dy, float* dw,
                            ConvOptions o = {});

// Batch normalisation (p.relu fuses a ReLU; relu_y as in the CPU op).
void batchnorm_forward_train(const BatchNormProblem& p, const float* x, const float* gamma,
                             const float* beta, float* y, float* running_mean,
                             float* running_var, float* save_mean, float* save_invstd);
void batchnorm_forward_infer(const BatchNormProblem& p, const float* x, const float* gamma,
                             const float* beta, const float* running_mean,
                             const float* running_var, float* y);
void batchnorm_backward(const BatchNormProblem& p, const float* x, const float* dy,
                        const float* gamma, const float* mean, const float* invstd,
                        bool training, float* dx, float* dgamma, float* dbeta,
                        const float* relu_y = nullptr);

// Pooling.
void maxpool2d_forward(const Pool2dProblem& p, const float* x, float* y);
void maxpool2d_backward(const Pool2dProblem& p, const float* x, const float* dy, float* dx);
void avgpool2d_forward(const Pool2dProblem& p, const float* x, float* y);
void avgpool2d_backward(const Pool2dProblem& p, const float* dy, float* dx);
void global_avgpool_forward(int64_t n, int64_t hw, int64_t c, const float* x, float* y);
void global_avgpool_backward(int64_t n, int64_t hw, int64_t c, const float* dy, float* dx);

// Element-wise.
void relu_forward(int64_t n, const float* x, float* y);
void relu_backward(int64_t n, const float* y, const float* dy, float* dx);
void add_forward(int64_t n, const float* a, const float* b, float* y);
void add_relu_forward(int64_t n, const float* a, const float* b, float* y);

// Fully connected layer.
void linear_forward(const LinearProblem& p, const float* x, const float* w, const float* b,
                    float* y);
void linear_backward(const LinearProblem& p, const float* x, const float* w, const float* dy,
                     float* dx, float* dw, float* db);

// Softmax cross-entropy (the paper's label smoothing, soft targets).
double cross_entropy_hard(const CrossEntropyProblem& p, const float* logits,
                          const int32_t* labels, float* dlogits);
double cross_entropy_soft(const CrossEntropyProblem& p, const float* logits,
                          const float* targets, float* dlogits);

// SGD / Nesterov. sgd_step is the CPU op's single-tensor step (no skipping: a NaN
// gradient gives NaN weights, as on the CPU). sgd_step_multi updates many tensors in ONE
// kernel launch: p.weight_decay is ignored in favour of each tensor's own; with
// skip_nonfinite the gradients (after unscaling by p.grad_scale) are first checked for
// inf/NaN, and when any is found nothing is changed (GradScaler semantics). Where w_f16
// is set it receives the updated weights rounded to FP16 (binary16 bits). Returns true
// when a non-finite gradient was found.
struct SgdTensor {
  int64_t n = 0;
  float* w = nullptr;
  const float* grad = nullptr;
  float* momentum_buf = nullptr;  // n values; unused (may be null) when momentum == 0
  float weight_decay = 0.0f;
  uint16_t* w_f16 = nullptr;      // optional FP16 copy of w after the step
};
void sgd_step(const SgdParams& p, int64_t n, float* w, const float* grad, float* momentum_buf);
bool sgd_step_multi(const SgdParams& p, const std::vector<SgdTensor>& tensors, bool skip_nonfinite);

// FP32 <-> FP16 (round to nearest even, overflow to infinity, NaN stays NaN).
void f32_to_f16(int64_t n, const float* x, uint16_t* y);
void f16_to_f32(int64_t n, const uint16_t* x, float* y);

// Allocates `bytes` of device memory and frees it again (ERR_CUDA_OOM when it does not
// fit): the recoverable out-of-memory path, testable without a host array of that size.
void allocate_probe(int64_t bytes);

}  // namespace bot::cuda
