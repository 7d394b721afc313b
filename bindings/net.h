// The `Net` export: a compiled model that trains in one async call per step.
#pragma once
#include <napi.h>

namespace botjs {
void InitNet(Napi::Env env, Napi::Object exports);
}
