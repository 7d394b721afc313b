// Placeholder until the pool op family is bound.
#include "ops.h"

namespace botjs {
void InitPoolOps(Napi::Env, Napi::Object) {}
}  // namespace botjs
