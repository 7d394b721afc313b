// Errors of the core. Every failure the core can report is a bot::Error carrying a
// stable code; the binding layer turns it into a JS Error whose `code` is code_name().
// Nothing in the core aborts or exits on bad input.
#pragma once
#include <stdexcept>
#include <string>

namespace bot {

enum class Code {
  kShape,            // ERR_SHAPE: sizes disagree, or a shape is impossible
  kDType,            // ERR_DTYPE: wrong element type
  kArgument,         // ERR_ARGUMENT: a scalar argument out of range, a missing argument
  kOutOfMemory,      // ERR_OUT_OF_MEMORY: host allocation failed
  kCudaUnavailable,  // ERR_CUDA_UNAVAILABLE: no CUDA build, driver or device
  kCudaOutOfMemory,  // ERR_CUDA_OOM: device allocation failed (recoverable)
  kCudaFatal,        // ERR_CUDA_FATAL: sticky CUDA error, the context is unusable
  kDistUnavailable,  // ERR_DIST_UNAVAILABLE: no MPI (or NCCL) in this build
  kDistTimeout,      // ERR_DIST_TIMEOUT: a collective did not complete in time (a rank died or hangs)
  kDistFailed,       // ERR_DIST: the transport reported an error
  kInternal,         // ERR_INTERNAL: a bug in bagoftricks
};

const char* code_name(Code code);

class Error : public std::runtime_error {
 public:
  Error(Code code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Code code() const { return code_; }

 private:
  Code code_;
};

[[noreturn]] void fail(Code code, const std::string& message);

}  // namespace bot

// Checks a condition that depends on user input; throws bot::Error when it is false.
#define BOT_CHECK(cond, code, message)           \
  do {                                           \
    if (!(cond)) ::bot::fail((code), (message)); \
  } while (0)
