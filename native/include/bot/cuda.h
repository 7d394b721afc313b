// The CUDA backend's entry points that exist in every build. In a CPU-only build (or on a
// machine without a driver or device) cuda_info() says why CUDA cannot be used; it never
// throws and never fails to load.
#pragma once
#include <string>
#include <vector>

namespace bot {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;  // compute capability
  size_t total_memory = 0;   // bytes
  int multiprocessors = 0;
};

struct CudaInfo {
  bool compiled = false;     // the addon was built with CUDA code
  bool available = false;    // a usable device exists
  std::string reason;        // why not available (empty when available)
  int driver_version = 0;    // e.g. 13000; 0 when no driver
  int runtime_version = 0;   // of the statically linked runtime
  std::string archs;         // SM targets compiled in
  bool simulator = false;    // built against the functional PTX simulator (BAGOFTRICKS_CUDA_SIM)
  std::vector<CudaDeviceInfo> devices;
};

CudaInfo cuda_info();
// Runs the trivial self-test kernel (y = a*x + y on n floats) on device 0 and returns the
// maximum absolute error against the CPU; throws ERR_CUDA_UNAVAILABLE without a device.
double cuda_selftest(int n);

}  // namespace bot
