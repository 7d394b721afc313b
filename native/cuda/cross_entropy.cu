// Softmax cross-entropy over logits (N, K), averaged over the batch, on the device
// (semantics in bot/ops/cross_entropy.h, as native/cpu/cross_entropy.cpp):
//
//   hard labels with the paper's label smoothing: q = 1 - eps on the label, eps / (K - 1)
//   on every other class;  soft targets: q given per row.
//   loss = -1/N sum_n sum_k q[n,k] log softmax(z)[n,k],  dz = (softmax(z) - q) / N
//
// One block per row; the max, the log-sum-exp and the loss are reduced in double (as the
// CPU op), each row's loss is written out and the host adds the rows in order.
#include <cmath>
#include <string>
#include <vector>

#include "bot/cuda/runtime.cuh"
#include "bot/cuda_ops.h"
#include "bot/status.h"

namespace bot::cuda {

namespace {

constexpr int kBlock = 128;  // threads per row: K = 1000 classes is ~8 per thread

// Sum (or max) of one double per thread across the block; every thread gets the result.
template <bool kMax>
__device__ double block_reduce(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      const double o = shared[threadIdx.x + s];
      shared[threadIdx.x] = kMax ? fmax(shared[threadIdx.x], o) : shared[threadIdx.x] + o;
    }
    __syncthreads();
  }
  const double r = shared[0];
  __syncthreads();
  return r;
}

// labels != nullptr: hard labels (on/off weights); else targets (N, K).
__global__ void cross_entropy_kernel(int64_t k, double on, double off, double inv_n, const float* __restrict__ logits,
                                     const int32_t* __restrict__ labels, const float* __restrict__ targets,
                                     float* __restrict__ dlogits, double* __restrict__ row_loss) {
  __shared__ double shared[kBlock];
  const int64_t row = blockIdx.x;
  const float* z = logits + row * k;
  double m = -INFINITY;
  for (int64_t j = threadIdx.x; j < k; j += kBlock) m = fmax(m, double(z[j]));
  m = block_reduce<true>(m, shared);
  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < k; j += kBlock) sum += exp(double(z[j]) - m);
  const double lse = m + log(block_reduce<false>(sum, shared));
  double loss = 0.0;
  for (int64_t j = threadIdx.x; j < k; j += kBlock) {
    const double logp = double(z[j]) - lse;
    const double q = labels != nullptr ? (j == labels[row] ? on : off) : double(targets[row * k + j]);
    if (q != 0.0) loss -= q * logp;
    dlogits[row * k + j] = float((exp(logp) - q) * inv_n);
  }
  loss = block_reduce<false>(loss, shared);
  if (threadIdx.x == 0) row_loss[row] = loss;
}

double run(const CrossEntropyProblem& p, const float* logits, const int32_t* labels, const float* targets,
           float* dlogits) {
  cudaStream_t st = stream();
  const size_t zbytes = sizeof(float) * size_t(p.n * p.classes);
  DeviceBuffer d_z = to_device(logits, zbytes);
  DeviceBuffer d_labels = labels != nullptr ? to_device(labels, sizeof(int32_t) * size_t(p.n)) : DeviceBuffer();
  DeviceBuffer d_targets = targets != nullptr ? to_device(targets, zbytes) : DeviceBuffer();
  DeviceBuffer d_dz(zbytes);
  DeviceBuffer d_loss(sizeof(double) * size_t(p.n));
  const double on = 1.0 - double(p.smoothing);                    // true class
  const double off = double(p.smoothing) / double(p.classes - 1);  // every other class
  BOT_CHECK(p.n <= int64_t(0x7fffffff), Code::kShape, "cross-entropy: too many rows for one launch");
  cross_entropy_kernel<<<unsigned(p.n), kBlock, 0, st>>>(p.classes, on, off, 1.0 / double(p.n), d_z.as<float>(),
                                                         d_labels.as<int32_t>(), d_targets.as<float>(),
                                                         d_dz.as<float>(), d_loss.as<double>());
  BOT_CUDA_CHECK_LAUNCH("cross_entropy_kernel");
  std::vector<double> losses(size_t(p.n));
  copy_to_host(losses.data(), d_loss.get(), d_loss.bytes());
  if (dlogits != nullptr) copy_to_host(dlogits, d_dz.get(), zbytes);
  synchronize();
  double total = 0.0;
  for (double l : losses) total += l;
  return total / double(p.n);
}

}  // namespace

double cross_entropy_hard(const CrossEntropyProblem& p, const float* logits, const int32_t* labels,
                          float* dlogits) {
  p.validate();
  for (int64_t i = 0; i < p.n; ++i)
    BOT_CHECK(labels[i] >= 0 && labels[i] < p.classes, Code::kArgument,
              "label " + std::to_string(labels[i]) + " at row " + std::to_string(i) + " is outside [0, " +
                  std::to_string(p.classes) + ")");
  return run(p, logits, labels, nullptr, dlogits);
}

double cross_entropy_soft(const CrossEntropyProblem& p, const float* logits, const float* targets,
                          float* dlogits) {
  p.validate();
  for (int64_t i = 0; i < p.n * p.classes; ++i)
    BOT_CHECK(std::isfinite(targets[i]) && targets[i] >= 0.0f, Code::kArgument,
              "soft targets must be finite and >= 0; element " + std::to_string(i) + " is " +
                  std::to_string(targets[i]));
  return run(p, logits, nullptr, targets, dlogits);
}

}  // namespace bot::cuda
