// Global average pooling (see bot/ops/pool2d.h): x (N, HW, C) -> y (N, C), the mean over
// the HW pixels of each image, accumulated in double; backward broadcasts dy / HW.
//
// Forward runs over (image, channel block) tasks so a batch of 1 still uses the pool;
// every y element is summed over HW in pixel order, the same for every thread count.
// Backward runs over the rows (n, hw) of dx.
#include <algorithm>
#include <vector>

#include "bot/ops/pool2d.h"
#include "bot/status.h"
#include "bot/threadpool.h"

namespace bot {

namespace {

constexpr int64_t kGrainElems = 1 << 15;  // ~32K elements per chunk: above the pool's
                                          // wake-up cost
constexpr int64_t kChannelAlign = 16;     // channel blocks of 64 bytes

void check_global(int64_t n, int64_t hw, int64_t c) {
  BOT_CHECK(n >= 1 && hw >= 1 && c >= 1, Code::kShape,
            "global average pooling sizes must be >= 1");
}

}  // namespace

void global_avgpool_forward(int64_t n, int64_t hw, int64_t c, const float* x, float* y) {
  check_global(n, hw, c);
  // Channel blocks: whole images when the batch covers the pool, else split the channels.
  const int64_t threads = ThreadPool::global().size();
  int64_t cb = c;
  if (n < threads) {
    int64_t parts = (threads + n - 1) / n;
    cb = ((c + parts - 1) / parts + kChannelAlign - 1) / kChannelAlign * kChannelAlign;
    cb = std::min(cb, c);
  }
  const int64_t blocks = (c + cb - 1) / cb;
  parallel_for(n * blocks, [&](int64_t t0, int64_t t1, int) {
    std::vector<double> acc(static_cast<size_t>(cb));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ni = t / blocks, c0 = (t % blocks) * cb, len = std::min(cb, c - c0);
      std::fill(acc.begin(), acc.end(), 0.0);
      const float* xn = x + ni * hw * c + c0;
      for (int64_t i = 0; i < hw; ++i)
        for (int64_t j = 0; j < len; ++j) acc[size_t(j)] += double(xn[i * c + j]);
      for (int64_t j = 0; j < len; ++j) y[ni * c + c0 + j] = float(acc[size_t(j)] / double(hw));
    }
  }, std::max<int64_t>(1, kGrainElems / std::max<int64_t>(1, hw * cb)));
}

void global_avgpool_backward(int64_t n, int64_t hw, int64_t c, const float* dy, float* dx) {
  check_global(n, hw, c);
  const float inv_hw = float(1.0 / double(hw));
  parallel_for(n * hw, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* g = dy + (r / hw) * c;
      float* d = dx + r * c;
      for (int64_t j = 0; j < c; ++j) d[j] = g[j] * inv_hw;
    }
  }, std::max<int64_t>(1, kGrainElems / c));
}

}  // namespace bot
