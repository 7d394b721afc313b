#include "bot/status.h"

namespace bot {

const char* code_name(Code code) {
  switch (code) {
    case Code::kShape: return "ERR_SHAPE";
    case Code::kDType: return "ERR_DTYPE";
    case Code::kArgument: return "ERR_ARGUMENT";
    case Code::kOutOfMemory: return "ERR_OUT_OF_MEMORY";
    case Code::kCudaUnavailable: return "ERR_CUDA_UNAVAILABLE";
    case Code::kCudaOutOfMemory: return "ERR_CUDA_OOM";
    case Code::kCudaFatal: return "ERR_CUDA_FATAL";
    case Code::kDistUnavailable: return "ERR_DIST_UNAVAILABLE";
    case Code::kDistTimeout: return "ERR_DIST_TIMEOUT";
    case Code::kDistFailed: return "ERR_DIST";
    case Code::kInternal: return "ERR_INTERNAL";
  }
  return "ERR_INTERNAL";
}

void fail(Code code, const std::string& message) { throw Error(code, message); }

}  // namespace bot
