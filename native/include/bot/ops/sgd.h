// The fused SGD step on one parameter tensor, PyTorch's SGD semantics (dampening 0):
//
//   g   = grad * grad_scale + weight_decay * w     (grad_scale unscales a scaled loss)
//   buf = momentum * buf + g
//   w  -= lr * (g + momentum * buf)   with Nesterov,   w -= lr * buf   without
//
// Weight decay is per tensor: the trainer passes 0 for biases and BN parameters ("no
// bias decay"). With momentum == 0 the buffer is neither read nor written.
#pragma once
#include <cstdint>

namespace bot {

struct SgdParams {
  float lr = 0.1f;
  float momentum = 0.9f;
  float weight_decay = 0.0f;
  bool nesterov = true;
  float grad_scale = 1.0f;
  void validate() const;
};

void sgd_step(const SgdParams& p, int64_t n, float* w, const float* grad, float* momentum_buf);

}  // namespace bot
