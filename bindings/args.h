// Reading arguments at the JS/C++ boundary. The TypeScript layer validates user input
// first; these checks are the core's own guard and never trust a length or a number from
// JS: typed-array kind and length against the shape, integers in range, finite numbers.
// Violations throw JS errors with codes (ERR_ARGUMENT, ERR_SHAPE, ERR_DTYPE).
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bot/ops/augment.h"
#include "bot/tensor.h"

namespace botjs {

// Largest element count accepted for one array (2^31 - 1 elements: also the typed-array
// limit of older V8 builds).
constexpr int64_t kMaxElements = (int64_t(1) << 31) - 1;

int64_t int_arg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min,
                int64_t max);
double number_arg(const Napi::CallbackInfo& info, size_t i, const char* name);  // finite
bool bool_arg(const Napi::CallbackInfo& info, size_t i, const char* name);
// An op's `algorithm` argument: 'fast' (or undefined / null) -> false, 'reference' -> true,
// anything else ERR_ARGUMENT.
bool reference_arg(const Napi::CallbackInfo& info, size_t i);
// An array of `rank` integers, each in [1, 2^31). Also checks the product is below
// kMaxElements.
bot::Shape shape_arg(const Napi::CallbackInfo& info, size_t i, const char* name, size_t rank);

// Typed arrays: checks the kind and that the length is exactly `expected` elements.
Napi::Float32Array f32_arg(const Napi::CallbackInfo& info, size_t i, const char* name,
                           int64_t expected);
Napi::Int32Array i32_arg(const Napi::CallbackInfo& info, size_t i, const char* name,
                         int64_t expected);
Napi::Uint16Array u16_arg(const Napi::CallbackInfo& info, size_t i, const char* name,
                          int64_t expected);
// Float32Array or undefined/null (returns an empty array then).
Napi::Float32Array optional_f32_arg(const Napi::CallbackInfo& info, size_t i,
                                    const char* name, int64_t expected);

Napi::Float32Array new_f32(Napi::Env env, int64_t n);
Napi::Uint8Array u8_arg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t expected);
// The colour pass's constants: Float32Array(kAugmentConstants) = mean(3), std(3), eigval(3),
// eigvec(9, row-major), into p's fields.
constexpr int64_t kAugmentConstants = 18;
void read_constants(const Napi::CallbackInfo& info, size_t i, bot::AugmentProblem* p);
Napi::Array shape_value(Napi::Env env, const bot::Shape& shape);
// { data, shape } as returned by the ops.
Napi::Object tensor_value(Napi::Env env, Napi::TypedArray data, const bot::Shape& shape);

// Element count of a shape with overflow and limit checks (ERR_SHAPE).
int64_t checked_numel(Napi::Env env, const bot::Shape& shape, const char* name);

}  // namespace botjs
