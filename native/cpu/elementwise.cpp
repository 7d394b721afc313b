// ReLU and the residual add (see bot/ops/elementwise.h). Plain loops the compiler
// vectorises; split over the thread pool in chunks big enough to amortise the wake-up.
#include "bot/ops/elementwise.h"

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

}  // namespace bot
