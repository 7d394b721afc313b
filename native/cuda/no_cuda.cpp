// CPU-only build: the CUDA entry points report why CUDA cannot be used.
#include "bot/cuda.h"
#include "bot/net_device.h"
#include "bot/status.h"

namespace bot {

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = false;
  info.available = false;
  info.reason = "this build of bagoftricks has no CUDA backend (built without nvcc, or with "
                "BAGOFTRICKS_CUDA=OFF)";
  return info;
}

double cuda_selftest(int) {
  fail(Code::kCudaUnavailable, cuda_info().reason);
}

std::unique_ptr<NetDevice> make_cuda_net_device(Precision) {
  fail(Code::kCudaUnavailable, "the CUDA backend is unavailable: " + cuda_info().reason);
}

}  // namespace bot
