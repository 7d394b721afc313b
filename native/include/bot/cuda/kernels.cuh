// The CUDA backend's launchers over DEVICE memory, for every op but the convolution (which
// has bot/cuda/conv2d.cuh): what the CUDA Net's training step runs, and what the
// host-memory ops of bot/cuda_ops.h wrap (copy in, launch, copy out). Included by .cu
// files only (it names CUDA types).
//
// Every launcher is asynchronous on `stream`, validates its problem the way the CPU op
// does (ERR_SHAPE / ERR_ARGUMENT through bot::Error), allocates nothing and checks its
// launches (BOT_CUDA_CHECK_LAUNCH). The semantics are those of the CPU op of the same name
// (bot/ops/*.h); pointers are device pointers unless a comment says otherwise. A launcher
// that needs scratch memory takes a `workspace` of the size its *_workspace_floats
// function gives for the problem.
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "bot/ops/batchnorm.h"
#include "bot/ops/cross_entropy.h"
#include "bot/ops/linear.h"
#include "bot/ops/pool2d.h"
#include "bot/ops/sgd.h"

namespace bot::cuda {

// --- FP16 rounding with the CPU's bits (device code) -------------------------------------
// __float2half_rn rounds numbers exactly as native/cpu/convert.cpp does (nearest even,
// overflow to infinity, subnormals kept), but it turns every NaN into the canonical 0x7fff
// (so does cuda_fp16.hpp's host emulation of it), while the CPU keeps the sign and top
// payload bits and sets the quiet bit. NaNs therefore take an explicit path, so FP16
// storage gives the same bits on both backends.
__device__ __forceinline__ __half f16_like_cpu(float x) {
  const unsigned int b = __float_as_uint(x);
  if ((b & 0x7fffffffu) > 0x7f800000u)  // sign, exponent 31, quiet bit, top payload bits
    return __ushort_as_half(
        static_cast<unsigned short>(((b >> 16) & 0x8000u) | 0x7e00u | ((b >> 13) & 0x3ffu)));
  return __float2half_rn(x);
}
// FP32 -> FP16 -> FP32 (f32_round_to_f16 of one value): a NaN keeps its sign and top 10
// payload bits, quieted, as the CPU's round trip leaves it.
__device__ __forceinline__ float round_f16_like_cpu(float x) {
  const unsigned int b = __float_as_uint(x);
  if ((b & 0x7fffffffu) > 0x7f800000u) return __uint_as_float((b & 0xffffe000u) | 0x00400000u);
  return __half2float(__float2half_rn(x));
}

// Activation storage in the kernels that take float or __half arrays (one template over
// the storage type): every element read goes through widen (exact), every element written
// through store, so the arithmetic between them is FP32 for both types; for float both are
// the identity. (__half converts implicitly, so `y[i] = v` would compile too: store() makes
// the one rounding explicit, to nearest even, and keeps a NaN's bits as the CPU does.)
__device__ __forceinline__ float widen(float v) { return v; }
__device__ __forceinline__ float widen(__half v) { return __half2float(v); }
__device__ __forceinline__ void store(float* p, float v) { *p = v; }
__device__ __forceinline__ void store(__half* p, float v) { *p = f16_like_cpu(v); }

// --- batch normalisation (batchnorm.cu) -------------------------------------------------
// Floats of workspace each of the three launchers below needs for problem p (the per-chunk
// partial sums of the channel reductions and three per-channel coefficient arrays).
int64_t batchnorm_workspace_floats(const BatchNormProblem& p);
// residual (optional): a residual add fused into the normalisation, y = BN(x) + residual
// (then the ReLU when p.relu), as the CPU op does.
void batchnorm_forward_train_device(const BatchNormProblem& p, const float* x, const float* gamma,
                                    const float* beta, float* y, float* running_mean, float* running_var,
                                    float* save_mean, float* save_invstd, float* workspace,
                                    cudaStream_t stream, const float* residual = nullptr);
// Running statistics: the per-channel scale gamma / sqrt(var + eps) is computed on the
// device (in double).
void batchnorm_forward_infer_device(const BatchNormProblem& p, const float* x, const float* gamma,
                                    const float* beta, const float* running_mean,
                                    const float* running_var, float* y, float* workspace,
                                    cudaStream_t stream, const float* residual = nullptr);
// relu_y: the fused ReLU's output (the gradient is masked where it is 0), or null. dx may
// be dy (and the forward's y may be x): each element is read before it is written.
void batchnorm_backward_device(const BatchNormProblem& p, const float* x, const float* dy,
                               const float* gamma, const float* mean, const float* invstd, bool training,
                               float* dx, float* dgamma, float* dbeta, const float* relu_y,
                               float* workspace, cudaStream_t stream);

// --- pooling (pool2d.cu) ----------------------------------------------------------------
void maxpool2d_forward_device(const Pool2dProblem& p, const float* x, float* y, cudaStream_t stream);
void maxpool2d_backward_device(const Pool2dProblem& p, const float* x, const float* dy, float* dx,
                               cudaStream_t stream);
void avgpool2d_forward_device(const Pool2dProblem& p, const float* x, float* y, cudaStream_t stream);
void avgpool2d_backward_device(const Pool2dProblem& p, const float* dy, float* dx, cudaStream_t stream);
void global_avgpool_forward_device(int64_t n, int64_t hw, int64_t c, const float* x, float* y,
                                   cudaStream_t stream);
void global_avgpool_backward_device(int64_t n, int64_t hw, int64_t c, const float* dy, float* dx,
                                    cudaStream_t stream);

// --- element-wise (elementwise.cu), n floats; the CPU ops of bot/ops/elementwise.h ------
// An output may be the array of an input it is computed from element by element (dx == dy
// for relu_backward, y == a for add, ...): each element is read before it is written.
void relu_forward_device(int64_t n, const float* x, float* y, cudaStream_t stream);
void relu_backward_device(int64_t n, const float* y, const float* dy, float* dx, cudaStream_t stream);
void add_forward_device(int64_t n, const float* a, const float* b, float* y, cudaStream_t stream);
void add_relu_forward_device(int64_t n, const float* a, const float* b, float* y, cudaStream_t stream);
void add_relu_backward_device(int64_t n, const float* y, float* dy, float* db, bool accumulate,
                              cudaStream_t stream);
void copy_into_device(int64_t n, const float* a, float* b, cudaStream_t stream);
void add_into_device(int64_t n, const float* a, float* b, cudaStream_t stream);
// x *= s in place.
void scale_device(int64_t n, float s, float* x, cudaStream_t stream);
// Rounds n floats to the nearest FP16 value in place (round to nearest even, overflow to
// infinity, a NaN keeps its sign and top payload bits): the CPU's f32_round_to_f16 bit for
// bit, the numerics of FP16 storage.
void round_to_f16_device(int64_t n, float* x, cudaStream_t stream);

// --- mixup (elementwise.cu): y[i] = lambda * x[i] + (1 - lambda) * x[perm[i]] per sample,
// as bot/ops/mixup.h (perm: n device ints in [0, n), checked on the host by the caller).
void mixup_blend_device(int64_t n, int64_t sample_numel, const float* x, const int32_t* perm, float lambda,
                        float* y, cudaStream_t stream);

// --- the colour pass (augment.cu): y (n, pixels, 3) = M_i p + t_i per image i, from uint8
// RGB pixels x; affine holds each image's M (row-major 3x3) and t, 12 floats (device
// memory; the host composes them with augment_affine of bot/ops/augment.h).
void augment_affine_device(int64_t n, int64_t pixels_per_image, const uint8_t* x, const float* affine, float* y,
                           cudaStream_t stream);

// --- eval-mode BN folding (fold_bn.cu): per output channel o of KRSC weights w (k rows of
// per_k floats), s = gamma / sqrt(var + eps) in double, folded_w = w * s, folded_b =
// beta - mean * s, each rounded to float once (the CPU's fold).
void fold_conv_bn_device(int64_t k, int64_t per_k, const float* w, const float* gamma, const float* beta,
                         const float* mean, const float* var, float eps, float* folded_w, float* folded_b,
                         cudaStream_t stream);

// --- fully connected layer (linear.cu) -------------------------------------------------
void linear_forward_device(const LinearProblem& p, const float* x, const float* w, const float* b, float* y,
                           cudaStream_t stream);
// dx and dw may be null (not wanted); db may be null (no bias).
void linear_backward_device(const LinearProblem& p, const float* x, const float* w, const float* dy, float* dx,
                            float* dw, float* db, cudaStream_t stream);

// --- softmax cross-entropy (cross_entropy.cu) -------------------------------------------
// One launch computes the whole loss of a training step, on the device:
//   labels (n ints, hard, with p.smoothing) or targets ((n, K) rows): the CPU's
//   cross_entropy_hard / cross_entropy_soft; teacher (n, K) logits or null: plus
//   cross_entropy_distill at `temperature`; dlogits = the summed gradient times
//   loss_scale (FP32 products and sums in the CPU's order: hard/soft gradient, plus the
//   distillation gradient, times loss_scale). row_loss[i] receives row i's loss (hard or
//   soft, plus T^2 times its distillation loss) divided by n, in double, so the host's sum
//   of row_loss in row order is the batch loss (the CPU ops sum the rows in order, then
//   divide by n: equal within double rounding); correct receives the n per-row flags
//   (argmax of the logits equals the label, or the argmax of the target row; ties to the
//   lowest index, NaNs as std::max_element treats them). dlogits, row_loss and correct may
//   each be null (not wanted).
// Labels outside [0, K) must be rejected by the caller before the launch; targets are not
// checked on the device either.
void cross_entropy_device(const CrossEntropyProblem& p, const float* logits, const int32_t* labels,
                          const float* targets, const float* teacher, float temperature, float loss_scale,
                          float* dlogits, double* row_loss, int32_t* correct, cudaStream_t stream);

// --- FP16 storage ----------------------------------------------------------------------
// Overloads of the launchers above for activations and activation gradients STORED as
// FP16 (__half: what a mixed-precision Net keeps on the GPU, half the bytes of FP32).
// Parameters, their gradients, BN statistics and workspaces stay float. The arithmetic is
// that of the float launchers: each value is widened to FP32 when read, the op computes in
// FP32 exactly as the float kernel does, and each result is rounded to FP16 (round to
// nearest even, NaNs as f16_like_cpu) when stored: widen() and store() above. That is the
// CPU core's FP16 emulation, which rounds every activation and gradient to FP16 as it is
// written.
// (batchnorm_workspace_floats is the same for both storages.)
void batchnorm_forward_train_device(const BatchNormProblem& p, const __half* x, const float* gamma,
                                    const float* beta, __half* y, float* running_mean, float* running_var,
                                    float* save_mean, float* save_invstd, float* workspace,
                                    cudaStream_t stream, const __half* residual = nullptr);
void batchnorm_forward_infer_device(const BatchNormProblem& p, const __half* x, const float* gamma,
                                    const float* beta, const float* running_mean,
                                    const float* running_var, __half* y, float* workspace,
                                    cudaStream_t stream, const __half* residual = nullptr);
void batchnorm_backward_device(const BatchNormProblem& p, const __half* x, const __half* dy,
                               const float* gamma, const float* mean, const float* invstd, bool training,
                               __half* dx, float* dgamma, float* dbeta, const __half* relu_y,
                               float* workspace, cudaStream_t stream);
void maxpool2d_forward_device(const Pool2dProblem& p, const __half* x, __half* y, cudaStream_t stream);
void maxpool2d_backward_device(const Pool2dProblem& p, const __half* x, const __half* dy, __half* dx,
                               cudaStream_t stream);
void avgpool2d_forward_device(const Pool2dProblem& p, const __half* x, __half* y, cudaStream_t stream);
void avgpool2d_backward_device(const Pool2dProblem& p, const __half* dy, __half* dx, cudaStream_t stream);
void global_avgpool_forward_device(int64_t n, int64_t hw, int64_t c, const __half* x, __half* y,
                                   cudaStream_t stream);
void global_avgpool_backward_device(int64_t n, int64_t hw, int64_t c, const __half* dy, __half* dx,
                                    cudaStream_t stream);
void relu_forward_device(int64_t n, const __half* x, __half* y, cudaStream_t stream);
void relu_backward_device(int64_t n, const __half* y, const __half* dy, __half* dx, cudaStream_t stream);
void add_forward_device(int64_t n, const __half* a, const __half* b, __half* y, cudaStream_t stream);
void add_relu_forward_device(int64_t n, const __half* a, const __half* b, __half* y, cudaStream_t stream);
void add_relu_backward_device(int64_t n, const __half* y, __half* dy, __half* db, bool accumulate,
                              cudaStream_t stream);
void copy_into_device(int64_t n, const __half* a, __half* b, cudaStream_t stream);
void add_into_device(int64_t n, const __half* a, __half* b, cudaStream_t stream);
// The blend reads FP32 images (staged inputs) and stores FP16.
void mixup_blend_device(int64_t n, int64_t sample_numel, const float* x, const int32_t* perm, float lambda,
                        __half* y, cudaStream_t stream);
void augment_affine_device(int64_t n, int64_t pixels_per_image, const uint8_t* x, const float* affine, __half* y,
                           cudaStream_t stream);
// x and y (and dx, dy) FP16; w, b, dw, db float.
void linear_forward_device(const LinearProblem& p, const __half* x, const float* w, const float* b, __half* y,
                           cudaStream_t stream);
void linear_backward_device(const LinearProblem& p, const __half* x, const float* w, const __half* dy, __half* dx,
                            float* dw, float* db, cudaStream_t stream);
// FP16 logits in, FP16 dlogits out (the gradient times loss_scale, rounded once when stored).
void cross_entropy_device(const CrossEntropyProblem& p, const __half* logits, const int32_t* labels,
                          const float* targets, const float* teacher, float temperature, float loss_scale,
                          __half* dlogits, double* row_loss, int32_t* correct, cudaStream_t stream);

// --- multi-tensor SGD and finiteness (sgd.cu) -------------------------------------------
// A fixed set of tensors updated in ONE launch per step: the tensor and chunk tables are
// built and uploaded once, at construction. Per tensor: weight decay and a learning-rate
// multiplier (lr * lr_scale, multiplied in FP32 as the CPU does), and optionally an FP32
// copy of the updated weights rounded to FP16 (w_round, the mixed-precision compute copy).
// Frozen tensors (lr_scale 0) are left out by the caller, as the CPU Net's update() skips
// them (their momentum buffers stay untouched). The tensors' device arrays must outlive the
// object; the constructor waits for its upload, step() and check() are asynchronous. An
// empty set is fine: nothing is launched.
struct SgdDeviceTensor {
  int64_t n = 0;
  float* w = nullptr;
  const float* grad = nullptr;
  float* momentum_buf = nullptr;
  float weight_decay = 0.0f;
  float lr_scale = 1.0f;
  float* w_round = nullptr;  // optional: receives fp16-rounded w after the step
};
class SgdMulti {
 public:
  SgdMulti() = default;
  explicit SgdMulti(const std::vector<SgdDeviceTensor>& tensors);
  ~SgdMulti();
  SgdMulti(SgdMulti&& other) noexcept;
  SgdMulti& operator=(SgdMulti&& other) noexcept;
  SgdMulti(const SgdMulti&) = delete;
  SgdMulti& operator=(const SgdMulti&) = delete;
  // p.weight_decay is ignored (each tensor has its own). Asynchronous.
  void step(const SgdParams& p, cudaStream_t stream) const;

 private:
  void* tensors_ = nullptr;  // device table of tensor descriptors
  void* chunks_ = nullptr;   // device table of chunks
  int64_t num_chunks_ = 0;
  bool has_momentum_ = true;  // every tensor has a momentum buffer (needed when momentum != 0)
};

// A fixed set of float arrays checked for inf/NaN in ONE launch: `check` sets *flag (a
// device int, which the caller zeroes first) to 1 when any element is not finite.
struct DeviceSpan {
  const float* data = nullptr;
  int64_t n = 0;
};
class FiniteCheck {
 public:
  FiniteCheck() = default;
  explicit FiniteCheck(const std::vector<DeviceSpan>& spans);
  ~FiniteCheck();
  FiniteCheck(FiniteCheck&& other) noexcept;
  FiniteCheck& operator=(FiniteCheck&& other) noexcept;
  FiniteCheck(const FiniteCheck&) = delete;
  FiniteCheck& operator=(const FiniteCheck&) = delete;
  void check(int32_t* flag, cudaStream_t stream) const;

 private:
  void* spans_ = nullptr;
  void* chunks_ = nullptr;
  int64_t num_chunks_ = 0;
};

}  // namespace bot::cuda
