// Mixup's image blend, on a batch in place of the loader (Zhang et al. 2018; the
// Bag-of-Tricks paper, section 5.3):
//   y[i] = lambda * x[i] + (1 - lambda) * x[perm[i]]     for each sample i of n
// x and y are (n, sample_numel); perm is a permutation of [0, n) (any map into [0, n) is
// accepted); y must not alias x. The matching soft targets are blended the same way by
// the caller.
#pragma once
#include <cstdint>

namespace bot {

void mixup_blend(int64_t n, int64_t sample_numel, const float* x, const int32_t* perm,
                 float lambda, float* y);
// The checks mixup_blend makes (n, sizes, lambda in [0, 1], every partner in [0, n)),
// for backends that blend elsewhere (the CUDA Net): throws ERR_SHAPE / ERR_ARGUMENT.
void mixup_check(int64_t n, int64_t sample_numel, const int32_t* perm, float lambda);

}  // namespace bot
