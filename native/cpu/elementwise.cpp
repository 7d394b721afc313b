// ReLU and the residual add (see bot/ops/elementwise.h). Plain loops the compiler
// vectorises; split over the thread pool in chunks big enough to amortise the wake-up.
#include "bot/ops/elementwise.h"

#include <algorithm>

#include "bot/threadpool.h"

namespace bot {

namespace {
constexpr int64_t kGrain = 1 << 15;  // 32K floats = 128 KiB per chunk: above wake-up cost
}

void relu_forward(int64_t n, const float* x, float* y) {
  parallel_for(n, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
  }, kGrain);
}

void relu_backward(int64_t n, const float* y, const float* dy, float* dx) {
  if (dx == dy) {  // in place: one stream less, and no overlap check in the loop
    parallel_for(n, [&](int64_t b, int64_t e, int) {
      const float* __restrict yr = y;
      float* __restrict g = dx;
      for (int64_t i = b; i < e; ++i) g[i] = yr[i] > 0.0f ? g[i] : 0.0f;
    }, kGrain);
    return;
  }
  parallel_for(n, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
  }, kGrain);
}

void add_forward(int64_t n, const float* a, const float* b, float* y) {
  parallel_for(n, [&](int64_t s, int64_t e, int) {
    for (int64_t i = s; i < e; ++i) y[i] = a[i] + b[i];
  }, kGrain);
}

void add_relu_forward(int64_t n, const float* a, const float* b, float* y) {
  parallel_for(n, [&](int64_t s, int64_t e, int) {
    for (int64_t i = s; i < e; ++i) {
      float v = a[i] + b[i];
      y[i] = v > 0.0f ? v : 0.0f;
    }
  }, kGrain);
}

void add_relu_backward(int64_t n, const float* y, float* dy, float* db, bool accumulate) {
  parallel_for(n, [&](int64_t s, int64_t e, int) {
    const float* __restrict yr = y;
    float* __restrict g = dy;
    float* __restrict d = db;
    if (accumulate) {
      for (int64_t i = s; i < e; ++i) {
        const float v = yr[i] > 0.0f ? g[i] : 0.0f;
        g[i] = v;
        d[i] += v;
      }
    } else {
      for (int64_t i = s; i < e; ++i) {
        const float v = yr[i] > 0.0f ? g[i] : 0.0f;
        g[i] = v;
        d[i] = v;
      }
    }
  }, kGrain);
}

void copy_into(int64_t n, const float* a, float* b) {
  parallel_for(n, [&](int64_t s, int64_t e, int) {
    std::copy(a + s, a + e, b + s);
  }, kGrain);
}

void add_into(int64_t n, const float* a, float* b) {
  parallel_for(n, [&](int64_t s, int64_t e, int) {
    const float* __restrict src = a;
    float* __restrict dst = b;
    for (int64_t i = s; i < e; ++i) dst[i] += src[i];
  }, kGrain);
}

}  // namespace bot
