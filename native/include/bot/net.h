// Net: a model's graph compiled once into buffers and a schedule, trained one whole step
// per call.
//
// The graph description (GraphDesc) lists nodes in topological order; every node output
// is a value: NHWC activations (N, H, W, C), or (N, C) after global pooling and linear.
// Compiling it:
//   - infers every value's shape for the largest batch and allocates every buffer up
//     front (activations, parameter gradients, momentum, BN statistics, gradient buffers
//     shared by liveness), so a step of any batch size up to the maximum reuses them;
//   - fuses BN+ReLU and add+ReLU when the ReLU is the only consumer (one pass forward,
//     the ReLU mask folded into the backward);
//   - builds the backward schedule (reverse topological order; a value consumed twice,
//     like a block input feeding the residual branch and the shortcut, accumulates; the
//     inputs of a residual add share its output gradient's buffer where the liveness plan
//     allows, so the add's backward copies nothing and a fused ReLU mask is applied once,
//     in place).
// forward (eval mode) folds every BN that alone reads a conv's output into that conv:
// weights scaled per output channel and a bias, cached (and packed for the GEMM) until a
// parameter or running statistic changes (set_parameter, a training forward or step);
// the bias and a fused ReLU are applied as each tile of the conv's output is written.
// (Both backends fold: the CPU packs the folded weights for its GEMM, CUDA applies the bias
// and ReLU in its conv kernels' epilogue.)
// train_step runs forward, softmax cross-entropy, backward and the SGD/Nesterov update.
// Backends (NetOptions::backend): one schedule, two NetDevices (bot/net_device.h). On
// CUDA every buffer lives in device memory, the step's kernels are queued on one stream,
// and a step waits once, for its loss and finiteness flag.
// Mixed precision (Precision::kF16): FP32 master weights and momentum; the convolution and
// linear weights are used through FP16-rounded copies refreshed after every update; every
// activation, activation gradient and weight gradient is rounded to FP16 as it is written
// (FP16 storage emulated in FP32 buffers: the numerics of FP16, overflow to inf included,
// computed in FP32); BN statistics stay FP32. With a loss scale S the loss gradient is
// multiplied by S; a step whose gradients are not all finite applies no update (weights and
// momentum untouched) and reports finite = false; otherwise gradients are unscaled by 1/S
// inside the update.
// Parameters are named by PyTorch state-dict keys; conv weights are KRSC inside and OIHW
// (PyTorch) at get_parameter/set_parameter.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bot/dist.h"
#include "bot/ops/augment.h"

namespace bot {

enum class OpKind { kConv2d, kBatchNorm, kRelu, kAdd, kMaxPool2d, kAvgPool2d, kGlobalAvgPool, kLinear };

struct NodeDesc {
  OpKind op = OpKind::kRelu;
  std::string name;
  std::vector<std::string> inputs;
  // conv2d / pooling
  int64_t out_channels = 0;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t groups = 1;
  bool ceil_mode = false, count_include_pad = false;
  // batchnorm
  float eps = 1e-5f, momentum = 0.1f;
  // linear
  int64_t out_features = 0;
  // parameter keys (empty when unused)
  std::string weight, bias, running_mean, running_var;
};

struct GraphDesc {
  int64_t input_channels = 3;
  std::vector<NodeDesc> nodes;
  std::string output;
};

enum class Precision { kF32, kF16 };

// Where the Net's buffers live and its kernels run. kCuda throws ERR_CUDA_UNAVAILABLE (with
// the reason) where no usable device exists.
enum class Backend { kCpu, kCuda };

struct NetOptions {
  int64_t max_batch = 1;
  Precision precision = Precision::kF32;
  Backend backend = Backend::kCpu;
  int64_t height = 224, width = 224;
  // Parameter keys exempt from weight decay (biases, BN gamma/beta: "no bias decay").
  std::vector<std::string> no_decay;
  // Per-parameter learning-rate multipliers (fine-tuning: a lower rate for the backbone).
  // A key missing here trains at the step's rate; 0 freezes the parameter: the update
  // leaves its weight and momentum untouched (no decay either).
  std::vector<std::pair<std::string, float>> lr_scale;
  // false: an inference-only Net. Eval-mode forward only (train_step and forward_backward
  // throw ERR_ARGUMENT); no gradients, momentum, gradient buffers or saved BN statistics,
  // and the activations share buffers by liveness in the forward order, so it holds a
  // fraction of a training Net's memory.
  bool training = true;
  // Training-mode BN computes its statistics over each of bn_groups equal slices of the
  // batch (rows [g·n/G, (g+1)·n/G)) instead of the whole batch ("ghost" batches): the
  // statistics a data-parallel run of bn_groups ranks computes, each rank over its own
  // slice. The batch must then divide into bn_groups; the running statistics take the
  // groups' updates one after the other, in group order.
  int64_t bn_groups = 1;
};

enum class ParamKind { kWeight, kBias, kGamma, kBeta, kRunningMean, kRunningVar };

struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;  // PyTorch layout (OIHW for conv weights)
  ParamKind kind = ParamKind::kWeight;
  bool trainable = true;
  bool decay = true;
  float lr_scale = 1.0f;  // multiplies the step's learning rate; 0: frozen
};

// Raw RGB images that the step itself turns into the Net's input with the paper's colour
// pass (bot/ops/augment.h: brightness, saturation, hue, PCA lighting, normalisation), on
// the device the Net runs on, so the host only decodes and crops. The Net fills in the
// problem's n, h and w; the constants and the per-image coefficients come from the caller.
struct RawImages {
  const uint8_t* pixels = nullptr;  // (n, H, W, 3), 0..255
  AugmentProblem constants;         // mean, std, eigval, eigvec
  AugmentParams colour;             // per-image coefficients (host arrays), or nulls: normalise only
};

struct TrainStepArgs {
  int64_t n = 0;                     // batch size, 1..max_batch
  const float* images = nullptr;     // (n, H, W, C) NHWC, or
  const RawImages* raw = nullptr;    // raw images, colour pass in the step (3 input channels)
  const int32_t* labels = nullptr;   // (n) hard labels, or
  const float* targets = nullptr;    // (n, classes) soft targets
  float smoothing = 0.0f;            // label smoothing (hard labels only)
  float lr = 0.1f;
  float momentum = 0.9f;
  float weight_decay = 1e-4f;        // applied to parameters not in no_decay
  bool nesterov = true;
  float loss_scale = 1.0f;           // dynamic loss scaling (mixed precision)
  // Mixup: the core blends images[i] with images[mixup_perm[i]] by mixup_lambda before the
  // forward pass (the targets, soft, are blended by the caller). Null: no mixup.
  const int32_t* mixup_perm = nullptr;
  float mixup_lambda = 1.0f;
  // Knowledge distillation: the teacher's logits (n, classes) add
  // T^2 * CE(softmax(r/T), softmax(z/T)) to the loss. Null: no distillation.
  const float* teacher_logits = nullptr;
  float temperature = 1.0f;
  // Data-parallel: this rank asks every rank to stop after this step (Ctrl-C on one rank).
  bool stop_request = false;
};

struct TrainStepResult {
  double loss = 0.0;    // unscaled, distillation term included
  int64_t correct = 0;  // rows whose argmax matches the label (argmax of the target)
  bool finite = true;   // loss, every gradient and every BN running statistic finite;
                        // false: no update was applied
  // Data-parallel (a gradient averager attached): loss, correct and finite are over every
  // rank (finite: on every rank), images counts every rank's rows, stop is true when any
  // rank asked to stop. Without one: images = n, stop = stop_request.
  int64_t images = 0;
  bool stop = false;
};

class Net {
 public:
  Net(const GraphDesc& graph, const NetOptions& options);
  ~Net();
  Net(const Net&) = delete;
  Net& operator=(const Net&) = delete;

  TrainStepResult train_step(const TrainStepArgs& args);
  // Eval mode (BN with running statistics); logits (n, classes).
  void forward(int64_t n, const float* images, float* logits);
  void forward(int64_t n, const RawImages& raw, float* logits);

  // Forward and backward without the update (gradients are then read with
  // get_gradient); for tests and gradient checks. Training-mode BN, running statistics
  // updated as in a step.
  TrainStepResult forward_backward(const TrainStepArgs& args);

  const std::vector<ParamInfo>& parameters() const;
  int64_t parameter_numel(const std::string& name) const;
  void get_parameter(const std::string& name, float* out) const;  // PyTorch layout
  void set_parameter(const std::string& name, const float* in);   // PyTorch layout
  void get_gradient(const std::string& name, float* out) const;   // PyTorch layout
  void get_momentum(const std::string& name, float* out) const;   // PyTorch layout
  void set_momentum(const std::string& name, const float* in);    // PyTorch layout

  int64_t num_classes() const;
  int64_t max_batch() const;
  int64_t height() const;
  int64_t width() const;
  int64_t input_channels() const;
  Precision precision() const;
  Backend backend() const;
  bool training() const;
  size_t memory_bytes() const;  // every buffer the Net owns (on its device)
  // Time spent per op kind since the last reset, when profiling is on (off by default:
  // it costs two clock reads per node; on CUDA each op is also waited for, so the clock
  // measures the device's work, and the step runs slower). Phases: "forward", "backward", "loss", "update",
  // "other" (input copy, finite check).
  struct ProfileEntry {
    std::string op;     // "conv2d", "batchnorm", ... or the phase for loss/update/other
    std::string phase;  // "forward" | "backward" | "loss" | "update" | "other"
    double seconds = 0.0;
    int64_t calls = 0;
  };
  void set_profiling(bool on);
  std::vector<ProfileEntry> profile() const;
  void reset_profile();

  // Called during backward as each parameter's gradient becomes final (for overlapping
  // communication with the rest of the backward pass).
  void set_gradient_ready_hook(std::function<void(const std::string&)> hook);

  // Data-parallel training: every train_step averages the gradients over the averager's
  // ranks during its backward pass and agrees on finiteness, the loss and stopping (see
  // TrainStepResult). Host gradients only: a CPU Net (ERR_DIST_UNAVAILABLE on CUDA, which
  // needs NCCL). Null detaches.
  void set_gradient_averager(std::shared_ptr<dist::GradientAverager> averager);
  // Every parameter, BN running statistic and momentum buffer copied from rank root to
  // every rank of the averager's group (one identical starting point).
  void broadcast_state(int root);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bot
