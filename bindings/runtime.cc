#include "runtime.h"

#include "args.h"
#include "bot/cpu_features.h"
#include "bot/cuda.h"
#include "bot/cuda_ops.h"
#include "bot/threadpool.h"
#include "errors.h"
#include "ops.h"

namespace botjs {

namespace {

Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bot::ThreadPool::global().size());
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int64_t n = int_arg(info, 0, "threads", 1, 256);
  bot::ThreadPool::global().set_size(static_cast<int>(n));
  return info.Env().Undefined();
}

Napi::Value CpuFeatures(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const bot::CpuFeatures& f = bot::cpu_features();
  Napi::Object o = Napi::Object::New(env);
  o.Set("avx2", f.avx2);
  o.Set("fma", f.fma);
  o.Set("f16c", f.f16c);
  o.Set("avx512f", f.avx512f);
  o.Set("avx2KernelsUsed", bot::use_avx2_fma());
  o.Set("avx512KernelsUsed", bot::use_avx512());
  return o;
}

Napi::Value MeasureClock(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bot::measure_clock_ghz());
}

Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bot::CudaInfo c = bot::cuda_info();
  Napi::Object o = Napi::Object::New(env);
  o.Set("compiled", c.compiled);
  o.Set("available", c.available);
  o.Set("reason", c.reason);
  o.Set("driverVersion", c.driver_version);
  o.Set("runtimeVersion", c.runtime_version);
  o.Set("archs", c.archs);
  o.Set("simulator", c.simulator);
  Napi::Array devices = Napi::Array::New(env, c.devices.size());
  for (uint32_t i = 0; i < c.devices.size(); ++i) {
    const bot::CudaDeviceInfo& d = c.devices[i];
    Napi::Object dev = Napi::Object::New(env);
    dev.Set("index", d.index);
    dev.Set("name", d.name);
    dev.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
    dev.Set("totalMemory", double(d.total_memory));
    dev.Set("multiprocessors", d.multiprocessors);
    devices.Set(i, dev);
  }
  o.Set("devices", devices);
  return o;
}

Napi::Value CudaSelftest(const Napi::CallbackInfo& info) {
  int64_t n = int_arg(info, 0, "n", 1, int64_t(1) << 26);
  return Napi::Number::New(info.Env(), bot::cuda_selftest(static_cast<int>(n)));
}

// cudaAllocate(bytes): allocates `bytes` of device memory on the backend's stream and frees
// it again; ERR_CUDA_OOM when the device cannot hold it (the error is recoverable).
Napi::Value CudaAllocate(const Napi::CallbackInfo& info) {
  int64_t bytes = int_arg(info, 0, "bytes", 0, int64_t(1) << 52);
  bot::cuda::allocate_probe(bytes);
  return info.Env().Undefined();
}

}  // namespace

void InitRuntime(Napi::Env env, Napi::Object runtime) {
  SetOp(env, runtime, "getThreads", GetThreads);
  SetOp(env, runtime, "setThreads", SetThreads);
  SetOp(env, runtime, "cpuFeatures", CpuFeatures);
  SetOp(env, runtime, "cudaInfo", CudaInfo);
  SetOp(env, runtime, "measureClockGHz", MeasureClock);
  SetOp(env, runtime, "cudaSelftest", CudaSelftest);
  SetOp(env, runtime, "cudaAllocate", CudaAllocate);
#ifdef BOT_WITH_CUDA
  runtime.Set("cudaCompiled", true);
#else
  runtime.Set("cudaCompiled", false);
#endif
}

}  // namespace botjs
