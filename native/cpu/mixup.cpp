// Mixup's image blend (see bot/ops/mixup.h): one pass over the batch, split by samples.
#include "bot/ops/mixup.h"

#include <cmath>
#include <string>

#include "bot/status.h"
#include "bot/threadpool.h"

namespace bot {

void mixup_check(int64_t n, int64_t sample_numel, const int32_t* perm, float lambda) {
  BOT_CHECK(n >= 1 && sample_numel >= 1, Code::kShape, "mixup needs n >= 1 and samples of >= 1 value");
  BOT_CHECK(std::isfinite(lambda) && lambda >= 0.0f && lambda <= 1.0f, Code::kArgument,
            "mixup lambda must be in [0, 1], got " + std::to_string(lambda));
  for (int64_t i = 0; i < n; ++i)
    BOT_CHECK(perm[i] >= 0 && perm[i] < n, Code::kArgument,
              "mixup partner " + std::to_string(perm[i]) + " of sample " + std::to_string(i) +
                  " is outside [0, " + std::to_string(n) + ")");
}

void mixup_blend(int64_t n, int64_t sample_numel, const float* x, const int32_t* perm,
                 float lambda, float* y) {
  mixup_check(n, sample_numel, perm, lambda);
  const float a = lambda, b = 1.0f - lambda;
  parallel_for(n, [&](int64_t i0, int64_t i1, int) {
    for (int64_t i = i0; i < i1; ++i) {
      const float* xi = x + i * sample_numel;
      const float* xj = x + int64_t(perm[i]) * sample_numel;
      float* yi = y + i * sample_numel;
      for (int64_t k = 0; k < sample_numel; ++k) yi[k] = a * xi[k] + b * xj[k];
    }
  });
}

}  // namespace bot
