// Batch normalisation over the channel (last) dimension of NHWC activations.
//
//   x, y  (M, C) where M = N*H*W
//   Training:  mean_c = sum_m x / M,  var_c = sum_m (x - mean)^2 / M  (biased),
//              y = (x - mean) * invstd * gamma + beta,  invstd = 1 / sqrt(var + eps),
//              running_mean = (1 - momentum) * running_mean + momentum * mean,
//              running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)
//              (PyTorch semantics: the running variance is unbiased). save_mean and
//              save_invstd keep the batch statistics for the backward pass.
//   Inference: y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta.
//   Backward (training): with xhat = (x - mean) * invstd,
//              dbeta = sum_m dy,  dgamma = sum_m dy * xhat,
//              dx = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma).
//   Backward (inference statistics): dx = dy * gamma * invstd_running.
//   Fused ReLU (relu = true): the forward writes max(y, 0); the backward takes that output
//   as relu_y and uses dy * [relu_y > 0] in place of dy (one pass instead of three).
//   Fused residual add (residual != null, forward only): y = BN(x) + residual (then the
//   ReLU when relu = true), in the same pass: the normalised value is computed in float
//   and the residual added to it, as the separate add would, so an FP32 result is that of
//   the unfused pair bit for bit. Its backward is the unfused one's: the add hands dy to
//   both inputs, and the BN's backward needs no output of its own.
// Statistics are accumulated in float over runs of 16 rows, then in double. The backward
// reads the data twice: one pass for dgamma and dbeta, one for dx.
#pragma once
#include <cstdint>

namespace bot {

struct BatchNormProblem {
  int64_t m = 0;  // N * H * W
  int64_t c = 0;
  float eps = 1e-5f;
  float momentum = 0.1f;
  bool relu = false;  // fuse a ReLU after the normalisation
  void validate() const;  // throws ERR_SHAPE / ERR_ARGUMENT
  // validate(), and m >= 2: training statistics need two values per channel (the
  // unbiased running variance of one value is undefined). Every backend's check.
  void validate_training() const;
};

void batchnorm_forward_train(const BatchNormProblem& p, const float* x, const float* gamma,
                             const float* beta, float* y, float* running_mean,
                             float* running_var, float* save_mean, float* save_invstd,
                             const float* residual = nullptr);
void batchnorm_forward_infer(const BatchNormProblem& p, const float* x, const float* gamma,
                             const float* beta, const float* running_mean,
                             const float* running_var, float* y, const float* residual = nullptr);
// invstd[c] = 1 / sqrt(var[c] + eps): the running statistics in the form the backward
// pass takes for a network in inference mode.
void batchnorm_invstd(int64_t c, const float* var, float eps, float* invstd);

// mean/invstd: save_mean/save_invstd of the training forward, or the running statistics
// turned into invstd for a network in inference mode.
void batchnorm_backward(const BatchNormProblem& p, const float* x, const float* dy,
                        const float* gamma, const float* mean, const float* invstd,
                        bool training, float* dx, float* dgamma, float* dbeta,
                        const float* relu_y = nullptr);

void batchnorm_forward_train_reference(const BatchNormProblem& p, const float* x,
                                       const float* gamma, const float* beta, float* y,
                                       float* running_mean, float* running_var,
                                       float* save_mean, float* save_invstd);
void batchnorm_backward_reference(const BatchNormProblem& p, const float* x, const float* dy,
                                  const float* gamma, const float* mean, const float* invstd,
                                  bool training, float* dx, float* dgamma, float* dbeta);

}  // namespace bot
