// Batch normalisation over the channel (last) dimension on the device (semantics in
// bot/ops/batchnorm.h, PyTorch's: biased batch variance for normalising, unbiased for the
// running variance, momentum update, optional fused ReLU).
//
//   x, y, dy, dx  (M, C), M = N*H*W, channels contiguous
//
// Per-channel sums run as column reductions: a (32 channels) x (8 row lanes) block walks
// one chunk of rows, so a warp reads 32 consecutive channels of a row (coalesced); the
// 8 lanes are combined in shared memory and each block writes one FP32 partial per
// channel and chunk; a finalize kernel adds the chunks' partials in double, in chunk order
// (deterministic), and computes the per-channel coefficients. Then one element-wise pass
// writes y or dx. Training forward: pass 1 the mean, pass 2 the centred sum of squares
// (two passes: no cancellation), pass 3 normalise. Inference forward: a per-channel kernel
// computes the scale gamma / sqrt(var + eps) in double (as the CPU op, so the scale is
// bit-identical), then the normalise pass. Backward: pass 1 both sums (dy and
// dy * (x - mean)), pass 2 dx.
//
// The *_device launchers (bot/cuda/kernels.cuh) run on device memory and keep the partials
// and the per-channel arrays in the caller's workspace: (chunks, C, 2) partials, then three
// arrays of C floats (mean_hi, mean_lo, scale forward; ca, cb, cd backward). The host-memory
// ops of bot/cuda_ops.h below wrap them: copy in, launch, copy out, synchronise.
//
// FP16 storage: each launcher also has an overload whose activations (x, y, dy, dx, relu_y)
// are __half. The element-wise kernels and the launch sequences are templates over that
// storage type T, instantiated for float and __half, so both run the same code: a value is
// widened to FP32 when read (exact), the arithmetic is the float kernel's, and y or dx is
// rounded to FP16 once, when stored. gamma, beta, the statistics, dgamma, dbeta and the
// workspace stay float, so the workspace size does not depend on T.
#include <cuda_fp16.h>

#include <cmath>
#include <vector>

#include "bot/cuda/kernels.cuh"
#include "bot/cuda/runtime.cuh"
#include "bot/cuda_ops.h"
#include "bot/status.h"

namespace bot::cuda {

namespace {

constexpr int kChannelsPerBlock = 32;  // one warp across consecutive channels
constexpr int kRowLanes = 8;           // 8 warps per block walk a chunk's rows together
constexpr int64_t kMinRowsPerChunk = 64;  // below this a block has too little work
constexpr int64_t kMaxChunks = 512;       // enough blocks to fill an H100 (132 SMs) for any C
constexpr int kBlock = 256;               // element-wise passes: 8 warps
constexpr int kChannelBlock = 128;        // finalize kernels: one thread per channel

enum class Sums { kMean, kCentred, kBackward };

struct Chunks {
  int64_t rows, count;
};


Chunks chunks_for(int64_t m) {
  int64_t count = (m + kMinRowsPerChunk - 1) / kMinRowsPerChunk;
  if (count > kMaxChunks) count = kMaxChunks;
  return {(m + count - 1) / count, count};
}

// partial (chunks, C, 2): per chunk and channel the two sums of the mode:
//   kMean:     x,                        -
//   kCentred:  ((x - mean_hi) - mean_lo)^2, -
//   kBackward: g,  g * ((x - mean_hi) - mean_lo),  g = dy masked by relu_y > 0 when given
// mean_lo may be null (0: the statistics are plain floats). The partials are FP32 for
// either storage T.
template <Sums kMode, typename T>
__global__ void channel_partials_kernel(int64_t m, int64_t c, int64_t rows_per_chunk,
                                        const T* __restrict__ x, const T* __restrict__ dy,
                                        const T* __restrict__ relu_y, const float* __restrict__ mean_hi,
                                        const float* __restrict__ mean_lo, float* __restrict__ partial) {
  __shared__ float s1[kRowLanes][kChannelsPerBlock];
  __shared__ float s2[kRowLanes][kChannelsPerBlock];
  const int64_t j = int64_t(blockIdx.x) * kChannelsPerBlock + threadIdx.x;
  const int64_t r0 = int64_t(blockIdx.y) * rows_per_chunk;
  const int64_t r1 = min(m, r0 + rows_per_chunk);
  float a1 = 0.0f, a2 = 0.0f;
  if (j < c) {
    const float mh = kMode == Sums::kMean ? 0.0f : mean_hi[j];
    const float ml = (kMode == Sums::kMean || mean_lo == nullptr) ? 0.0f : mean_lo[j];
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kRowLanes) {
      const int64_t i = r * c + j;
      if (kMode == Sums::kMean) {
        a1 += widen(x[i]);
      } else if (kMode == Sums::kCentred) {
        const float d = (widen(x[i]) - mh) - ml;
        a1 += d * d;
      } else {
        const float g = (relu_y == nullptr || widen(relu_y[i]) > 0.0f) ? widen(dy[i]) : 0.0f;
        a1 += g;
        a2 += g * ((widen(x[i]) - mh) - ml);
      }
    }
  }
  s1[threadIdx.y][threadIdx.x] = a1;
  s2[threadIdx.y][threadIdx.x] = a2;
  __syncthreads();
  if (threadIdx.y == 0 && j < c) {
    float t1 = 0.0f, t2 = 0.0f;
    for (int k = 0; k < kRowLanes; ++k) {
      t1 += s1[k][threadIdx.x];
      t2 += s2[k][threadIdx.x];
    }
    float* out = partial + (int64_t(blockIdx.y) * c + j) * 2;
    out[0] = t1;
    out[1] = t2;
  }
}

// Sums the chunks' partials of channel j in double.
__device__ void chunk_sums(const float* partial, int64_t chunks, int64_t c, int64_t j, double* t1,
                           double* t2) {
  double a = 0.0, b = 0.0;
  for (int64_t k = 0; k < chunks; ++k) {
    a += double(partial[(k * c + j) * 2]);
    b += double(partial[(k * c + j) * 2 + 1]);
  }
  *t1 = a;
  *t2 = b;
}

// mean = sum / M, split into a float and its float remainder for the centred passes.
__global__ void finalize_mean_kernel(int64_t m, int64_t c, int64_t chunks, const float* __restrict__ partial,
                                     float* __restrict__ mean_hi, float* __restrict__ mean_lo) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= c) return;
  double s, unused;
  chunk_sums(partial, chunks, c, j, &s, &unused);
  const double mean = s / double(m);
  mean_hi[j] = float(mean);
  mean_lo[j] = float(mean - double(float(mean)));
}

// Batch variance -> saved statistics, the normalisation scale and the running statistics.
__global__ void finalize_train_kernel(int64_t m, int64_t c, int64_t chunks, float eps, float momentum,
                                      const float* __restrict__ partial, const float* __restrict__ gamma,
                                      const float* __restrict__ mean_hi, const float* __restrict__ mean_lo,
                                      float* __restrict__ scale, float* __restrict__ running_mean,
                                      float* __restrict__ running_var, float* __restrict__ save_mean,
                                      float* __restrict__ save_invstd) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= c) return;
  double ss, unused;
  chunk_sums(partial, chunks, c, j, &ss, &unused);
  const double md = double(m);
  const double mean = double(mean_hi[j]) + double(mean_lo[j]);
  const double var = ss / md;  // biased
  const double invstd = 1.0 / sqrt(var + double(eps));
  save_mean[j] = float(mean);
  save_invstd[j] = float(invstd);
  scale[j] = float(double(gamma[j]) * invstd);
  const double mom = double(momentum);
  running_mean[j] = float((1.0 - mom) * double(running_mean[j]) + mom * mean);
  running_var[j] = float((1.0 - mom) * double(running_var[j]) + mom * var * md / (md - 1.0));
}

// Running statistics: scale = gamma / sqrt(var + eps) in double, the CPU op's expression
// (IEEE division and square root on the device too, so the same float comes out).
__global__ void infer_scale_kernel(int64_t c, float eps, const float* __restrict__ gamma,
                                   const float* __restrict__ running_var, float* __restrict__ scale) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= c) return;
  scale[j] = float(double(gamma[j]) / sqrt(double(running_var[j]) + double(eps)));
}

// y = ((x - mean_hi) - mean_lo) * scale + beta, plus residual (a fused residual add) when
// it is not null, then max(y, 0) when kRelu; mean_lo may be null (0). x and y may be the
// same array (each element is read before it is written).
template <bool kRelu, typename T>
__global__ void normalise_kernel(int64_t total, int64_t c, const T* x, const float* __restrict__ mean_hi,
                                 const float* __restrict__ mean_lo, const float* __restrict__ scale,
                                 const float* __restrict__ beta, const T* residual, T* y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = i % c;
    const float d = widen(x[i]) - mean_hi[j];
    float v = (mean_lo != nullptr ? d - mean_lo[j] : d) * scale[j] + beta[j];
    if (residual != nullptr) v = __fadd_rn(v, widen(residual[i]));  // the separate add's sum
    store(y + i, kRelu ? (v > 0.0f ? v : 0.0f) : v);
  }
}

// dbeta, dgamma and the dx coefficients: dx = ca * g + cb * (x - mean) + cd.
__global__ void finalize_backward_kernel(int64_t m, int64_t c, int64_t chunks, bool training,
                                         const float* __restrict__ partial, const float* __restrict__ gamma,
                                         const float* __restrict__ invstd, float* __restrict__ dgamma,
                                         float* __restrict__ dbeta, float* __restrict__ ca,
                                         float* __restrict__ cb, float* __restrict__ cd) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= c) return;
  double sdy, sdyx;
  chunk_sums(partial, chunks, c, j, &sdy, &sdyx);
  const double md = double(m);
  const double is = double(invstd[j]);
  const double db = sdy, dg = sdyx * is;
  dbeta[j] = float(db);
  dgamma[j] = float(dg);
  const double a = double(gamma[j]) * is;
  ca[j] = float(a);
  cb[j] = training ? float(-a * is * dg / md) : 0.0f;
  cd[j] = training ? float(-a * db / md) : 0.0f;
}

// dx may be dy (in place: each element is read before it is written).
template <typename T>
__global__ void backward_dx_kernel(int64_t total, int64_t c, const T* __restrict__ x, const T* dy,
                                   const T* __restrict__ relu_y, const float* __restrict__ mean,
                                   const float* __restrict__ ca, const float* __restrict__ cb,
                                   const float* __restrict__ cd, T* dx) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = i % c;
    const float g = (relu_y == nullptr || widen(relu_y[i]) > 0.0f) ? widen(dy[i]) : 0.0f;
    store(dx + i, ca[j] * g + cb[j] * (widen(x[i]) - mean[j]) + cd[j]);
  }
}

size_t floats(int64_t n) { return sizeof(float) * size_t(n); }

// The workspace's parts: the partials, then three arrays of C floats.
struct Workspace {
  float* partial;
  float* a;
  float* b;
  float* c;
};
Workspace split(const BatchNormProblem& p, const Chunks& ch, float* workspace) {
  BOT_CHECK(workspace != nullptr, Code::kArgument, "batchnorm: no workspace");
  float* k = workspace + ch.count * p.c * 2;
  return {workspace, k, k + p.c, k + 2 * p.c};
}

template <Sums kMode, typename T>
void launch_partials(const BatchNormProblem& p, const Chunks& ch, cudaStream_t st, const T* x, const T* dy,
                     const T* relu_y, const float* mean_hi, const float* mean_lo, float* partial) {
  const dim3 grid(ceil_div(p.c, kChannelsPerBlock), unsigned(ch.count));
  const dim3 block(kChannelsPerBlock, kRowLanes);
  channel_partials_kernel<kMode, T><<<grid, block, 0, st>>>(p.m, p.c, ch.rows, x, dy, relu_y, mean_hi,
                                                            mean_lo, partial);
  BOT_CUDA_CHECK_LAUNCH("channel_partials_kernel");
}

template <typename T>
void launch_normalise(const BatchNormProblem& p, cudaStream_t st, const T* x, const float* mean_hi,
                      const float* mean_lo, const float* scale, const float* beta, const T* residual, T* y) {
  const int64_t total = p.m * p.c;
  const unsigned grid = streaming_grid(total, kBlock);
  if (p.relu)
    normalise_kernel<true, T><<<grid, kBlock, 0, st>>>(total, p.c, x, mean_hi, mean_lo, scale, beta, residual, y);
  else
    normalise_kernel<false, T><<<grid, kBlock, 0, st>>>(total, p.c, x, mean_hi, mean_lo, scale, beta, residual, y);
  BOT_CUDA_CHECK_LAUNCH("normalise_kernel");
}

// The launchers' bodies, shared by the float and __half overloads below (T: the storage of
// the activations; everything per channel is float either way).
template <typename T>
void forward_train(const BatchNormProblem& p, const T* x, const float* gamma, const float* beta, T* y,
                   float* running_mean, float* running_var, float* save_mean, float* save_invstd,
                   float* workspace, cudaStream_t st, const T* residual) {
  p.validate_training();
  const int64_t c = p.c;
  const Chunks ch = chunks_for(p.m);
  const Workspace ws = split(p, ch, workspace);
  float* mean_hi = ws.a;
  float* mean_lo = ws.b;
  float* scale = ws.c;
  launch_partials<Sums::kMean, T>(p, ch, st, x, nullptr, nullptr, nullptr, nullptr, ws.partial);
  finalize_mean_kernel<<<ceil_div(c, kChannelBlock), kChannelBlock, 0, st>>>(p.m, c, ch.count, ws.partial,
                                                                             mean_hi, mean_lo);
  BOT_CUDA_CHECK_LAUNCH("finalize_mean_kernel");
  launch_partials<Sums::kCentred, T>(p, ch, st, x, nullptr, nullptr, mean_hi, mean_lo, ws.partial);
  finalize_train_kernel<<<ceil_div(c, kChannelBlock), kChannelBlock, 0, st>>>(
      p.m, c, ch.count, p.eps, p.momentum, ws.partial, gamma, mean_hi, mean_lo, scale, running_mean,
      running_var, save_mean, save_invstd);
  BOT_CUDA_CHECK_LAUNCH("finalize_train_kernel");
  launch_normalise(p, st, x, mean_hi, mean_lo, scale, beta, residual, y);
}

template <typename T>
void forward_infer(const BatchNormProblem& p, const T* x, const float* gamma, const float* beta,
                   const float* running_mean, const float* running_var, T* y, float* workspace,
                   cudaStream_t st, const T* residual) {
  p.validate();
  const Workspace ws = split(p, chunks_for(p.m), workspace);
  infer_scale_kernel<<<ceil_div(p.c, kChannelBlock), kChannelBlock, 0, st>>>(p.c, p.eps, gamma, running_var,
                                                                             ws.c);
  BOT_CUDA_CHECK_LAUNCH("infer_scale_kernel");
  launch_normalise(p, st, x, running_mean, nullptr, ws.c, beta, residual, y);
}

template <typename T>
void backward(const BatchNormProblem& p, const T* x, const T* dy, const float* gamma, const float* mean,
              const float* invstd, bool training, T* dx, float* dgamma, float* dbeta, const T* relu_y,
              float* workspace, cudaStream_t st) {
  if (training)
    p.validate_training();
  else
    p.validate();
  const int64_t c = p.c, total = p.m * p.c;
  const Chunks ch = chunks_for(p.m);
  const Workspace ws = split(p, ch, workspace);
  float* ca = ws.a;
  float* cb = ws.b;
  float* cd = ws.c;
  launch_partials<Sums::kBackward, T>(p, ch, st, x, dy, relu_y, mean, nullptr, ws.partial);
  finalize_backward_kernel<<<ceil_div(c, kChannelBlock), kChannelBlock, 0, st>>>(
      p.m, c, ch.count, training, ws.partial, gamma, invstd, dgamma, dbeta, ca, cb, cd);
  BOT_CUDA_CHECK_LAUNCH("finalize_backward_kernel");
  backward_dx_kernel<T><<<streaming_grid(total, kBlock), kBlock, 0, st>>>(total, c, x, dy, relu_y, mean, ca,
                                                                          cb, cd, dx);
  BOT_CUDA_CHECK_LAUNCH("backward_dx_kernel");
}

}  // namespace

// --- device-memory launchers (bot/cuda/kernels.cuh) -------------------------------------

int64_t batchnorm_workspace_floats(const BatchNormProblem& p) {
  p.validate();
  return chunks_for(p.m).count * p.c * 2 + 3 * p.c;
}

void batchnorm_forward_train_device(const BatchNormProblem& p, const float* x, const float* gamma,
                                    const float* beta, float* y, float* running_mean, float* running_var,
                                    float* save_mean, float* save_invstd, float* workspace,
                                    cudaStream_t st, const float* residual) {
  forward_train(p, x, gamma, beta, y, running_mean, running_var, save_mean, save_invstd, workspace, st, residual);
}

void batchnorm_forward_train_device(const BatchNormProblem& p, const __half* x, const float* gamma,
                                    const float* beta, __half* y, float* running_mean, float* running_var,
                                    float* save_mean, float* save_invstd, float* workspace,
                                    cudaStream_t st, const __half* residual) {
  forward_train(p, x, gamma, beta, y, running_mean, running_var, save_mean, save_invstd, workspace, st, residual);
}

void batchnorm_forward_infer_device(const BatchNormProblem& p, const float* x, const float* gamma,
                                    const float* beta, const float* running_mean,
                                    const float* running_var, float* y, float* workspace,
                                    cudaStream_t st, const float* residual) {
  forward_infer(p, x, gamma, beta, running_mean, running_var, y, workspace, st, residual);
}

void batchnorm_forward_infer_device(const BatchNormProblem& p, const __half* x, const float* gamma,
                                    const float* beta, const float* running_mean,
                                    const float* running_var, __half* y, float* workspace,
                                    cudaStream_t st, const __half* residual) {
  forward_infer(p, x, gamma, beta, running_mean, running_var, y, workspace, st, residual);
}

void batchnorm_backward_device(const BatchNormProblem& p, const float* x, const float* dy,
                               const float* gamma, const float* mean, const float* invstd, bool training,
                               float* dx, float* dgamma, float* dbeta, const float* relu_y,
                               float* workspace, cudaStream_t st) {
  backward(p, x, dy, gamma, mean, invstd, training, dx, dgamma, dbeta, relu_y, workspace, st);
}

void batchnorm_backward_device(const BatchNormProblem& p, const __half* x, const __half* dy,
                               const float* gamma, const float* mean, const float* invstd, bool training,
                               __half* dx, float* dgamma, float* dbeta, const __half* relu_y,
                               float* workspace, cudaStream_t st) {
  backward(p, x, dy, gamma, mean, invstd, training, dx, dgamma, dbeta, relu_y, workspace, st);
}

// --- host-memory ops (bot/cuda_ops.h) ---------------------------------------------------

void batchnorm_forward_train(const BatchNormProblem& p, const float* x, const float* gamma,
                             const float* beta, float* y, float* running_mean,
                             float* running_var, float* save_mean, float* save_invstd) {
  p.validate_training();
  cudaStream_t st = stream();
  const int64_t c = p.c;
  DeviceBuffer d_x = to_device(x, floats(p.m * c));
  DeviceBuffer d_gamma = to_device(gamma, floats(c));
  DeviceBuffer d_beta = to_device(beta, floats(c));
  DeviceBuffer d_rm = to_device(running_mean, floats(c));
  DeviceBuffer d_rv = to_device(running_var, floats(c));
  DeviceBuffer d_y(floats(p.m * c));
  DeviceBuffer d_saved(floats(2 * c));  // save_mean, save_invstd
  DeviceBuffer d_ws(floats(batchnorm_workspace_floats(p)));
  float* s_mean = d_saved.as<float>();
  float* s_invstd = s_mean + c;
  batchnorm_forward_train_device(p, d_x.as<float>(), d_gamma.as<float>(), d_beta.as<float>(), d_y.as<float>(),
                                 d_rm.as<float>(), d_rv.as<float>(), s_mean, s_invstd, d_ws.as<float>(), st);
  copy_to_host(y, d_y.get(), d_y.bytes());
  copy_to_host(running_mean, d_rm.get(), floats(c));
  copy_to_host(running_var, d_rv.get(), floats(c));
  copy_to_host(save_mean, s_mean, floats(c));
  copy_to_host(save_invstd, s_invstd, floats(c));
  synchronize();
}

void batchnorm_forward_infer(const BatchNormProblem& p, const float* x, const float* gamma,
                             const float* beta, const float* running_mean,
                             const float* running_var, float* y) {
  p.validate();
  cudaStream_t st = stream();
  const int64_t c = p.c;
  DeviceBuffer d_x = to_device(x, floats(p.m * c));
  DeviceBuffer d_gamma = to_device(gamma, floats(c));
  DeviceBuffer d_beta = to_device(beta, floats(c));
  DeviceBuffer d_rm = to_device(running_mean, floats(c));
  DeviceBuffer d_rv = to_device(running_var, floats(c));
  DeviceBuffer d_y(floats(p.m * c));
  DeviceBuffer d_ws(floats(batchnorm_workspace_floats(p)));
  batchnorm_forward_infer_device(p, d_x.as<float>(), d_gamma.as<float>(), d_beta.as<float>(), d_rm.as<float>(),
                                 d_rv.as<float>(), d_y.as<float>(), d_ws.as<float>(), st);
  copy_to_host(y, d_y.get(), d_y.bytes());
  synchronize();
}

void batchnorm_backward(const BatchNormProblem& p, const float* x, const float* dy,
                        const float* gamma, const float* mean, const float* invstd,
                        bool training, float* dx, float* dgamma, float* dbeta,
                        const float* relu_y) {
  if (training)
    p.validate_training();
  else
    p.validate();
  cudaStream_t st = stream();
  const int64_t c = p.c, total = p.m * p.c;
  DeviceBuffer d_x = to_device(x, floats(total));
  DeviceBuffer d_dy = to_device(dy, floats(total));
  DeviceBuffer d_relu_y = relu_y != nullptr ? to_device(relu_y, floats(total)) : DeviceBuffer();
  // gamma, mean, invstd in; dgamma, dbeta out: the per-channel arrays in one buffer each way.
  std::vector<float> in(size_t(3 * c));
  for (int64_t j = 0; j < c; ++j) {
    in[size_t(j)] = gamma[j];
    in[size_t(c + j)] = mean[j];
    in[size_t(2 * c + j)] = invstd[j];
  }
  DeviceBuffer d_in = to_device(in.data(), floats(3 * c));
  DeviceBuffer d_out(floats(2 * c));
  DeviceBuffer d_dx(floats(total));
  DeviceBuffer d_ws(floats(batchnorm_workspace_floats(p)));
  const float* k = d_in.as<float>();
  float* o = d_out.as<float>();
  batchnorm_backward_device(p, d_x.as<float>(), d_dy.as<float>(), k, k + c, k + 2 * c, training,
                            d_dx.as<float>(), o, o + c, d_relu_y.as<float>(), d_ws.as<float>(), st);
  copy_to_host(dx, d_dx.get(), d_dx.bytes());
  copy_to_host(dgamma, o, floats(c));
  copy_to_host(dbeta, o + c, floats(c));
  synchronize();
}

}  // namespace bot::cuda
