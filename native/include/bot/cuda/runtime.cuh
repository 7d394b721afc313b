// The CUDA runtime layer every CUDA file uses: checked calls, the process stream, device
// buffers and host<->device copies. Included by .cu files only (it names CUDA types).
//
// Error policy (DESIGN.md, reliability rules):
//   cudaErrorMemoryAllocation          -> ERR_CUDA_OOM, recoverable (the error is cleared)
//   no driver / no device / too old    -> ERR_CUDA_UNAVAILABLE
//   anything else                      -> ERR_CUDA_FATAL, and the process is poisoned:
//                                         every later entry point (ensure_ready, stream,
//                                         DeviceBuffer) throws ERR_CUDA_FATAL with the
//                                         message of that first error, without touching
//                                         the device again.
//
// Typical wrapper:
//   cudaStream_t st = bot::cuda::stream();              // throws if unusable
//   bot::cuda::DeviceBuffer dx(bytes);                  // ERR_CUDA_OOM if too large
//   bot::cuda::copy_to_device(dx.get(), host, bytes);
//   my_kernel<<<grid, block, 0, st>>>(...);
//   BOT_CUDA_CHECK_LAUNCH("my_kernel");
//   bot::cuda::copy_to_host(host, dy.get(), bytes);
//   bot::cuda::synchronize();
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace bot::cuda {

// Throws the bot::Error that `err` maps to (see above); does nothing on cudaSuccess.
// `what` names the call or kernel, file/line say where it was made.
void check_result(cudaError_t err, const char* what, const char* file, int line);

// Throws ERR_CUDA_FATAL once the process is poisoned, ERR_CUDA_UNAVAILABLE (with
// cuda_info().reason) when there is no usable device. Cheap after the first call.
void ensure_ready();

// True after a sticky (fatal) CUDA error was seen by check_result().
bool poisoned();

// The process-wide non-blocking stream on device 0; created on first use. Calls
// ensure_ready() first.
cudaStream_t stream();

// Waits for all work on stream() and checks for asynchronous (kernel) errors.
void synchronize();

// Stream-ordered copies on stream(); the host side may be pageable memory.
void copy_to_device(void* dst_device, const void* src_host, size_t bytes);
void copy_to_host(void* dst_host, const void* src_device, size_t bytes);
void zero(void* dst_device, size_t bytes);

// Device memory owned by a scope: allocated stream-ordered on stream() (cudaMallocAsync),
// freed the same way on destruction. A size of 0 holds no memory.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* get() const { return ptr_; }
  template <typename T> T* as() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }

 private:
  void release() noexcept;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// A new buffer holding a copy of `bytes` bytes of host memory.
DeviceBuffer to_device(const void* src_host, size_t bytes);

// Grid size for n work items in blocks of `block`.
inline unsigned int ceil_div(int64_t n, int64_t block) {
  return static_cast<unsigned int>((n + block - 1) / block);
}

// Grid of a grid-stride loop over n elements in blocks of `block`: one element per thread
// up to 2^16 blocks, then each thread strides (at least one block, even for n == 0).
inline unsigned int streaming_grid(int64_t n, int block) {
  constexpr int64_t kMaxGrid = int64_t(1) << 16;
  const int64_t g = (n + block - 1) / block;
  return static_cast<unsigned int>(g < 1 ? 1 : (g > kMaxGrid ? kMaxGrid : g));
}

// FP32 <-> FP16 on device memory, asynchronous on `stream` (convert.cu): n values, rounded to
// nearest even one way, exact the other; `half` points at IEEE binary16 values.
void f32_to_f16_device(int64_t n, const float* x, void* half, cudaStream_t stream);
void f16_to_f32_device(int64_t n, const void* half, float* y, cudaStream_t stream);

}  // namespace bot::cuda

// Checks a CUDA runtime call (this header's policy wins over any earlier definition):
// BOT_CUDA_CHECK(cudaMemsetAsync(p, 0, n, st));
#undef BOT_CUDA_CHECK
#define BOT_CUDA_CHECK(call) ::bot::cuda::check_result((call), #call, __FILE__, __LINE__)
// Checks the kernel launch just made: BOT_CUDA_CHECK_LAUNCH("relu_forward");
#define BOT_CUDA_CHECK_LAUNCH(name) ::bot::cuda::check_result(cudaGetLastError(), (name), __FILE__, __LINE__)
