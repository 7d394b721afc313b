// Softmax cross-entropy over logits (N, K), averaged over the batch, on the device
// (semantics in bot/ops/cross_entropy.h, as native/cpu/cross_entropy.cpp):
//
//   hard labels with the paper's label smoothing: q = 1 - eps on the label, eps / (K - 1)
//   on every other class;  soft targets: q given per row.
//   loss = -1/N sum_n sum_k q[n,k] log softmax(z)[n,k],  dz = (softmax(z) - q) / N
//   distillation (teacher logits r, temperature T): with q_T = softmax(r / T) and
//   p_T = softmax(z / T), loss += T^2 * (-1/N) sum q_T log p_T,  dz += T (p_T - q_T) / N
//
// One launch for the whole loss of a training step, one block per row. The block finds
// the row's max and argmax (the accuracy count comes for free), then reduces the
// log-sum-exp(s) and the loss in double, the CPU op's precision; each thread writes the
// gradient of its classes with the CPU's roundings (each term rounded to FP32, summed in
// FP32, then times the loss scale). Row i's loss divided by N goes to row_loss[i]; the host
// adds the rows in order. The block reductions run in a fixed order, so the result does
// not change from run to run.
//
// FP16 storage: cross_entropy_device also takes __half logits and writes __half dlogits.
// The kernel is a template over that storage type T (float or __half): logits are widened
// to FP32 when read (exact), so the max, argmax, NaN rules and double sums are those of the
// same values in FP32, and the gradient g is computed in FP32 as for float storage, times
// the loss scale, then rounded to FP16 once, when stored. Targets and teacher logits stay
// float (staged inputs, not activations).
//
// cross_entropy_device is the launcher of bot/cuda/kernels.cuh (device memory, as the CUDA
// Net's step runs it); cross_entropy_hard / _soft (bot/cuda_ops.h) wrap it for host memory.
#include <cuda_fp16.h>

#include <climits>
#include <cmath>
#include <string>
#include <vector>

#include "bot/cuda/kernels.cuh"
#include "bot/cuda/runtime.cuh"
#include "bot/cuda_ops.h"
#include "bot/status.h"

namespace bot::cuda {

namespace {

constexpr int kBlock = 128;  // threads per row: K = 1000 classes is ~8 per thread
constexpr int kNone = INT_MAX;  // argmax index of a thread that saw no number (only NaNs)

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

// The largest number of a row and its lowest index, NaNs skipped (value -inf and index
// kNone when there is none). std::max_element, which the CPU's accuracy count uses, keeps
// the first element unless a later one compares greater: for a row whose first element is
// a number that is exactly this; a row starting with NaN is the caller's special case.
struct ArgMax {
  float value;
  int index;
};

__device__ ArgMax better(ArgMax a, ArgMax b) {
  return (b.value > a.value || (b.value == a.value && b.index < a.index)) ? b : a;
}

// Each thread scans its classes in increasing order (so ties keep the lowest index), then
// the block combines the threads' results; every thread gets the row's. v: logits (T) or
// soft targets (float), compared as FP32.
template <typename T>
__device__ ArgMax row_argmax(const T* __restrict__ v, int64_t k, float* s_value, int* s_index) {
  ArgMax m{-INFINITY, kNone};
  for (int64_t j = threadIdx.x; j < k; j += kBlock) {
    const float x = widen(v[j]);
    if (x > m.value || (m.index == kNone && x == x)) m = {x, int(j)};
  }
  s_value[threadIdx.x] = m.value;
  s_index[threadIdx.x] = m.index;
  __syncthreads();
  for (int s = kBlock / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      const ArgMax r = better({s_value[threadIdx.x], s_index[threadIdx.x]},
                              {s_value[threadIdx.x + s], s_index[threadIdx.x + s]});
      s_value[threadIdx.x] = r.value;
      s_index[threadIdx.x] = r.index;
    }
    __syncthreads();
  }
  const ArgMax r{s_value[0], s_index[0]};
  __syncthreads();
  return r;
}

// std::max_element's index: 0 when the row starts with NaN (nothing compares greater).
template <typename T>
__device__ int predicted(const T* v, const ArgMax& m) {
  const float v0 = widen(v[0]);  // an FP16 NaN widens to an FP32 NaN
  return (v0 != v0 || m.index == kNone) ? 0 : m.index;
}

// T: the storage of logits and dlogits.
template <typename T>
struct Args {
  int64_t n, k;
  double on, off;  // hard labels: the target's two values
  double inv_n;
  double t;        // distillation temperature
  float loss_scale;
  const T* logits;
  const int32_t* labels;   // hard labels, or null
  const float* targets;    // soft targets (N, K) when labels is null
  const float* teacher;    // teacher logits (N, K), or null
  T* dlogits;              // each may be null
  double* row_loss;
  int32_t* correct;
};

template <typename T>
__global__ void cross_entropy_kernel(Args<T> a) {
  __shared__ double shared[kBlock];
  __shared__ float s_value[kBlock];
  __shared__ int s_index[kBlock];
  const int64_t row = blockIdx.x, k = a.k;
  const T* z = a.logits + row * k;
  const float* tq = a.targets != nullptr ? a.targets + row * k : nullptr;
  const float* r = a.teacher != nullptr ? a.teacher + row * k : nullptr;

  // The row's max (the CPU's m: fmax skips NaNs; a row of NaNs gives NaN either way).
  const ArgMax zmax = row_argmax(z, k, s_value, s_index);
  const double m = double(zmax.value);
  if (a.correct != nullptr) {
    const int truth = a.labels != nullptr ? a.labels[row] : predicted(tq, row_argmax(tq, k, s_value, s_index));
    if (threadIdx.x == 0) a.correct[row] = predicted(z, zmax) == truth ? 1 : 0;
  }

  double sum = 0.0;
  for (int64_t j = threadIdx.x; j < k; j += kBlock) sum += exp(double(widen(z[j])) - m);
  const double lse = m + log(block_reduce<false>(sum, shared));

  // Distillation: q_T = exp((r - rm) / T) / rs and log p_T = z / T - lse_T.
  const double t = a.t;
  double rm = 0.0, rs = 1.0, lse_t = 0.0;
  if (r != nullptr) {
    double v = -INFINITY;
    for (int64_t j = threadIdx.x; j < k; j += kBlock) v = fmax(v, double(r[j]));
    rm = block_reduce<true>(v, shared);
    double s1 = 0.0, s2 = 0.0;
    for (int64_t j = threadIdx.x; j < k; j += kBlock) {
      s1 += exp((double(r[j]) - rm) / t);
      s2 += exp((double(widen(z[j])) - m) / t);
    }
    rs = block_reduce<false>(s1, shared);
    lse_t = m / t + log(block_reduce<false>(s2, shared));
  }

  double loss = 0.0, loss_t = 0.0;
  const int32_t label = a.labels != nullptr ? a.labels[row] : -1;
  for (int64_t j = threadIdx.x; j < k; j += kBlock) {
    const double logp = double(widen(z[j])) - lse;
    const double q = a.labels != nullptr ? (j == label ? a.on : a.off) : double(tq[j]);
    if (q != 0.0) loss -= q * logp;
    float g = float((exp(logp) - q) * a.inv_n);
    if (r != nullptr) {
      const double qt = exp((double(r[j]) - rm) / t) / rs;
      const double logpt = double(widen(z[j])) / t - lse_t;
      loss_t -= qt * logpt;
      g = __fadd_rn(g, float(t * (exp(logpt) - qt) * a.inv_n));  // the CPU's dz += ...
    }
    if (a.loss_scale != 1.0f) g = __fmul_rn(g, a.loss_scale);
    if (a.dlogits != nullptr) store(a.dlogits + row * k + j, g);  // FP16: the one rounding of g
  }
  loss = block_reduce<false>(loss, shared);
  if (r != nullptr) {
    loss_t = block_reduce<false>(loss_t, shared);
    loss = __dadd_rn(loss, __dmul_rn(__dmul_rn(t, t), loss_t));  // T * T * loss_t, then added: no FMA
  }
  // The CPU divides the sum of the rows by N; here each row is divided, and the host sums.
  if (threadIdx.x == 0 && a.row_loss != nullptr) a.row_loss[row] = loss / double(a.n);
}

// The launcher's body, shared by the float and __half overloads (T: logits and dlogits).
template <typename T>
void launch(const CrossEntropyProblem& p, const T* logits, const int32_t* labels, const float* targets,
            const float* teacher, float temperature, float loss_scale, T* dlogits, double* row_loss,
            int32_t* correct, cudaStream_t st) {
  p.validate();
  BOT_CHECK((labels != nullptr) != (targets != nullptr), Code::kArgument,
            "cross-entropy takes either hard labels or soft targets");
  if (teacher != nullptr) cross_entropy_check_temperature(temperature);
  BOT_CHECK(std::isfinite(loss_scale) && loss_scale > 0.0f, Code::kArgument,
            "loss scale must be finite and > 0, got " + std::to_string(loss_scale));
  BOT_CHECK(p.n <= int64_t(INT_MAX) && p.classes < int64_t(INT_MAX), Code::kShape,
            "cross-entropy: too many rows or classes for one launch");
  Args<T> a;
  a.n = p.n;
  a.k = p.classes;
  a.on = 1.0 - double(p.smoothing);                    // true class
  a.off = double(p.smoothing) / double(p.classes - 1);  // every other class
  a.inv_n = 1.0 / double(p.n);
  a.t = double(temperature);
  a.loss_scale = loss_scale;
  a.logits = logits;
  a.labels = labels;
  a.targets = targets;
  a.teacher = teacher;
  a.dlogits = dlogits;
  a.row_loss = row_loss;
  a.correct = correct;
  cross_entropy_kernel<T><<<unsigned(p.n), kBlock, 0, st>>>(a);
  BOT_CUDA_CHECK_LAUNCH("cross_entropy_kernel");
}

// Runs the launcher over host arrays and returns the batch loss.
double run(const CrossEntropyProblem& p, const float* logits, const int32_t* labels, const float* targets,
           float* dlogits) {
  cudaStream_t st = stream();
  const size_t zbytes = sizeof(float) * size_t(p.n * p.classes);
  DeviceBuffer d_z = to_device(logits, zbytes);
  DeviceBuffer d_labels = labels != nullptr ? to_device(labels, sizeof(int32_t) * size_t(p.n)) : DeviceBuffer();
  DeviceBuffer d_targets = targets != nullptr ? to_device(targets, zbytes) : DeviceBuffer();
  DeviceBuffer d_dz(dlogits != nullptr ? zbytes : 0);
  DeviceBuffer d_loss(sizeof(double) * size_t(p.n));
  cross_entropy_device(p, d_z.as<float>(), d_labels.as<int32_t>(), d_targets.as<float>(), nullptr, 1.0f, 1.0f,
                       d_dz.as<float>(), d_loss.as<double>(), nullptr, st);
  std::vector<double> losses(size_t(p.n));
  copy_to_host(losses.data(), d_loss.get(), d_loss.bytes());
  if (dlogits != nullptr) copy_to_host(dlogits, d_dz.get(), zbytes);
  synchronize();
  double total = 0.0;
  for (double l : losses) total += l;
  return total;
}

}  // namespace

// --- device-memory launcher (bot/cuda/kernels.cuh) --------------------------------------

void cross_entropy_device(const CrossEntropyProblem& p, const float* logits, const int32_t* labels,
                          const float* targets, const float* teacher, float temperature, float loss_scale,
                          float* dlogits, double* row_loss, int32_t* correct, cudaStream_t st) {
  launch(p, logits, labels, targets, teacher, temperature, loss_scale, dlogits, row_loss, correct, st);
}

void cross_entropy_device(const CrossEntropyProblem& p, const __half* logits, const int32_t* labels,
                          const float* targets, const float* teacher, float temperature, float loss_scale,
                          __half* dlogits, double* row_loss, int32_t* correct, cudaStream_t st) {
  launch(p, logits, labels, targets, teacher, temperature, loss_scale, dlogits, row_loss, correct, st);
}

// --- host-memory ops (bot/cuda_ops.h) ---------------------------------------------------

double cross_entropy_hard(const CrossEntropyProblem& p, const float* logits, const int32_t* labels,
                          float* dlogits) {
  p.validate();
  cross_entropy_check_labels(p, labels);
  return run(p, logits, labels, nullptr, dlogits);
}

double cross_entropy_soft(const CrossEntropyProblem& p, const float* logits, const float* targets,
                          float* dlogits) {
  p.validate();
  cross_entropy_check_targets(p, targets);
  return run(p, logits, nullptr, targets, dlogits);
}

}  // namespace bot::cuda
