// The CUDA runtime layer: error mapping, the sticky "poisoned" state, the process stream,
// stream-ordered device buffers and copies. See bot/cuda/runtime.cuh for the policy.
#include <atomic>
#include <mutex>
#include <string>

#include "bot/cuda.h"
#include "bot/cuda/runtime.cuh"
#include "bot/cuda_ops.h"
#include "bot/status.h"

namespace bot::cuda {

namespace {

// Sticky-error state. The flag is read on every entry point; the message is written once,
// under the mutex, before the flag is raised.
std::atomic<bool> g_poisoned{false};
std::mutex g_poison_mutex;
std::string g_poison_message;

// Availability is decided once per process (the driver and device set do not change).
std::once_flag g_ready_once;
bool g_available = false;
std::string g_unavailable_reason;

std::once_flag g_stream_once;
cudaStream_t g_stream = nullptr;
cudaError_t g_stream_error = cudaSuccess;

bool is_unavailable_error(cudaError_t err) {
  switch (err) {
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInitializationError:
    case cudaErrorStubLibrary:
    case cudaErrorDevicesUnavailable:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice:
      return true;
    default:
      return false;
  }
}

[[noreturn]] void fail_poisoned() {
  std::lock_guard<std::mutex> lock(g_poison_mutex);
  fail(Code::kCudaFatal,
       "the CUDA context is unusable after an earlier error; restart the process (first "
       "error: " + g_poison_message + ")");
}

}  // namespace

void check_result(cudaError_t err, const char* what, const char* file, int line) {
  if (err == cudaSuccess) return;
  std::string msg = std::string(what) + " failed: " + cudaGetErrorString(err) + " (" +
                    cudaGetErrorName(err) + " at " + file + ":" + std::to_string(line) + ")";
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear it: out-of-memory is not sticky
    fail(Code::kCudaOutOfMemory, msg);
  }
  if (is_unavailable_error(err)) {
    cudaGetLastError();
    fail(Code::kCudaUnavailable, msg);
  }
  {
    std::lock_guard<std::mutex> lock(g_poison_mutex);
    if (!g_poisoned.load()) {
      g_poison_message = msg;
      g_poisoned.store(true);
    }
  }
  fail(Code::kCudaFatal, msg);
}

bool poisoned() { return g_poisoned.load(); }

void ensure_ready() {
  if (g_poisoned.load()) fail_poisoned();
  std::call_once(g_ready_once, [] {
    CudaInfo info = cuda_info();
    g_available = info.available;
    g_unavailable_reason = info.reason;
  });
  if (!g_available) fail(Code::kCudaUnavailable, g_unavailable_reason);
}

cudaStream_t stream() {
  ensure_ready();
  std::call_once(g_stream_once, [] {
    g_stream_error = cudaSetDevice(0);
    if (g_stream_error == cudaSuccess)
      g_stream_error = cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking);
  });
  if (g_stream_error != cudaSuccess)
    check_result(g_stream_error, "creating the bagoftricks CUDA stream", __FILE__, __LINE__);
  return g_stream;
}

void synchronize() {
  cudaStream_t st = stream();
  BOT_CUDA_CHECK(cudaStreamSynchronize(st));
  // A kernel fault surfaces at the synchronisation above; anything left over is checked too.
  BOT_CUDA_CHECK(cudaGetLastError());
}

void copy_to_device(void* dst_device, const void* src_host, size_t bytes) {
  if (bytes == 0) return;
  BOT_CUDA_CHECK(cudaMemcpyAsync(dst_device, src_host, bytes, cudaMemcpyHostToDevice, stream()));
}

void copy_to_host(void* dst_host, const void* src_device, size_t bytes) {
  if (bytes == 0) return;
  BOT_CUDA_CHECK(cudaMemcpyAsync(dst_host, src_device, bytes, cudaMemcpyDeviceToHost, stream()));
}

void zero(void* dst_device, size_t bytes) {
  if (bytes == 0) return;
  BOT_CUDA_CHECK(cudaMemsetAsync(dst_device, 0, bytes, stream()));
}

DeviceBuffer::DeviceBuffer(size_t bytes) {
  cudaStream_t st = stream();
  if (bytes == 0) return;
  BOT_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes, st));
  bytes_ = bytes;
#ifdef BOT_CUDA_SIM
  // The simulator hands out zeroed memory where a GPU gives whatever was there: fill every
  // new buffer with all-ones bytes (NaN as float and as half), so a kernel that reads memory
  // nobody wrote fails its test here instead of passing by luck.
  BOT_CUDA_CHECK(cudaMemsetAsync(ptr_, 0xFF, bytes, st));
#endif
}

DeviceBuffer::~DeviceBuffer() { release(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept : ptr_(other.ptr_), bytes_(other.bytes_) {
  other.ptr_ = nullptr;
  other.bytes_ = 0;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    release();
    ptr_ = other.ptr_;
    bytes_ = other.bytes_;
    other.ptr_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

DeviceBuffer to_device(const void* src_host, size_t bytes) {
  DeviceBuffer b(bytes);
  copy_to_device(b.get(), src_host, bytes);
  return b;
}

void DeviceBuffer::release() noexcept {
  if (ptr_ == nullptr) return;
  // A destructor cannot throw: a failed free after a sticky error is ignored (the context
  // is gone anyway); a non-sticky failure is cleared so it is not blamed on a later call.
  if (cudaFreeAsync(ptr_, g_stream) != cudaSuccess && !g_poisoned.load()) cudaGetLastError();
  ptr_ = nullptr;
  bytes_ = 0;
}

void allocate_probe(int64_t bytes) {
  BOT_CHECK(bytes >= 0, Code::kArgument, "allocate_probe: negative size");
  DeviceBuffer b(static_cast<size_t>(bytes));
  synchronize();
}

}  // namespace bot::cuda
