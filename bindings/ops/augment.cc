// Placeholder until the augment op family is bound.
#include "ops.h"

namespace botjs {
void InitAugmentOps(Napi::Env, Napi::Object) {}
}  // namespace botjs
