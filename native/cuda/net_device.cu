// The CUDA NetDevice (contract in bot/net_device.h): every buffer of the Net in device
// memory, every op a launcher of bot/cuda/conv2d.cuh or bot/cuda/kernels.cuh queued on the
// process stream. Nothing waits for the device inside a step except its end: the loss rows,
// the correct flags and the finiteness flag come back together after the backward pass.
//
// Storage. Parameters, their gradients, momentum and BN statistics are FP32. In mixed
// precision, activations and activation gradients (Storage::kActivation) are STORED as
// FP16: every kernel widens what it reads to FP32, computes as the FP32 kernel does, and
// rounds what it stores to FP16 once, which is the CPU core's emulation (it rounds every
// activation and gradient to FP16 as it is written); the convolutions read and write them
// directly on the tensor cores, and only their weights (FP32 compute copies holding FP16
// values) are narrowed per call. So a CUDA step and a CPU step differ only in summation
// order. BAGOFTRICKS_CUDA_F32_STORAGE=1 keeps FP32 storage in mixed precision instead
// (values rounded in place, FP16 copies made around each convolution): twice the bytes,
// for comparison. In FP32 precision everything is FP32. Which buffers are FP16 is known
// by address: the schedule passes whole buffers, the pointers allocate() returned.
//
// Scratch (the BN workspace, the FP16 operand copies, the staged inputs) is grow-only and
// reused by every later op and step; buffers are freed stream-ordered, so a buffer that
// grows while an earlier kernel still reads it is released only after that kernel.
#include <cuda_fp16.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bot/cuda/conv2d.cuh"
#include "bot/cuda/kernels.cuh"
#include "bot/cuda/runtime.cuh"
#include "bot/net_device.h"
#include "bot/status.h"

namespace bot {

namespace {

using cuda::DeviceBuffer;

// What the recorded segments depend on: a scratch buffer that moves invalidates every
// recording (generation), and none may move while one is being recorded.
struct Recording {
  uint64_t generation = 0;
  bool capturing = false;
};

// A device buffer that only grows: get(bytes) returns at least `bytes`. Buffers used inside
// recorded segments know the Recording; the others (inputs, loss) pass null.
class Scratch {
 public:
  explicit Scratch(Recording* rec = nullptr) : rec_(rec) {}
  void* get(size_t bytes) {
    if (bytes > buf_.bytes()) {
      // A segment's first run is never recorded, and it grows every buffer the segment
      // needs at its batch size: a growth now would be a bug in that rule.
      if (rec_ != nullptr)
        BOT_CHECK(!rec_->capturing, Code::kInternal, "a CUDA graph recording needs a scratch buffer to grow");
      buf_ = DeviceBuffer(bytes);
      if (rec_ != nullptr) ++rec_->generation;
    }
    return buf_.get();
  }
  template <typename T> T* as(int64_t count) { return static_cast<T*>(get(sizeof(T) * size_t(count))); }

 private:
  Recording* rec_;
  DeviceBuffer buf_;
};

// BAGOFTRICKS_CUDA_GRAPHS=1 records the forward and backward segments as CUDA graphs.
bool graphs_requested() {
  const char* v = std::getenv("BAGOFTRICKS_CUDA_GRAPHS");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

bool f32_storage_requested() {
  const char* v = std::getenv("BAGOFTRICKS_CUDA_F32_STORAGE");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

__half* h(float* p) { return reinterpret_cast<__half*>(p); }
const __half* h(const float* p) { return reinterpret_cast<const __half*>(p); }

cuda::ConvShape conv_shape(const Conv2dProblem& p) {
  cuda::ConvShape s;
  s.n = p.n; s.h = p.h; s.w = p.w; s.c = p.c;
  s.k = p.k; s.r = p.r; s.s = p.s;
  s.stride_h = p.stride_h; s.stride_w = p.stride_w;
  s.pad_h = p.pad_h; s.pad_w = p.pad_w;
  return s;
}

class CudaNetDevice final : public NetDevice {
 public:
  explicit CudaNetDevice(Precision precision)
      : half_(precision == Precision::kF16),
        act16_(half_ && !f32_storage_requested()),
        graphs_(graphs_requested()),
        st_(cuda::stream()) {}

  ~CudaNetDevice() override {
    // Kernels queued by this Net may still read its buffers: wait for them before the
    // buffers are freed. A poisoned process has nothing left to wait for.
    if (!cuda::poisoned()) {
      if (rec_.capturing) {
        cudaGraph_t g = nullptr;
        if (cudaStreamEndCapture(st_, &g) == cudaSuccess && g != nullptr) cudaGraphDestroy(g);
      }
      cudaStreamSynchronize(st_);
      for (cudaEvent_t e : events_) cudaEventDestroy(e);
      for (auto& [key, r] : recorded_) cudaGraphExecDestroy(r.exec);
    }
  }

  const char* name() const override { return "cuda"; }

  // --- memory ---
  float* allocate(int64_t n, Storage storage) override {
    BOT_CHECK(n >= 0, Code::kShape, "negative buffer size");
    const bool narrow = act16_ && storage == Storage::kActivation;
    const size_t bytes = (narrow ? sizeof(__half) : sizeof(float)) * size_t(n);
    buffers_.emplace_back(bytes);
    bytes_ += bytes;
    float* p = buffers_.back().as<float>();
    if (n > 0) cuda::zero(p, bytes);  // 0.0 in both types
    if (narrow) f16_buffers_.insert(p);
    return p;
  }
  size_t bytes_allocated() const override { return bytes_; }
  void fill(float* dst, int64_t n, float value) override {
    if (n == 0) return;
    std::vector<float> host(size_t(n), value);
    upload(dst, host.data(), n);
  }
  void upload(float* dst, const float* src, int64_t n) override {
    if (n == 0) return;
    if (f16(dst)) {
      float* staged = convert_.as<float>(n);
      cuda::copy_to_device(staged, src, sizeof(float) * size_t(n));
      cuda::f32_to_f16_device(n, staged, dst, st_);
    } else {
      cuda::copy_to_device(dst, src, sizeof(float) * size_t(n));
    }
    // The host array may be freed as soon as this returns.
    cuda::synchronize();
  }
  void download(float* dst, const float* src, int64_t n) override {
    if (n == 0) return;
    if (f16(src)) {
      float* wide = convert_.as<float>(n);
      cuda::f16_to_f32_device(n, src, wide, st_);
      src = wide;
    }
    cuda::copy_to_host(dst, src, sizeof(float) * size_t(n));
    cuda::synchronize();
  }
  void synchronize() override { cuda::synchronize(); }

  // Marks are events from a pool that grows to the most marks one call made; timing-only
  // events are not created with cudaEventDisableTiming.
  int profile_mark() override {
    if (marks_used_ == events_.size()) {
      cudaEvent_t e = nullptr;
      BOT_CUDA_CHECK(cudaEventCreate(&e));
      events_.push_back(e);
    }
    BOT_CUDA_CHECK(cudaEventRecord(events_[marks_used_], st_));
    return static_cast<int>(marks_used_++);
  }
  double profile_seconds(int from, int to) override {
    float ms = 0.0f;
    BOT_CUDA_CHECK(cudaEventElapsedTime(&ms, events_.at(size_t(from)), events_.at(size_t(to))));
    return double(ms) / 1000.0;
  }
  void profile_clear() override { marks_used_ = 0; }

  // --- inputs and loss ---
  void load_input(int64_t n, int64_t sample_numel, const float* images, const RawImages* raw, const int32_t* perm,
                  float lambda, float* dst) override {
    const int64_t count = n * sample_numel;
    if (perm != nullptr) mixup_check(n, sample_numel, perm, lambda);
    const bool narrow = f16(dst);
    // Where the images land in FP32 first: a staging batch when a blend or a narrowing
    // follows, else the input itself.
    const bool direct = perm == nullptr && !narrow;
    float* out = direct ? dst : staged_images_.as<float>(count);
    if (raw != nullptr) {
      // A quarter of the bytes cross the bus; the colour pass runs here.
      std::vector<float>& affine = host_affine_;
      affine.resize(static_cast<size_t>(12 * n));
      for (int64_t i = 0; i < n; ++i) augment_affine(raw->constants, raw->colour, i, &affine[12 * i], &affine[12 * i + 9]);
      uint8_t* pixels = staged_pixels_.as<uint8_t>(count);
      float* d_affine = staged_affine_.as<float>(12 * n);
      cuda::copy_to_device(pixels, raw->pixels, size_t(count));
      cuda::copy_to_device(d_affine, affine.data(), sizeof(float) * affine.size());
      const int64_t pixels_per_image = sample_numel / 3;  // RGB: three values per pixel
      if (perm == nullptr && narrow) return cuda::augment_affine_device(n, pixels_per_image, pixels, d_affine, h(dst), st_);
      cuda::augment_affine_device(n, pixels_per_image, pixels, d_affine, out, st_);
    } else {
      cuda::copy_to_device(out, images, sizeof(float) * size_t(count));
    }
    if (perm == nullptr) {
      if (narrow) cuda::f32_to_f16_device(count, out, dst, st_);
      return;
    }
    int32_t* d_perm = staged_perm_.as<int32_t>(n);
    cuda::copy_to_device(d_perm, perm, sizeof(int32_t) * size_t(n));
    if (narrow) cuda::mixup_blend_device(n, sample_numel, out, d_perm, lambda, h(dst), st_);
    else cuda::mixup_blend_device(n, sample_numel, out, d_perm, lambda, dst, st_);
  }

  void loss(const TrainStepArgs& a, int64_t classes, const float* z, float* dz) override {
    CrossEntropyProblem p{a.n, classes, a.smoothing};
    p.validate();
    if (a.labels != nullptr) cross_entropy_check_labels(p, a.labels);
    else cross_entropy_check_targets(p, a.targets);
    if (a.teacher_logits != nullptr) cross_entropy_check_temperature(a.temperature);
    const int64_t count = a.n * classes;
    int32_t* labels = nullptr;
    float* targets = nullptr;
    float* teacher = nullptr;
    if (a.labels != nullptr) {
      labels = labels_.as<int32_t>(a.n);
      cuda::copy_to_device(labels, a.labels, sizeof(int32_t) * size_t(a.n));
    } else {
      targets = targets_.as<float>(count);
      cuda::copy_to_device(targets, a.targets, sizeof(float) * size_t(count));
    }
    if (a.teacher_logits != nullptr) {
      teacher = teacher_.as<float>(count);
      cuda::copy_to_device(teacher, a.teacher_logits, sizeof(float) * size_t(count));
    }
    double* rows = row_loss_.as<double>(a.n);
    int32_t* correct = correct_.as<int32_t>(a.n);
    if (f16(z))
      cuda::cross_entropy_device(p, h(z), labels, targets, teacher, a.temperature, a.loss_scale, h(dz), rows, correct,
                                 st_);
    else
      cuda::cross_entropy_device(p, z, labels, targets, teacher, a.temperature, a.loss_scale, dz, rows, correct, st_);
    loss_rows_ = a.n;
  }

  TrainStepResult loss_result() override {
    if (loss_rows_ == 0) return TrainStepResult();
    std::vector<double>& rows = host_rows_;
    std::vector<int32_t>& correct = host_correct_;
    rows.resize(static_cast<size_t>(loss_rows_));
    correct.resize(static_cast<size_t>(loss_rows_));
    cuda::copy_to_host(rows.data(), row_loss_.get(0), sizeof(double) * rows.size());
    cuda::copy_to_host(correct.data(), correct_.get(0), sizeof(int32_t) * correct.size());
    cuda::synchronize();
    TrainStepResult r;
    for (double v : rows) r.loss += v;  // row order, as the CPU op adds them
    for (int32_t c : correct) r.correct += c;
    return r;
  }

  // An FP16-stored buffer holds FP16 values already; FP32 ones (weight gradients, compute
  // copies, or everything under FP32 storage) are rounded in place.
  void round_to_f16(int64_t n, float* x) override {
    if (!f16(x)) cuda::round_to_f16_device(n, x, st_);
  }

  // --- ops ---
  // Eval folds each BN into its conv: FP32 folded weights (narrowed per call in mixed
  // precision, like the compute copies), and the bias and ReLU applied as the conv's output
  // tiles are stored.
  bool folds_batchnorm() const override { return true; }
  bool folds_residual() const override { return false; }  // the BN's add runs as its own op
  int64_t folded_weights_numel(const Conv2dProblem& p) override { return p.w_numel(); }
  void fold_conv_bn(const Conv2dProblem& p, const float* w, const float* gamma, const float* beta, const float* mean,
                    const float* var, float eps, float* folded_w, float* folded_b) override {
    cuda::fold_conv_bn_device(p.k, p.w_numel() / p.k, w, gamma, beta, mean, var, eps, folded_w, folded_b, st_);
  }
  void conv2d_forward_folded(const Conv2dProblem& p, int64_t /*folded_n: one form for all*/, const float* x,
                             const float* folded_w, const float* folded_b, bool relu, float* y,
                             const float* residual) override {
    BOT_CHECK(residual == nullptr, Code::kInternal, "cuda: the folded conv takes no residual (folds_residual)");
    conv_forward(p, x, folded_w, folded_b, relu, y);
  }
  std::string unsupported(const NodeDesc& node) const override {
    if (node.op == OpKind::kConv2d && node.groups != 1)
      return "grouped convolutions (groups = " + std::to_string(node.groups) + ") have no CUDA kernel";
    return "";
  }

  // Convolutions: FP32 kernels in FP32 precision; in mixed precision the tensor-core kernels
  // on FP16 activations (read and written in place under FP16 storage, converted around the
  // launch under FP32 storage) and on an FP16 copy of the weights' compute copy.
  void conv2d_forward(const Conv2dProblem& p, const float* x, const float* w, float* y) override {
    conv_forward(p, x, w, nullptr, false, y);
  }

  void conv2d_backward_data(const Conv2dProblem& p, const float* dy, const float* w, float* dx,
                            bool accumulate) override {
    p.validate();
    const cuda::ConvShape s = conv_shape(p);
    const int64_t nx = p.n * p.h * p.w * p.c, nw = p.w_numel(), ny = p.n * s.out_h() * s.out_w() * p.k;
    if (f16(dy)) {
      __half* out = accumulate ? h_c_.as<__half>(nx) : h(same16(dx, dy));
      cuda::conv2d_backward_data(s, cuda::Precision::kF16, dy, to_half(h_b_, w, nw), out, st_);
      if (accumulate) cuda::add_into_device(nx, out, h(dx), st_);
      return;
    }
    float* out = accumulate ? f_tmp_.as<float>(nx) : dx;
    if (!half_) {
      cuda::conv2d_backward_data(s, cuda::Precision::kF32, dy, w, out, st_);
    } else {
      const void* hdy = to_half(h_a_, dy, ny);
      const void* hw = to_half(h_b_, w, nw);
      void* hdx = h_c_.get(2 * size_t(nx));
      cuda::conv2d_backward_data(s, cuda::Precision::kF16, hdy, hw, hdx, st_);
      cuda::f16_to_f32_device(nx, hdx, out, st_);
    }
    if (accumulate) cuda::add_into_device(nx, out, dx, st_);
  }

  void conv2d_backward_filter(const Conv2dProblem& p, const float* x, const float* dy, float* dw) override {
    p.validate();
    const cuda::ConvShape s = conv_shape(p);
    if (!half_) return cuda::conv2d_backward_filter(s, cuda::Precision::kF32, x, dy, dw, st_);
    if (f16(x)) return cuda::conv2d_backward_filter(s, cuda::Precision::kF16, x, same16(dy, x), dw, st_);
    const int64_t nx = p.n * p.h * p.w * p.c, ny = p.n * s.out_h() * s.out_w() * p.k;
    const void* hx = to_half(h_a_, x, nx);
    const void* hdy = to_half(h_b_, dy, ny);
    cuda::conv2d_backward_filter(s, cuda::Precision::kF16, hx, hdy, dw, st_);
  }

  void batchnorm_forward_train(const BatchNormProblem& p, const float* x, const float* gamma, const float* beta,
                               float* y, float* running_mean, float* running_var, float* save_mean,
                               float* save_invstd, const float* residual) override {
    if (residual != nullptr) same16(residual, x);
    if (f16(x))
      return cuda::batchnorm_forward_train_device(p, h(x), gamma, beta, h(same16(y, x)), running_mean, running_var,
                                                  save_mean, save_invstd, bn_workspace(p), st_, h(residual));
    cuda::batchnorm_forward_train_device(p, x, gamma, beta, y, running_mean, running_var, save_mean, save_invstd,
                                         bn_workspace(p), st_, residual);
  }
  void batchnorm_forward_infer(const BatchNormProblem& p, const float* x, const float* gamma, const float* beta,
                               const float* running_mean, const float* running_var, float* y,
                               const float* residual) override {
    if (residual != nullptr) same16(residual, x);
    if (f16(x))
      return cuda::batchnorm_forward_infer_device(p, h(x), gamma, beta, running_mean, running_var, h(same16(y, x)),
                                                  bn_workspace(p), st_, h(residual));
    cuda::batchnorm_forward_infer_device(p, x, gamma, beta, running_mean, running_var, y, bn_workspace(p), st_,
                                         residual);
  }
  void batchnorm_backward(const BatchNormProblem& p, const float* x, const float* dy, const float* gamma,
                          const float* mean, const float* invstd, float* dx, float* dgamma, float* dbeta,
                          const float* relu_y) override {
    if (f16(x))
      return cuda::batchnorm_backward_device(p, h(x), h(same16(dy, x)), gamma, mean, invstd, true, h(same16(dx, x)),
                                             dgamma, dbeta, relu_y ? h(same16(relu_y, x)) : nullptr, bn_workspace(p),
                                             st_);
    cuda::batchnorm_backward_device(p, x, dy, gamma, mean, invstd, true, dx, dgamma, dbeta, relu_y,
                                    bn_workspace(p), st_);
  }

  void relu_forward(int64_t n, const float* x, float* y) override {
    if (f16(x)) return cuda::relu_forward_device(n, h(x), h(same16(y, x)), st_);
    cuda::relu_forward_device(n, x, y, st_);
  }
  void relu_backward(int64_t n, const float* y, const float* dy, float* dx) override {
    if (f16(y)) return cuda::relu_backward_device(n, h(y), h(same16(dy, y)), h(same16(dx, y)), st_);
    cuda::relu_backward_device(n, y, dy, dx, st_);
  }
  void add_forward(int64_t n, const float* a, const float* b, float* y, bool relu) override {
    if (f16(a)) {
      if (relu) cuda::add_relu_forward_device(n, h(a), h(same16(b, a)), h(same16(y, a)), st_);
      else cuda::add_forward_device(n, h(a), h(same16(b, a)), h(same16(y, a)), st_);
      return;
    }
    if (relu) cuda::add_relu_forward_device(n, a, b, y, st_);
    else cuda::add_forward_device(n, a, b, y, st_);
  }
  void add_relu_backward(int64_t n, const float* y, float* dy, float* db, bool accumulate) override {
    if (f16(y)) return cuda::add_relu_backward_device(n, h(y), h(same16(dy, y)), h(same16(db, y)), accumulate, st_);
    cuda::add_relu_backward_device(n, y, dy, db, accumulate, st_);
  }
  // Also used on parameters (the compute copies): the storage decides.
  void copy_into(int64_t n, const float* a, float* b) override {
    if (f16(a)) return cuda::copy_into_device(n, h(a), h(same16(b, a)), st_);
    cuda::copy_into_device(n, a, same16(b, a), st_);
  }
  void add_into(int64_t n, const float* a, float* b) override {
    if (f16(a)) return cuda::add_into_device(n, h(a), h(same16(b, a)), st_);
    cuda::add_into_device(n, a, same16(b, a), st_);
  }
  void maxpool2d_forward(const Pool2dProblem& p, const float* x, float* y) override {
    if (f16(x)) return cuda::maxpool2d_forward_device(p, h(x), h(same16(y, x)), st_);
    cuda::maxpool2d_forward_device(p, x, y, st_);
  }
  void maxpool2d_backward(const Pool2dProblem& p, const float* x, const float* dy, float* dx) override {
    if (f16(x)) return cuda::maxpool2d_backward_device(p, h(x), h(same16(dy, x)), h(same16(dx, x)), st_);
    cuda::maxpool2d_backward_device(p, x, dy, dx, st_);
  }
  void avgpool2d_forward(const Pool2dProblem& p, const float* x, float* y) override {
    if (f16(x)) return cuda::avgpool2d_forward_device(p, h(x), h(same16(y, x)), st_);
    cuda::avgpool2d_forward_device(p, x, y, st_);
  }
  void avgpool2d_backward(const Pool2dProblem& p, const float* dy, float* dx) override {
    if (f16(dy)) return cuda::avgpool2d_backward_device(p, h(dy), h(same16(dx, dy)), st_);
    cuda::avgpool2d_backward_device(p, dy, dx, st_);
  }
  void global_avgpool_forward(int64_t n, int64_t hw, int64_t c, const float* x, float* y) override {
    if (f16(x)) return cuda::global_avgpool_forward_device(n, hw, c, h(x), h(same16(y, x)), st_);
    cuda::global_avgpool_forward_device(n, hw, c, x, y, st_);
  }
  void global_avgpool_backward(int64_t n, int64_t hw, int64_t c, const float* dy, float* dx) override {
    if (f16(dy)) return cuda::global_avgpool_backward_device(n, hw, c, h(dy), h(same16(dx, dy)), st_);
    cuda::global_avgpool_backward_device(n, hw, c, dy, dx, st_);
  }
  void linear_forward(const LinearProblem& p, const float* x, const float* w, const float* b, float* y) override {
    if (f16(x)) return cuda::linear_forward_device(p, h(x), w, b, h(same16(y, x)), st_);
    cuda::linear_forward_device(p, x, w, b, y, st_);
  }
  void linear_backward(const LinearProblem& p, const float* x, const float* w, const float* dy, float* dx,
                       float* dw, float* db) override {
    if (f16(x))
      return cuda::linear_backward_device(p, h(x), w, h(same16(dy, x)), dx ? h(same16(dx, x)) : nullptr, dw, db,
                                          st_);
    cuda::linear_backward_device(p, x, w, dy, dx, dw, db, st_);
  }

  // --- optimizer ---
  void plan_update(const std::vector<UpdateTensor>& tensors, const std::vector<DeviceSpan>& checked) override {
    update_ = tensors;
    std::vector<cuda::DeviceSpan> spans;
    for (const DeviceSpan& s : checked) spans.push_back({s.data, s.n});
    check_ = cuda::FiniteCheck(spans);
    sgd_weight_decay_ = -1.0f;  // the tables are built on the first step
  }

  bool all_finite() override {
    int32_t* flag = flag_.as<int32_t>(1);
    BOT_CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(int32_t), st_));
    check_.check(flag, st_);
    int32_t host = 0;
    cuda::copy_to_host(&host, flag, sizeof(int32_t));
    cuda::synchronize();
    return host == 0;
  }

  void update(const TrainStepArgs& a) override {
    // Weight decay is fixed in the tensor table; a step with another value rebuilds it.
    if (a.weight_decay != sgd_weight_decay_) {
      BOT_CHECK(std::isfinite(a.weight_decay) && a.weight_decay >= 0.0f, Code::kArgument,
                "weight decay must be finite and >= 0, got " + std::to_string(a.weight_decay));
      std::vector<cuda::SgdDeviceTensor> table;
      for (const UpdateTensor& t : update_) {
        cuda::SgdDeviceTensor d;
        d.n = t.n;
        d.w = t.w;
        d.grad = t.grad;
        d.momentum_buf = t.momentum;
        d.weight_decay = t.decay ? a.weight_decay : 0.0f;
        d.lr_scale = t.lr_scale;
        d.w_round = t.compute;
        table.push_back(d);
      }
      sgd_ = cuda::SgdMulti(table);
      sgd_weight_decay_ = a.weight_decay;
    }
    SgdParams s;
    s.lr = a.lr;
    s.momentum = a.momentum;
    s.nesterov = a.nesterov;
    s.grad_scale = 1.0f / a.loss_scale;
    sgd_.step(s, st_);
  }

 private:
  // The forward conv, with an optional bias (+ ReLU) epilogue (a folded BN).
  void conv_forward(const Conv2dProblem& p, const float* x, const float* w, const float* bias, bool relu, float* y) {
    p.validate();
    const cuda::ConvShape s = conv_shape(p);
    if (!half_) return cuda::conv2d_forward(s, cuda::Precision::kF32, x, w, y, st_, bias, relu);
    const int64_t nx = p.n * p.h * p.w * p.c, ny = p.n * s.out_h() * s.out_w() * p.k;
    const void* hw = to_half(h_b_, w, p.w_numel());
    if (f16(x)) return cuda::conv2d_forward(s, cuda::Precision::kF16, x, hw, same16(y, x), st_, bias, relu);
    const void* hx = to_half(h_a_, x, nx);
    void* hy = h_c_.get(2 * size_t(ny));
    cuda::conv2d_forward(s, cuda::Precision::kF16, hx, hw, hy, st_, bias, relu);
    cuda::f16_to_f32_device(ny, hy, y, st_);
  }

  // A half copy of n floats in `into` (grown as needed).
  const void* to_half(Scratch& into, const float* x, int64_t n) {
    void* half = into.get(2 * size_t(n));
    cuda::f32_to_f16_device(n, x, half, st_);
    return half;
  }
  // Whether a buffer is stored as FP16.
  bool f16(const float* p) const { return f16_buffers_.count(p) != 0; }
  // `other`, checked to have the storage of `like` (the operands of one element-wise op
  // share it; a mismatch would be a bug in the schedule's storage classes).
  template <typename P>
  P* same16(P* other, const float* like) const {
    BOT_CHECK(f16(other) == f16(like), Code::kInternal, "CUDA Net: FP16 and FP32 buffers mixed in one op");
    return other;
  }
  float* bn_workspace(const BatchNormProblem& p) {
    return bn_workspace_.as<float>(cuda::batchnorm_workspace_floats(p));
  }

  bool half_;
  bool act16_;  // activations and their gradients stored as FP16
  bool graphs_;
  cudaStream_t st_;
  Recording rec_;
  struct Recorded {
    cudaGraphExec_t exec;
    uint64_t generation;
  };
  std::map<std::pair<int, int64_t>, Recorded> recorded_;
  std::map<std::pair<int, int64_t>, int> runs_;
  std::pair<int, int64_t> capture_key_{-1, 0};
  std::vector<DeviceBuffer> buffers_;
  size_t bytes_ = 0;
  std::set<const float*> f16_buffers_;  // the FP16-stored buffers, by address
  Scratch h_a_{&rec_}, h_b_{&rec_}, h_c_{&rec_}, f_tmp_{&rec_}, bn_workspace_{&rec_};
  Scratch staged_images_, staged_pixels_, staged_affine_, staged_perm_, convert_;
  Scratch labels_, targets_, teacher_, row_loss_, correct_, flag_;
  int64_t loss_rows_ = 0;
  // Host staging reused by every step (no allocation once grown).
  std::vector<float> host_affine_;
  std::vector<double> host_rows_;
  std::vector<int32_t> host_correct_;
  std::vector<cudaEvent_t> events_;  // the profiler's marks
  size_t marks_used_ = 0;
  std::vector<UpdateTensor> update_;
  cuda::FiniteCheck check_;
  cuda::SgdMulti sgd_;
  float sgd_weight_decay_ = -1.0f;
};

}  // namespace

std::unique_ptr<NetDevice> make_cuda_net_device(Precision precision) {
  cuda::ensure_ready();
  return std::make_unique<CudaNetDevice>(precision);
}

}  // namespace bot
