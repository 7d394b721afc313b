// The CPU NetDevice: host memory (zero-filled, 64-byte aligned Tensors) and the CPU ops of
// bot/ops/*.h, each split over the thread pool by the op itself.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>

#include "bot/net_device.h"
#include "bot/status.h"
#include "bot/tensor.h"
#include "bot/threadpool.h"

namespace bot {

namespace {

class CpuNetDevice final : public NetDevice {
 public:
  const char* name() const override { return "cpu"; }

  float* allocate(int64_t n, Storage) override {  // FP16 storage is emulated in FP32 here
    buffers_.emplace_back(Shape{n}, DType::kF32);
    bytes_ += buffers_.back().nbytes();
    return buffers_.back().data<float>();
  }
  size_t bytes_allocated() const override { return bytes_; }
  void fill(float* dst, int64_t n, float value) override { std::fill_n(dst, n, value); }
  void upload(float* dst, const float* src, int64_t n) override { copy(dst, src, n); }
  void download(float* dst, const float* src, int64_t n) override { copy(dst, src, n); }
  void synchronize() override {}

  int profile_mark() override {
    marks_.push_back(std::chrono::steady_clock::now());
    return static_cast<int>(marks_.size()) - 1;
  }
  double profile_seconds(int from, int to) override {
    return std::chrono::duration<double>(marks_.at(size_t(to)) - marks_.at(size_t(from))).count();
  }
  void profile_clear() override { marks_.clear(); }

  void load_input(int64_t n, int64_t sample_numel, const float* images, const RawImages* raw, const int32_t* perm,
                  float lambda, float* dst) override {
    if (raw != nullptr) {
      // The colour pass straight into the input, or into a staging batch to blend from.
      float* out = dst;
      if (perm != nullptr) {
        staged_.resize(static_cast<size_t>(n * sample_numel));
        out = staged_.data();
      }
      augment_forward_f32(raw->constants, raw->pixels, raw->colour, out);
      images = out;
    }
    if (perm != nullptr) mixup_blend(n, sample_numel, images, perm, lambda, dst);
    else copy(dst, images, n * sample_numel);
  }

  void loss(const TrainStepArgs& a, int64_t classes, const float* z, float* dz) override {
    CrossEntropyProblem p{a.n, classes, a.smoothing};
    TrainStepResult& r = loss_ = TrainStepResult();
    r.loss = a.labels ? cross_entropy_hard(p, z, a.labels, dz) : cross_entropy_soft(p, z, a.targets, dz);
    if (a.teacher_logits != nullptr) r.loss += cross_entropy_distill(p, z, a.teacher_logits, a.temperature, dz);
    const int64_t count = a.n * classes;
    if (a.loss_scale != 1.0f)
      for (int64_t i = 0; i < count; ++i) dz[i] *= a.loss_scale;
    for (int64_t i = 0; i < a.n; ++i) {
      const float* row = z + i * classes;
      const int64_t pred = std::max_element(row, row + classes) - row;
      int64_t truth;
      if (a.labels) {
        truth = a.labels[i];
      } else {
        const float* t = a.targets + i * classes;
        truth = std::max_element(t, t + classes) - t;
      }
      r.correct += pred == truth ? 1 : 0;
    }
  }
  TrainStepResult loss_result() override { return loss_; }

  void round_to_f16(int64_t n, float* x) override { f32_round_to_f16(n, x); }

  bool folds_batchnorm() const override { return true; }
  // Packed for the GEMM once (groups == 1), else KRSC as the grouped conv reads them.
  int64_t folded_weights_numel(const Conv2dProblem& p) override {
    return p.groups == 1 ? conv2d_packed_weights_numel(p) : p.k * p.r * p.s * p.c_per_group();
  }
  void fold_conv_bn(const Conv2dProblem& p, const float* w, const float* gamma, const float* beta, const float* mean,
                    const float* var, float eps, float* folded_w, float* folded_b) override {
    const bool pack = p.groups == 1;
    const int64_t per_k = p.r * p.s * p.c_per_group();  // KRSC: one output channel is contiguous
    // Folded weights in KRSC: straight into folded_w, or into a temporary to pack.
    std::vector<float> krsc(pack ? size_t(p.k * per_k) : 0);
    float* dst = pack ? krsc.data() : folded_w;
    for (int64_t o = 0; o < p.k; ++o) {
      const double scale = double(gamma[o]) / std::sqrt(double(var[o]) + double(eps));
      for (int64_t j = 0; j < per_k; ++j) dst[o * per_k + j] = float(double(w[o * per_k + j]) * scale);
      folded_b[o] = float(double(beta[o]) - double(mean[o]) * scale);
    }
    if (pack) conv2d_pack_weights(p, dst, folded_w);
  }
  void conv2d_forward_folded(const Conv2dProblem& p, int64_t folded_n, const float* x, const float* folded_w,
                             const float* folded_b, bool relu, float* y, const float* residual) override {
    if (p.groups == 1) conv2d_forward_bias(p, x, nullptr, folded_b, relu, y, folded_w, folded_n, residual);
    else conv2d_forward_bias(p, x, folded_w, folded_b, relu, y, nullptr, 0, residual);
  }
  bool folds_residual() const override { return true; }
  std::string unsupported(const NodeDesc&) const override { return ""; }

  void conv2d_forward(const Conv2dProblem& p, const float* x, const float* w, float* y) override {
    bot::conv2d_forward(p, x, w, y);
  }
  void conv2d_backward_data(const Conv2dProblem& p, const float* dy, const float* w, float* dx,
                            bool accumulate) override {
    if (accumulate) bot::conv2d_backward_data_accumulate(p, dy, w, dx);
    else bot::conv2d_backward_data(p, dy, w, dx);
  }
  void conv2d_backward_filter(const Conv2dProblem& p, const float* x, const float* dy, float* dw) override {
    bot::conv2d_backward_filter(p, x, dy, dw);
  }
  void batchnorm_forward_train(const BatchNormProblem& p, const float* x, const float* gamma, const float* beta,
                               float* y, float* running_mean, float* running_var, float* save_mean,
                               float* save_invstd, const float* residual) override {
    bot::batchnorm_forward_train(p, x, gamma, beta, y, running_mean, running_var, save_mean, save_invstd, residual);
  }
  void batchnorm_forward_infer(const BatchNormProblem& p, const float* x, const float* gamma, const float* beta,
                               const float* running_mean, const float* running_var, float* y,
                               const float* residual) override {
    bot::batchnorm_forward_infer(p, x, gamma, beta, running_mean, running_var, y, residual);
  }
  void batchnorm_backward(const BatchNormProblem& p, const float* x, const float* dy, const float* gamma,
                          const float* mean, const float* invstd, float* dx, float* dgamma, float* dbeta,
                          const float* relu_y) override {
    bot::batchnorm_backward(p, x, dy, gamma, mean, invstd, true, dx, dgamma, dbeta, relu_y);
  }
  void relu_forward(int64_t n, const float* x, float* y) override { bot::relu_forward(n, x, y); }
  void relu_backward(int64_t n, const float* y, const float* dy, float* dx) override {
    bot::relu_backward(n, y, dy, dx);
  }
  void add_forward(int64_t n, const float* a, const float* b, float* y, bool relu) override {
    if (relu) bot::add_relu_forward(n, a, b, y);
    else bot::add_forward(n, a, b, y);
  }
  void add_relu_backward(int64_t n, const float* y, float* dy, float* db, bool accumulate) override {
    bot::add_relu_backward(n, y, dy, db, accumulate);
  }
  void copy_into(int64_t n, const float* a, float* b) override { bot::copy_into(n, a, b); }
  void add_into(int64_t n, const float* a, float* b) override { bot::add_into(n, a, b); }
  void maxpool2d_forward(const Pool2dProblem& p, const float* x, float* y) override {
    bot::maxpool2d_forward(p, x, y);
  }
  void maxpool2d_backward(const Pool2dProblem& p, const float* x, const float* dy, float* dx) override {
    bot::maxpool2d_backward(p, x, dy, dx);
  }
  void avgpool2d_forward(const Pool2dProblem& p, const float* x, float* y) override {
    bot::avgpool2d_forward(p, x, y);
  }
  void avgpool2d_backward(const Pool2dProblem& p, const float* dy, float* dx) override {
    bot::avgpool2d_backward(p, dy, dx);
  }
  void global_avgpool_forward(int64_t n, int64_t hw, int64_t c, const float* x, float* y) override {
    bot::global_avgpool_forward(n, hw, c, x, y);
  }
  void global_avgpool_backward(int64_t n, int64_t hw, int64_t c, const float* dy, float* dx) override {
    bot::global_avgpool_backward(n, hw, c, dy, dx);
  }
  void linear_forward(const LinearProblem& p, const float* x, const float* w, const float* b, float* y) override {
    bot::linear_forward(p, x, w, b, y);
  }
  void linear_backward(const LinearProblem& p, const float* x, const float* w, const float* dy, float* dx,
                       float* dw, float* db) override {
    bot::linear_backward(p, x, w, dy, dx, dw, db);
  }

  void plan_update(const std::vector<UpdateTensor>& tensors, const std::vector<DeviceSpan>& checked) override {
    tensors_ = tensors;
    checked_ = checked;
  }

  bool all_finite() override {
    for (const DeviceSpan& s : checked_) {
      std::atomic<bool> ok{true};
      parallel_for(s.n, [&](int64_t b, int64_t e, int) {
        bool local = true;
        for (int64_t i = b; i < e; ++i) local &= std::isfinite(s.data[i]);
        if (!local) ok = false;
      }, 1 << 15);
      if (!ok) return false;
    }
    return true;
  }

  void update(const TrainStepArgs& a) override {
    for (const UpdateTensor& t : tensors_) {
      SgdParams s;
      s.lr = a.lr * t.lr_scale;
      s.momentum = a.momentum;
      s.weight_decay = t.decay ? a.weight_decay : 0.0f;
      s.nesterov = a.nesterov;
      s.grad_scale = 1.0f / a.loss_scale;
      sgd_step(s, t.n, t.w, t.grad, t.momentum);
      if (t.compute != nullptr) {
        copy(t.compute, t.w, t.n);
        f32_round_to_f16(t.n, t.compute);
      }
    }
  }

 private:
  static void copy(float* dst, const float* src, int64_t n) {
    if (n > 0 && dst != src) std::memcpy(dst, src, sizeof(float) * size_t(n));
  }

  std::vector<Tensor> buffers_;
  size_t bytes_ = 0;
  TrainStepResult loss_;
  std::vector<std::chrono::steady_clock::time_point> marks_;
  std::vector<float> staged_;  // augmented images awaiting the mixup blend
  std::vector<UpdateTensor> tensors_;
  std::vector<DeviceSpan> checked_;
};

}  // namespace

std::unique_ptr<NetDevice> make_cpu_net_device() { return std::make_unique<CpuNetDevice>(); }

}  // namespace bot
