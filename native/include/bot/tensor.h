// Tensor: a shape, an element type, a device and owned storage.
//
// Layout conventions of the whole core: activations are NHWC (channels last), conv
// weights KRSC (out channels, kernel rows, kernel cols, in channels per group), linear
// weights (out, in). Shapes are row-major; the last dimension is contiguous.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bot/dtype.h"

namespace bot {

using Shape = std::vector<int64_t>;

// Number of elements of a shape; throws ERR_SHAPE on a negative dimension or overflow.
int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "(2, 3, 4)"

class Tensor {
 public:
  Tensor() = default;
  // Allocates zero-filled storage (64-byte aligned) on the CPU. CUDA tensors are made by
  // the CUDA backend.
  Tensor(Shape shape, DType dtype, Device device = Device::kCPU);

  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(static_cast<size_t>(i)); }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  bool defined() const { return storage_ != nullptr; }

  void* raw() { return storage_.get(); }
  const void* raw() const { return storage_.get(); }
  // Typed access; throws ERR_DTYPE when T does not match dtype().
  template <typename T> T* data();
  template <typename T> const T* data() const;

 private:
  void check_dtype(DType expected) const;
  Shape shape_;
  int64_t numel_ = 0;
  DType dtype_ = DType::kF32;
  Device device_ = Device::kCPU;
  std::shared_ptr<void> storage_;
};

}  // namespace bot
