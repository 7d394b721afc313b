// The SGD / Nesterov step over many parameter tensors in ONE kernel launch (semantics in
// bot/ops/sgd.h, PyTorch's SGD with dampening 0), the mixed-precision update as the maths
// reads:
//
//   g   = grad * grad_scale + weight_decay_t * w     (grad_scale unscales a scaled loss)
//   buf = momentum * buf + g
//   w  -= lr * (g + momentum * buf)   (Nesterov)     w -= lr * buf   (plain momentum)
//   w16 = fp16(w)                     (the FP16 copy the convolutions read, when asked)
//
// The tensors are cut into chunks of kChunk elements; a table of (tensor, first element)
// chunks drives a 1-D grid, one block per chunk, so one launch covers every tensor
// whatever their sizes. With skip_nonfinite a check kernel (the same chunk grid) first
// raises a device flag when any unscaled gradient is inf/NaN; the step kernel reads the
// flag and changes nothing then (GradScaler: skip the step, lower the scale). The
// arithmetic uses round-to-nearest intrinsics (no FMA contraction), so the FP32 results
// are bit-identical to the CPU op's.
#include <cuda_fp16.h>

#include <cmath>
#include <vector>

#include "bot/cuda/runtime.cuh"
#include "bot/cuda_ops.h"
#include "bot/status.h"

namespace bot::cuda {

namespace {

constexpr int64_t kChunk = 4096;  // elements per block: 16 per thread, 48 KiB of traffic
constexpr int kBlock = 256;       // 8 warps per chunk

struct TensorDesc {
  float* w;
  const float* g;
  float* buf;
  __half* w16;  // may be null
  int64_t n;
  float weight_decay;
};

struct ChunkDesc {
  int32_t tensor;
  int64_t start;
};

__global__ void nonfinite_check_kernel(const TensorDesc* __restrict__ tensors, const ChunkDesc* __restrict__ chunks,
                                       float grad_scale, int* __restrict__ found) {
  const ChunkDesc ch = chunks[blockIdx.x];
  const TensorDesc t = tensors[ch.tensor];
  const int64_t end = min(t.n, ch.start + kChunk);
  bool bad = false;
  for (int64_t i = ch.start + threadIdx.x; i < end; i += kBlock) bad |= !isfinite(__fmul_rn(t.g[i], grad_scale));
  if (__syncthreads_or(bad) && threadIdx.x == 0) atomicExch(found, 1);
}

__global__ void sgd_multi_kernel(const TensorDesc* __restrict__ tensors, const ChunkDesc* __restrict__ chunks,
                                 float lr, float mu, bool nesterov, float grad_scale, const int* __restrict__ found) {
  if (found != nullptr && *found != 0) return;  // a non-finite gradient: skip the step
  const ChunkDesc ch = chunks[blockIdx.x];
  const TensorDesc t = tensors[ch.tensor];
  const int64_t end = min(t.n, ch.start + kChunk);
  for (int64_t i = ch.start + threadIdx.x; i < end; i += kBlock) {
    const float w = t.w[i];
    float w_new;
    if (mu == 0.0f) {
      const float g = __fadd_rn(__fmul_rn(t.g[i], grad_scale), __fmul_rn(t.weight_decay, w));
      w_new = __fsub_rn(w, __fmul_rn(lr, g));
    } else {
      const float g = __fadd_rn(__fmul_rn(t.g[i], grad_scale), __fmul_rn(t.weight_decay, w));
      const float v = __fadd_rn(__fmul_rn(mu, t.buf[i]), g);
      t.buf[i] = v;
      w_new = __fsub_rn(w, __fmul_rn(lr, nesterov ? __fadd_rn(g, __fmul_rn(mu, v)) : v));
    }
    t.w[i] = w_new;
    if (t.w16 != nullptr) t.w16[i] = __float2half_rn(w_new);
  }
}

}  // namespace

bool sgd_step_multi(const SgdParams& p, const std::vector<SgdTensor>& tensors, bool skip_nonfinite) {
  p.validate();
  BOT_CHECK(tensors.size() < size_t(0x7fffffff), Code::kArgument, "sgd_step_multi: too many tensors");
  const bool use_buf = p.momentum != 0.0f;
  int64_t total = 0;
  for (const SgdTensor& t : tensors) {
    BOT_CHECK(t.n >= 0, Code::kShape, "sgd_step: negative size");
    BOT_CHECK(std::isfinite(t.weight_decay) && t.weight_decay >= 0.0f, Code::kArgument,
              "weight decay must be finite and >= 0, got " + std::to_string(t.weight_decay));
    BOT_CHECK(t.n == 0 || (t.w != nullptr && t.grad != nullptr && (!use_buf || t.momentum_buf != nullptr)),
              Code::kArgument, "sgd_step_multi: a tensor is missing its weights, gradient or momentum buffer");
    total += t.n;
  }
  cudaStream_t st = stream();
  // One device buffer per kind: weights, gradients, momentum (FP32), FP16 copies.
  DeviceBuffer d_w(sizeof(float) * size_t(total)), d_g(sizeof(float) * size_t(total));
  DeviceBuffer d_buf(use_buf ? sizeof(float) * size_t(total) : 0);
  int64_t total16 = 0;
  for (const SgdTensor& t : tensors) total16 += t.w_f16 != nullptr ? t.n : 0;
  DeviceBuffer d_w16(sizeof(__half) * size_t(total16));
  std::vector<TensorDesc> descs;
  std::vector<ChunkDesc> chunks;
  int64_t off = 0, off16 = 0;
  for (size_t ti = 0; ti < tensors.size(); ++ti) {
    const SgdTensor& t = tensors[ti];
    TensorDesc d{d_w.as<float>() + off, d_g.as<float>() + off, use_buf ? d_buf.as<float>() + off : nullptr,
                 t.w_f16 != nullptr ? d_w16.as<__half>() + off16 : nullptr, t.n, t.weight_decay};
    copy_to_device(d.w, t.w, sizeof(float) * size_t(t.n));
    copy_to_device(const_cast<float*>(d.g), t.grad, sizeof(float) * size_t(t.n));
    if (use_buf) copy_to_device(d.buf, t.momentum_buf, sizeof(float) * size_t(t.n));
    for (int64_t s = 0; s < t.n; s += kChunk) chunks.push_back({int32_t(descs.size()), s});
    descs.push_back(d);
    off += t.n;
    if (t.w_f16 != nullptr) off16 += t.n;
  }
  int found = 0;
  if (!chunks.empty()) {
    BOT_CHECK(chunks.size() < size_t(0x7fffffff), Code::kArgument, "sgd_step_multi: too many elements");
    DeviceBuffer d_descs = to_device(descs.data(), sizeof(TensorDesc) * descs.size());
    DeviceBuffer d_chunks = to_device(chunks.data(), sizeof(ChunkDesc) * chunks.size());
    DeviceBuffer d_found(sizeof(int));
    zero(d_found.get(), sizeof(int));
    const unsigned grid = unsigned(chunks.size());
    if (skip_nonfinite) {
      nonfinite_check_kernel<<<grid, kBlock, 0, st>>>(d_descs.as<TensorDesc>(), d_chunks.as<ChunkDesc>(), p.grad_scale,
                                                      d_found.as<int>());
      BOT_CUDA_CHECK_LAUNCH("nonfinite_check_kernel");
    }
    sgd_multi_kernel<<<grid, kBlock, 0, st>>>(d_descs.as<TensorDesc>(), d_chunks.as<ChunkDesc>(), p.lr, p.momentum,
                                              p.nesterov, p.grad_scale, skip_nonfinite ? d_found.as<int>() : nullptr);
    BOT_CUDA_CHECK_LAUNCH("sgd_multi_kernel");
    copy_to_host(&found, d_found.get(), sizeof(int));
    synchronize();
    if (skip_nonfinite && found != 0) return true;  // nothing changed on the device either
    for (size_t ti = 0; ti < tensors.size(); ++ti) {
      const SgdTensor& t = tensors[ti];
      const TensorDesc& d = descs[ti];
      copy_to_host(t.w, d.w, sizeof(float) * size_t(t.n));
      if (use_buf) copy_to_host(t.momentum_buf, d.buf, sizeof(float) * size_t(t.n));
      if (t.w_f16 != nullptr) copy_to_host(t.w_f16, d.w16, sizeof(__half) * size_t(t.n));
    }
    synchronize();
  }
  return found != 0;
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
