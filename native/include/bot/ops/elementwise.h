// Element-wise ops on flat arrays of n floats: ReLU and the residual add.
//   relu_forward:  y = max(x, 0)
//   relu_backward: dx = dy where y > 0 else 0 (y is the forward output; y > 0 iff x > 0);
//                  dx may be dy (in place)
//   add_forward:   y = a + b  (its backward passes dy to both inputs unchanged)
//   add_relu_forward: y = max(a + b, 0)  (the fused residual add + ReLU; its backward is
//                  relu_backward on y, passed to both inputs)
//   add_relu_backward: that backward in one pass when one input's gradient shares dy's
//                  buffer: dy = dy * [y > 0] in place, and the other input's gradient
//                  db = (or, with accumulate, db +=) the masked dy
//   copy_into / add_into: b = a, b += a (a gradient handed to, or summed into, an input)
#pragma once
#include <cstdint>

namespace bot {

void relu_forward(int64_t n, const float* x, float* y);
void relu_backward(int64_t n, const float* y, const float* dy, float* dx);
void add_forward(int64_t n, const float* a, const float* b, float* y);
void add_relu_forward(int64_t n, const float* a, const float* b, float* y);
void add_relu_backward(int64_t n, const float* y, float* dy, float* db, bool accumulate);
void copy_into(int64_t n, const float* a, float* b);
void add_into(int64_t n, const float* a, float* b);

}  // namespace bot
