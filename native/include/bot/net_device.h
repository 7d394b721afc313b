// NetDevice: the memory and the kernels a Net's schedule runs on. The schedule (graph
// compilation, fusion, the liveness plan of the gradient buffers, the order of the forward
// and backward passes, mixed-precision rounding, the skip-on-overflow rule) lives once, in
// native/core/net.cpp; a NetDevice supplies storage and one call per op. The CPU device
// (native/core/net_device_cpu.cpp) calls the CPU ops of bot/ops/*.h on host memory; the
// CUDA device (native/cuda/net_device.cu) launches the kernels of bot/cuda/*.cuh on device
// memory, asynchronously on one stream. So every schedule path the CPU tests exercise is
// the path the GPU runs.
//
// Pointers passed to the kernel calls are the device's own (from allocate()), except where
// a parameter is named host_*. Semantics are those of the CPU op of the same name.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bot/net.h"
#include "bot/ops.h"

namespace bot {

// One parameter tensor of the optimizer step.
struct UpdateTensor {
  int64_t n = 0;
  float* w = nullptr;
  const float* grad = nullptr;
  float* momentum = nullptr;
  bool decay = true;          // weight decay applies (the step's value)
  float lr_scale = 1.0f;      // > 0 (frozen tensors are not listed)
  float* compute = nullptr;   // mixed precision: receives w rounded to FP16 after the step
};

struct DeviceSpan {
  const float* data = nullptr;
  int64_t n = 0;
};

// What a buffer holds: parameters, their gradients and optimizer state, BN statistics
// (always FP32), or activations and activation gradients, which a device may store in a
// narrower type in mixed precision (the CUDA device keeps them as FP16). Pointers stay
// float*: the device knows each buffer's storage, and every kernel call passes whole
// buffers (the pointers allocate() returned).
enum class Storage { kParam, kActivation };

class NetDevice {
 public:
  virtual ~NetDevice() = default;
  virtual const char* name() const = 0;  // "cpu" | "cuda"

  // --- memory ---
  // n zero-filled values (floats, unless the device narrows this storage), owned by the
  // device and freed with it. fill/upload/download/copy_into convert as needed.
  virtual float* allocate(int64_t n, Storage storage = Storage::kParam) = 0;
  virtual size_t bytes_allocated() const = 0;
  virtual void fill(float* dst, int64_t n, float value) = 0;
  virtual void upload(float* dst, const float* host_src, int64_t n) = 0;
  virtual void download(float* host_dst, const float* src, int64_t n) = 0;
  // Waits until every queued kernel has finished (a no-op on the CPU).
  virtual void synchronize() = 0;

  // --- profiling ---
  // A mark in the device's timeline (the host clock on the CPU; a CUDA event recorded on
  // the stream, so nothing waits); returns its id.
  virtual int profile_mark() = 0;
  // Seconds between two marks; valid after synchronize().
  virtual double profile_seconds(int from, int to) = 0;
  // Forgets every mark (their ids may be reused).
  virtual void profile_clear() = 0;

  // --- the step's inputs and loss ---
  // dst (n, sample_numel) = the host images, or their mixup blend with host_perm. With
  // host_raw (host_images null) the images are first made by the colour pass from raw
  // pixels (validated by the caller; its problem's n, h, w set).
  virtual void load_input(int64_t n, int64_t sample_numel, const float* host_images, const RawImages* host_raw,
                          const int32_t* host_perm, float lambda, float* dst) = 0;
  // The step's softmax cross-entropy (hard labels with smoothing, or soft targets), plus
  // distillation when a.teacher_logits is set, from the host arrays of `a`: writes dz (the
  // gradient times a.loss_scale). Bad labels throw here. The loss and the count of correct
  // rows are read later, by loss_result(), so the GPU need not be waited for mid-step.
  virtual void loss(const TrainStepArgs& a, int64_t classes, const float* z, float* dz) = 0;
  virtual TrainStepResult loss_result() = 0;

  // --- mixed precision ---
  virtual void round_to_f16(int64_t n, float* x) = 0;

  // --- ops ---
  // Whether eval mode folds a BN into the conv whose output only it reads: the folded
  // weights w' = w * s and bias b' = beta - mean * s per output channel, with
  // s = gamma / sqrt(var + eps) computed in double, and the conv with that bias and the
  // BN's ReLU applied as its output is written (one op instead of two passes).
  virtual bool folds_batchnorm() const = 0;
  // Floats of folded weights in the device's form (the CPU packs them for its GEMM, and the
  // form may depend on the batch: `p` is the problem at the Net's largest batch).
  virtual int64_t folded_weights_numel(const Conv2dProblem& p) = 0;
  virtual void fold_conv_bn(const Conv2dProblem& p, const float* w, const float* gamma, const float* beta,
                            const float* mean, const float* var, float eps, float* folded_w, float* folded_b) = 0;
  // `folded_n`: the batch of the problem the weights were folded for; p.n may be smaller.
  // `residual` (null unless folds_residual()): shaped as y, added before the ReLU (the BN's
  // residual add, done in the conv's output pass).
  virtual void conv2d_forward_folded(const Conv2dProblem& p, int64_t folded_n, const float* x,
                                     const float* folded_w, const float* folded_b, bool relu, float* y,
                                     const float* residual) = 0;
  // Whether conv2d_forward_folded takes a residual.
  virtual bool folds_residual() const = 0;
  // Can this device run the node (e.g. grouped convolutions)? Empty string: yes; else why not.
  virtual std::string unsupported(const NodeDesc& node) const = 0;
  virtual void conv2d_forward(const Conv2dProblem& p, const float* x, const float* w, float* y) = 0;
  // dx = conv^T(dy, w), or dx += that with accumulate.
  virtual void conv2d_backward_data(const Conv2dProblem& p, const float* dy, const float* w, float* dx,
                                    bool accumulate) = 0;
  virtual void conv2d_backward_filter(const Conv2dProblem& p, const float* x, const float* dy, float* dw) = 0;
  // residual: null, or the other input of a residual add fused into the BN (y = BN(x) + r).
  virtual void batchnorm_forward_train(const BatchNormProblem& p, const float* x, const float* gamma,
                                       const float* beta, float* y, float* running_mean, float* running_var,
                                       float* save_mean, float* save_invstd, const float* residual) = 0;
  virtual void batchnorm_forward_infer(const BatchNormProblem& p, const float* x, const float* gamma,
                                       const float* beta, const float* running_mean, const float* running_var,
                                       float* y, const float* residual) = 0;
  virtual void batchnorm_backward(const BatchNormProblem& p, const float* x, const float* dy, const float* gamma,
                                  const float* mean, const float* invstd, float* dx, float* dgamma, float* dbeta,
                                  const float* relu_y) = 0;
  virtual void relu_forward(int64_t n, const float* x, float* y) = 0;
  virtual void relu_backward(int64_t n, const float* y, const float* dy, float* dx) = 0;
  virtual void add_forward(int64_t n, const float* a, const float* b, float* y, bool relu) = 0;
  virtual void add_relu_backward(int64_t n, const float* y, float* dy, float* db, bool accumulate) = 0;
  virtual void copy_into(int64_t n, const float* a, float* b) = 0;
  virtual void add_into(int64_t n, const float* a, float* b) = 0;
  virtual void maxpool2d_forward(const Pool2dProblem& p, const float* x, float* y) = 0;
  virtual void maxpool2d_backward(const Pool2dProblem& p, const float* x, const float* dy, float* dx) = 0;
  virtual void avgpool2d_forward(const Pool2dProblem& p, const float* x, float* y) = 0;
  virtual void avgpool2d_backward(const Pool2dProblem& p, const float* dy, float* dx) = 0;
  virtual void global_avgpool_forward(int64_t n, int64_t hw, int64_t c, const float* x, float* y) = 0;
  virtual void global_avgpool_backward(int64_t n, int64_t hw, int64_t c, const float* dy, float* dx) = 0;
  virtual void linear_forward(const LinearProblem& p, const float* x, const float* w, const float* b, float* y) = 0;
  virtual void linear_backward(const LinearProblem& p, const float* x, const float* w, const float* dy, float* dx,
                               float* dw, float* db) = 0;

  // --- recorded segments (CUDA graphs) ---
  // The schedule brackets a run of ops whose launches depend only on (segment, n) and on
  // buffers fixed at compilation. begin_segment returns true when the caller must queue
  // the ops (eagerly, or while the device records them; end_segment follows), false when
  // the device has just replayed its recording instead. abort_segment undoes a begin whose
  // ops threw. The defaults never record.
  virtual bool begin_segment(int segment, int64_t n) { return true; }
  virtual void end_segment() {}
  virtual void abort_segment() {}

  // --- the optimizer ---
  // The fixed sets the step works on, given once after compilation: the tensors the update
  // changes, and the arrays whose finiteness decides whether it runs.
  virtual void plan_update(const std::vector<UpdateTensor>& tensors, const std::vector<DeviceSpan>& checked) = 0;
  // Every checked array finite (one device-to-host read on the GPU).
  virtual bool all_finite() = 0;
  // SGD/Nesterov on every planned tensor with the step's lr, momentum, weight decay (for
  // tensors with decay) and 1/loss_scale; refreshes the FP16-rounded compute copies.
  virtual void update(const TrainStepArgs& a) = 0;
};

std::unique_ptr<NetDevice> make_cpu_net_device();
// Throws ERR_CUDA_UNAVAILABLE (with the reason) where CUDA cannot be used.
std::unique_ptr<NetDevice> make_cuda_net_device(Precision precision);

}  // namespace bot
