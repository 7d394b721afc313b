// Placeholder until the conv2d op family is bound.
#include "ops.h"

namespace botjs {
void InitConv2dOps(Napi::Env, Napi::Object) {}
}  // namespace botjs
