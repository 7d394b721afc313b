// Element types and devices of tensors.
#pragma once
#include <cstddef>
#include <cstdint>

namespace bot {

enum class DType { kF32, kF16, kU8, kI32 };
enum class Device { kCPU, kCUDA };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kU8: return 1;
    case DType::kI32: return 4;
  }
  return 0;
}

const char* dtype_name(DType t);  // "f32", "f16", "u8", "i32"
const char* device_name(Device d);  // "cpu", "cuda"

}  // namespace bot
