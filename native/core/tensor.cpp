#include "bot/tensor.h"

#include <cstdlib>
#include <cstring>
#include <limits>

#include "bot/status.h"

namespace bot {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kU8: return "u8";
    case DType::kI32: return "i32";
  }
  return "?";
}

const char* device_name(Device d) { return d == Device::kCPU ? "cpu" : "cuda"; }

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    BOT_CHECK(d >= 0, Code::kShape, "negative dimension in shape " + shape_str(shape));
    BOT_CHECK(d == 0 || n <= std::numeric_limits<int64_t>::max() / d, Code::kShape,
              "shape " + shape_str(shape) + " has too many elements");
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + ")";
}

namespace {
constexpr size_t kAlignment = 64;  // one cache line; also enough for AVX-512 loads
}

Tensor::Tensor(Shape shape, DType dtype, Device device)
    : shape_(std::move(shape)), numel_(shape_numel(shape_)), dtype_(dtype), device_(device) {
  BOT_CHECK(device == Device::kCPU, Code::kArgument,
            "CUDA tensors are created by the CUDA backend");
  size_t bytes = nbytes();
  size_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (rounded == 0) rounded = kAlignment;
  void* p = std::aligned_alloc(kAlignment, rounded);
  BOT_CHECK(p != nullptr, Code::kOutOfMemory,
            "cannot allocate " + std::to_string(bytes) + " bytes for tensor " + shape_str(shape_));
  std::memset(p, 0, rounded);
  storage_ = std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}

void Tensor::check_dtype(DType expected) const {
  BOT_CHECK(dtype_ == expected, Code::kDType,
            std::string("tensor has dtype ") + dtype_name(dtype_) + ", accessed as " +
                dtype_name(expected));
}

template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::kF32; };
template <> struct DTypeOf<uint16_t> { static constexpr DType value = DType::kF16; };
template <> struct DTypeOf<uint8_t> { static constexpr DType value = DType::kU8; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::kI32; };

template <typename T> T* Tensor::data() {
  check_dtype(DTypeOf<T>::value);
  return static_cast<T*>(storage_.get());
}
template <typename T> const T* Tensor::data() const {
  check_dtype(DTypeOf<T>::value);
  return static_cast<const T*>(storage_.get());
}

template float* Tensor::data<float>();
template uint16_t* Tensor::data<uint16_t>();
template uint8_t* Tensor::data<uint8_t>();
template int32_t* Tensor::data<int32_t>();
template const float* Tensor::data<float>() const;
template const uint16_t* Tensor::data<uint16_t>() const;
template const uint8_t* Tensor::data<uint8_t>() const;
template const int32_t* Tensor::data<int32_t>() const;

}  // namespace bot
