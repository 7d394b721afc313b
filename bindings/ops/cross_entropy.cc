// Placeholder until the cross_entropy op family is bound.
#include "ops.h"

namespace botjs {
void InitCrossEntropyOps(Napi::Env, Napi::Object) {}
}  // namespace botjs
