// The SGD / Nesterov step over many parameter tensors in ONE kernel launch (semantics in
// bot/ops/sgd.h, PyTorch's SGD with dampening 0), the mixed-precision update as the maths
// reads:
//
//   lr_t = lr * lr_scale_t                           (FP32, as the CPU Net's update())
//   g    = grad * grad_scale + weight_decay_t * w    (grad_scale unscales a scaled loss)
//   buf  = momentum * buf + g
//   w   -= lr_t * (g + momentum * buf)  (Nesterov)   w -= lr_t * buf   (plain momentum)
//   w16  = fp16(w)                      (the FP16 copy the convolutions read, when asked)
//
// The tensors are cut into chunks of kChunk elements; a table of (tensor, first element)
// chunks drives a 1-D grid, one block per chunk, so one launch covers every tensor
// whatever their sizes. The same chunk tables drive the finiteness check (one launch over
// a set of arrays: a device flag is raised when any value, times a scale, is inf/NaN).
//
// Two users share the two kernels:
//   SgdMulti / FiniteCheck (bot/cuda/kernels.cuh): the CUDA Net's fixed parameter set; the
//     tables are built and uploaded once, at construction, and every step is one launch.
//     The FP16 copy is an FP32 array holding FP16-rounded values (w_round).
//   sgd_step_multi (bot/cuda_ops.h): host tensors, tables built per call; the FP16 copy
//     is binary16 (w_f16), and with skip_nonfinite the check kernel runs first and the
//     step kernel reads its flag and changes nothing when it is raised (GradScaler: skip
//     the step, lower the scale).
// The step kernel is a template over the FP16 copy's type, so its arithmetic exists once.
// It uses round-to-nearest intrinsics (no FMA contraction), so the FP32 results are
// bit-identical to the CPU op's; lr * lr_scale is the same FP32 product the CPU Net's host
// code forms before its sgd_step, and lr * 1 is exactly lr.
#include <cuda_fp16.h>

#include <cmath>
#include <string>
#include <vector>

#include "bot/cuda/kernels.cuh"
#include "bot/cuda/runtime.cuh"
#include "bot/cuda_ops.h"
#include "bot/status.h"

namespace bot::cuda {

namespace {

constexpr int64_t kChunk = 4096;  // elements per block: 16 per thread, 48 KiB of traffic
constexpr int kBlock = 256;       // 8 warps per chunk

// One tensor of the step. Round: float (FP32 array of FP16-rounded values) or __half.
template <typename Round>
struct TensorDesc {
  float* w;
  const float* g;
  float* buf;       // unused when momentum == 0
  Round* w_round;   // may be null
  int64_t n;
  float weight_decay;
  float lr_scale;
};

struct ChunkDesc {
  int32_t tensor;
  int64_t start;
};

// The chunks of tensors of the given sizes, in tensor order.
std::vector<ChunkDesc> chunk_table(const std::vector<int64_t>& sizes) {
  BOT_CHECK(sizes.size() < size_t(INT32_MAX), Code::kArgument, "too many tensors for one launch");
  std::vector<ChunkDesc> chunks;
  for (size_t t = 0; t < sizes.size(); ++t)
    for (int64_t s = 0; s < sizes[t]; s += kChunk) chunks.push_back({int32_t(t), s});
  BOT_CHECK(chunks.size() < size_t(INT32_MAX), Code::kArgument, "too many elements for one launch");
  return chunks;
}

__device__ __forceinline__ void store_round(float* p, float w) { *p = round_f16_like_cpu(w); }
__device__ __forceinline__ void store_round(__half* p, float w) { *p = f16_like_cpu(w); }

// found: null, or a flag that, when raised, skips the step (written by the check kernel
// earlier on the same stream).
template <typename Round>
__global__ void sgd_kernel(const TensorDesc<Round>* __restrict__ tensors, const ChunkDesc* __restrict__ chunks,
                           float lr, float mu, bool nesterov, float grad_scale,
                           const int32_t* __restrict__ found) {
  if (found != nullptr && *found != 0) return;  // a non-finite gradient: skip the step
  const ChunkDesc ch = chunks[blockIdx.x];
  const TensorDesc<Round> t = tensors[ch.tensor];
  const float lr_t = __fmul_rn(lr, t.lr_scale);
  const int64_t end = min(t.n, ch.start + kChunk);
  for (int64_t i = ch.start + threadIdx.x; i < end; i += kBlock) {
    const float w = t.w[i];
    const float g = __fadd_rn(__fmul_rn(t.g[i], grad_scale), __fmul_rn(t.weight_decay, w));
    float w_new;
    if (mu == 0.0f) {
      w_new = __fsub_rn(w, __fmul_rn(lr_t, g));
    } else {
      const float v = __fadd_rn(__fmul_rn(mu, t.buf[i]), g);
      t.buf[i] = v;
      w_new = __fsub_rn(w, __fmul_rn(lr_t, nesterov ? __fadd_rn(g, __fmul_rn(mu, v)) : v));
    }
    t.w[i] = w_new;
    if (t.w_round != nullptr) store_round(t.w_round + i, w_new);
  }
}

// Raises *flag when any value of the spans, times scale, is inf/NaN (scale 1 is exact).
__global__ void finite_check_kernel(const DeviceSpan* __restrict__ spans, const ChunkDesc* __restrict__ chunks,
                                    float scale, int32_t* __restrict__ flag) {
  const ChunkDesc ch = chunks[blockIdx.x];
  const DeviceSpan s = spans[ch.tensor];
  const int64_t end = min(s.n, ch.start + kChunk);
  bool bad = false;
  for (int64_t i = ch.start + threadIdx.x; i < end; i += kBlock) bad |= !isfinite(__fmul_rn(s.data[i], scale));
  if (__syncthreads_or(bad) && threadIdx.x == 0) atomicExch(flag, 1);
}

// A table uploaded once: plain cudaMalloc (it lives as long as its owner, not a stream's
// scope) and a copy on the process stream, waited for, so the host vector may go and any
// stream may use the table.
void* upload_table(const void* host, size_t bytes) {
  stream();  // ensure_ready() and the device selected
  void* p = nullptr;
  BOT_CUDA_CHECK(cudaMalloc(&p, bytes));
  try {
    copy_to_device(p, host, bytes);
    synchronize();
  } catch (...) {
    cudaFree(p);
    throw;
  }
  return p;
}

// Destructors cannot throw: a failed free after a sticky error is ignored (the context is
// gone anyway); a non-sticky failure is cleared so it is not blamed on a later call.
void free_table(void* p) noexcept {
  if (p != nullptr && cudaFree(p) != cudaSuccess && !poisoned()) cudaGetLastError();
}

unsigned grid_of(int64_t chunks) { return static_cast<unsigned>(chunks); }

}  // namespace

// --- SgdMulti (bot/cuda/kernels.cuh) ----------------------------------------------------

SgdMulti::SgdMulti(const std::vector<SgdDeviceTensor>& tensors) {
  std::vector<TensorDesc<float>> descs;
  std::vector<int64_t> sizes;
  for (const SgdDeviceTensor& t : tensors) {
    BOT_CHECK(t.n >= 0, Code::kShape, "sgd_step: negative size");
    BOT_CHECK(std::isfinite(t.weight_decay) && t.weight_decay >= 0.0f, Code::kArgument,
              "weight decay must be finite and >= 0, got " + std::to_string(t.weight_decay));
    BOT_CHECK(std::isfinite(t.lr_scale) && t.lr_scale >= 0.0f, Code::kArgument,
              "learning-rate scale must be finite and >= 0, got " + std::to_string(t.lr_scale));
    BOT_CHECK(t.n == 0 || (t.w != nullptr && t.grad != nullptr), Code::kArgument,
              "SgdMulti: a tensor is missing its weights or gradient");
    if (t.n > 0 && t.momentum_buf == nullptr) has_momentum_ = false;
    descs.push_back({t.w, t.grad, t.momentum_buf, t.w_round, t.n, t.weight_decay, t.lr_scale});
    sizes.push_back(t.n);
  }
  const std::vector<ChunkDesc> chunks = chunk_table(sizes);
  if (chunks.empty()) return;  // nothing to update: step() launches nothing
  tensors_ = upload_table(descs.data(), sizeof(TensorDesc<float>) * descs.size());
  try {
    chunks_ = upload_table(chunks.data(), sizeof(ChunkDesc) * chunks.size());
  } catch (...) {
    free_table(tensors_);
    throw;
  }
  num_chunks_ = int64_t(chunks.size());
}

SgdMulti::~SgdMulti() {
  free_table(tensors_);
  free_table(chunks_);
}

SgdMulti::SgdMulti(SgdMulti&& other) noexcept
    : tensors_(other.tensors_), chunks_(other.chunks_), num_chunks_(other.num_chunks_),
      has_momentum_(other.has_momentum_) {
  other.tensors_ = other.chunks_ = nullptr;
  other.num_chunks_ = 0;
}

SgdMulti& SgdMulti::operator=(SgdMulti&& other) noexcept {
  if (this != &other) {
    free_table(tensors_);
    free_table(chunks_);
    tensors_ = other.tensors_;
    chunks_ = other.chunks_;
    num_chunks_ = other.num_chunks_;
    has_momentum_ = other.has_momentum_;
    other.tensors_ = other.chunks_ = nullptr;
    other.num_chunks_ = 0;
  }
  return *this;
}

void SgdMulti::step(const SgdParams& p, cudaStream_t st) const {
  p.validate();
  if (num_chunks_ == 0) return;
  BOT_CHECK(p.momentum == 0.0f || has_momentum_, Code::kArgument,
            "SgdMulti: momentum != 0 but a tensor has no momentum buffer");
  sgd_kernel<float><<<grid_of(num_chunks_), kBlock, 0, st>>>(
      static_cast<const TensorDesc<float>*>(tensors_), static_cast<const ChunkDesc*>(chunks_), p.lr, p.momentum,
      p.nesterov, p.grad_scale, nullptr);
  BOT_CUDA_CHECK_LAUNCH("sgd_kernel");
}

// --- FiniteCheck (bot/cuda/kernels.cuh) -------------------------------------------------

FiniteCheck::FiniteCheck(const std::vector<DeviceSpan>& spans) {
  std::vector<int64_t> sizes;
  for (const DeviceSpan& s : spans) {
    BOT_CHECK(s.n >= 0, Code::kShape, "FiniteCheck: negative size");
    BOT_CHECK(s.n == 0 || s.data != nullptr, Code::kArgument, "FiniteCheck: an array has no data");
    sizes.push_back(s.n);
  }
  const std::vector<ChunkDesc> chunks = chunk_table(sizes);
  if (chunks.empty()) return;  // nothing to check: check() launches nothing
  spans_ = upload_table(spans.data(), sizeof(DeviceSpan) * spans.size());
  try {
    chunks_ = upload_table(chunks.data(), sizeof(ChunkDesc) * chunks.size());
  } catch (...) {
    free_table(spans_);
    throw;
  }
  num_chunks_ = int64_t(chunks.size());
}

FiniteCheck::~FiniteCheck() {
  free_table(spans_);
  free_table(chunks_);
}

FiniteCheck::FiniteCheck(FiniteCheck&& other) noexcept
    : spans_(other.spans_), chunks_(other.chunks_), num_chunks_(other.num_chunks_) {
  other.spans_ = other.chunks_ = nullptr;
  other.num_chunks_ = 0;
}

FiniteCheck& FiniteCheck::operator=(FiniteCheck&& other) noexcept {
  if (this != &other) {
    free_table(spans_);
    free_table(chunks_);
    spans_ = other.spans_;
    chunks_ = other.chunks_;
    num_chunks_ = other.num_chunks_;
    other.spans_ = other.chunks_ = nullptr;
    other.num_chunks_ = 0;
  }
  return *this;
}

void FiniteCheck::check(int32_t* flag, cudaStream_t st) const {
  if (num_chunks_ == 0) return;
  BOT_CHECK(flag != nullptr, Code::kArgument, "FiniteCheck: no flag");
  finite_check_kernel<<<grid_of(num_chunks_), kBlock, 0, st>>>(
      static_cast<const DeviceSpan*>(spans_), static_cast<const ChunkDesc*>(chunks_), 1.0f, flag);
  BOT_CUDA_CHECK_LAUNCH("finite_check_kernel");
}

// --- host-memory ops (bot/cuda_ops.h) ---------------------------------------------------

bool sgd_step_multi(const SgdParams& p, const std::vector<SgdTensor>& tensors, bool skip_nonfinite) {
  p.validate();
  BOT_CHECK(tensors.size() < size_t(0x7fffffff), Code::kArgument, "sgd_step_multi: too many tensors");
  const bool use_buf = p.momentum != 0.0f;
  int64_t total = 0, total16 = 0;
  std::vector<int64_t> sizes;
  for (const SgdTensor& t : tensors) {
    BOT_CHECK(t.n >= 0, Code::kShape, "sgd_step: negative size");
    BOT_CHECK(std::isfinite(t.weight_decay) && t.weight_decay >= 0.0f, Code::kArgument,
              "weight decay must be finite and >= 0, got " + std::to_string(t.weight_decay));
    BOT_CHECK(t.n == 0 || (t.w != nullptr && t.grad != nullptr && (!use_buf || t.momentum_buf != nullptr)),
              Code::kArgument, "sgd_step_multi: a tensor is missing its weights, gradient or momentum buffer");
    total += t.n;
    total16 += t.w_f16 != nullptr ? t.n : 0;
    sizes.push_back(t.n);
  }
  const std::vector<ChunkDesc> chunks = chunk_table(sizes);
  cudaStream_t st = stream();
  if (chunks.empty()) return false;
  // One device buffer per kind: weights, gradients, momentum (FP32), FP16 copies.
  DeviceBuffer d_w(sizeof(float) * size_t(total)), d_g(sizeof(float) * size_t(total));
  DeviceBuffer d_buf(use_buf ? sizeof(float) * size_t(total) : 0);
  DeviceBuffer d_w16(sizeof(__half) * size_t(total16));
  std::vector<TensorDesc<__half>> descs;
  std::vector<DeviceSpan> grads;
  int64_t off = 0, off16 = 0;
  for (const SgdTensor& t : tensors) {
    // lr_scale 1: the host-memory op takes the learning rate as it is (lr * 1 is exactly lr).
    TensorDesc<__half> d{d_w.as<float>() + off, d_g.as<float>() + off,
                         use_buf ? d_buf.as<float>() + off : nullptr,
                         t.w_f16 != nullptr ? d_w16.as<__half>() + off16 : nullptr, t.n, t.weight_decay, 1.0f};
    copy_to_device(d.w, t.w, sizeof(float) * size_t(t.n));
    copy_to_device(d_g.as<float>() + off, t.grad, sizeof(float) * size_t(t.n));
    if (use_buf) copy_to_device(d.buf, t.momentum_buf, sizeof(float) * size_t(t.n));
    descs.push_back(d);
    grads.push_back({d.g, t.n});
    off += t.n;
    if (t.w_f16 != nullptr) off16 += t.n;
  }
  DeviceBuffer d_descs = to_device(descs.data(), sizeof(TensorDesc<__half>) * descs.size());
  DeviceBuffer d_chunks = to_device(chunks.data(), sizeof(ChunkDesc) * chunks.size());
  DeviceBuffer d_found(sizeof(int32_t));
  zero(d_found.get(), sizeof(int32_t));
  const unsigned grid = grid_of(int64_t(chunks.size()));
  DeviceBuffer d_grads;
  if (skip_nonfinite) {
    // The unscaled gradients, as the step uses them.
    d_grads = to_device(grads.data(), sizeof(DeviceSpan) * grads.size());
    finite_check_kernel<<<grid, kBlock, 0, st>>>(d_grads.as<DeviceSpan>(), d_chunks.as<ChunkDesc>(),
                                                 p.grad_scale, d_found.as<int32_t>());
    BOT_CUDA_CHECK_LAUNCH("finite_check_kernel");
  }
  sgd_kernel<__half><<<grid, kBlock, 0, st>>>(d_descs.as<TensorDesc<__half>>(), d_chunks.as<ChunkDesc>(), p.lr,
                                              p.momentum, p.nesterov, p.grad_scale,
                                              skip_nonfinite ? d_found.as<int32_t>() : nullptr);
  BOT_CUDA_CHECK_LAUNCH("sgd_kernel");
  int32_t found = 0;
  copy_to_host(&found, d_found.get(), sizeof(int32_t));
  synchronize();
  if (skip_nonfinite && found != 0) return true;  // nothing changed on the device either
  for (size_t ti = 0; ti < tensors.size(); ++ti) {
    const SgdTensor& t = tensors[ti];
    const TensorDesc<__half>& d = descs[ti];
    copy_to_host(t.w, d.w, sizeof(float) * size_t(t.n));
    if (use_buf) copy_to_host(t.momentum_buf, d.buf, sizeof(float) * size_t(t.n));
    if (t.w_f16 != nullptr) copy_to_host(t.w_f16, d.w_round, sizeof(__half) * size_t(t.n));
  }
  synchronize();
  return false;
}

void sgd_step(const SgdParams& p, int64_t n, float* w, const float* grad, float* momentum_buf) {
  SgdTensor t;
  t.n = n;
  t.w = w;
  t.grad = grad;
  t.momentum_buf = momentum_buf;
  t.weight_decay = p.weight_decay;
  sgd_step_multi(p, {t}, false);
}

}  // namespace bot::cuda
