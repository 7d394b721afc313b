// The `runtime` export: thread count, CPU features and the CUDA backend's status.
#pragma once
#include <napi.h>

namespace botjs {
void InitRuntime(Napi::Env env, Napi::Object runtime);
}
