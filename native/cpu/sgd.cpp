// The fused SGD/Nesterov step (see bot/ops/sgd.h): one pass over w, grad and the momentum
// buffer, split over the thread pool. Element-wise, so the result does not depend on the
// number of threads.
#include "bot/ops/sgd.h"

#include <cmath>
#include <string>

#include "bot/status.h"
#include "bot/threadpool.h"

namespace bot {

void SgdParams::validate() const {
  BOT_CHECK(std::isfinite(lr) && lr >= 0.0f, Code::kArgument,
            "learning rate must be finite and >= 0, got " + std::to_string(lr));
  BOT_CHECK(std::isfinite(momentum) && momentum >= 0.0f && momentum < 1.0f, Code::kArgument,
            "momentum must be in [0, 1), got " + std::to_string(momentum));
  BOT_CHECK(std::isfinite(weight_decay) && weight_decay >= 0.0f, Code::kArgument,
            "weight decay must be finite and >= 0, got " + std::to_string(weight_decay));
  BOT_CHECK(std::isfinite(grad_scale) && grad_scale > 0.0f, Code::kArgument,
            "gradient scale must be finite and > 0, got " + std::to_string(grad_scale));
  BOT_CHECK(!nesterov || momentum > 0.0f, Code::kArgument, "Nesterov momentum needs momentum > 0");
}

void sgd_step(const SgdParams& p, int64_t n, float* w, const float* grad, float* momentum_buf) {
  p.validate();
  BOT_CHECK(n >= 0, Code::kShape, "sgd_step: negative size");
  const float lr = p.lr, mu = p.momentum, wd = p.weight_decay, gs = p.grad_scale;
  const bool nesterov = p.nesterov;
  constexpr int64_t kGrain = 1 << 14;  // 16K elements: 3 streams of 64 KiB per chunk
  parallel_for(n, [&](int64_t b, int64_t e, int) {
    if (mu == 0.0f) {
      for (int64_t i = b; i < e; ++i) w[i] -= lr * (grad[i] * gs + wd * w[i]);
      return;
    }
    for (int64_t i = b; i < e; ++i) {
      float g = grad[i] * gs + wd * w[i];
      float v = mu * momentum_buf[i] + g;
      momentum_buf[i] = v;
      w[i] -= lr * (nesterov ? g + mu * v : v);
    }
  }, kGrain);
}

}  // namespace bot
