// Placeholder until the sgd op family is bound.
#include "ops.h"

namespace botjs {
void InitSgdOps(Napi::Env, Napi::Object) {}
}  // namespace botjs
