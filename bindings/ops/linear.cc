// Placeholder until the linear op family is bound.
#include "ops.h"

namespace botjs {
void InitLinearOps(Napi::Env, Napi::Object) {}
}  // namespace botjs
