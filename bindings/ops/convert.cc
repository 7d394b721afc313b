// Placeholder until the convert op family is bound.
#include "ops.h"

namespace botjs {
void InitConvertOps(Napi::Env, Napi::Object) {}
}  // namespace botjs
