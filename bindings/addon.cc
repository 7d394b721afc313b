// The addon's entry point: `ops` (every CPU kernel), `Net` (a compiled model),
// `runtime` (threads, CPU features, CUDA status), `dist` (the MPI process group).
#include <napi.h>

#include "dist.h"
#include "net.h"
#include "ops.h"
#include "runtime.h"

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Object ops = Napi::Object::New(env);
  botjs::InitOps(env, ops);
  exports.Set("ops", ops);
  Napi::Object runtime = Napi::Object::New(env);
  botjs::InitRuntime(env, runtime);
  exports.Set("runtime", runtime);
  Napi::Object dist = Napi::Object::New(env);
  botjs::InitDist(env, dist);
  exports.Set("dist", dist);
  botjs::InitNet(env, exports);
  return exports;
}

NODE_API_MODULE(bagoftricks, Init)
