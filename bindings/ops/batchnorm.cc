// Placeholder until the batchnorm op family is bound.
#include "ops.h"

namespace botjs {
void InitBatchNormOps(Napi::Env, Napi::Object) {}
}  // namespace botjs
