// The `dist` export: the MPI process group for data-parallel training.
#pragma once
#include <napi.h>

#include <memory>

#include "bot/dist.h"

namespace botjs {
void InitDist(Napi::Env env, Napi::Object dist);
// The group made by dist.init(); throws ERR_ARGUMENT before it.
std::shared_ptr<bot::dist::Comm> world_comm(Napi::Env env);
}  // namespace botjs
