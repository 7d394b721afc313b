// GradientAverager: bucketed, overlapped averaging of gradients over a Comm (bot/dist.h).
#include <algorithm>
#include <chrono>
#include <cstring>

#include "bot/dist.h"
#include "bot/status.h"

namespace bot {
namespace dist {

namespace {
double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

GradientAverager::GradientAverager(std::shared_ptr<Comm> comm, int64_t bucket_bytes)
    : comm_(std::move(comm)), bucket_bytes_(bucket_bytes) {
  BOT_CHECK(comm_ != nullptr, Code::kArgument, "a gradient averager needs a process group");
  BOT_CHECK(bucket_bytes_ >= int64_t(sizeof(float)), Code::kArgument, "the bucket size must be at least 4 bytes");
}

GradientAverager::~GradientAverager() = default;

void GradientAverager::begin_step() {
  std::fill(grad_of_.begin(), grad_of_.end(), nullptr);
  for (Bucket& b : buckets_) {
    b.pending = int(b.params.size());
    b.launched = false;
    b.handle = -1;
  }
  next_launch_ = 0;
  if (!planned_) first_order_.clear();
}

void GradientAverager::ready(int param, float* grad, int64_t numel) {
  if (param < 0) return;
  if (size_t(param) >= grad_of_.size()) {
    grad_of_.resize(size_t(param) + 1, nullptr);
    numel_of_.resize(size_t(param) + 1, 0);
  }
  grad_of_[size_t(param)] = grad;
  numel_of_[size_t(param)] = numel;
  if (!planned_) {
    first_order_.push_back({param, grad, numel});
    return;
  }
  const int b = size_t(param) < bucket_of_.size() ? bucket_of_[size_t(param)] : -1;
  BOT_CHECK(b >= 0, Code::kInternal, "a gradient outside the bucket plan became ready");
  Bucket& bucket = buckets_[size_t(b)];
  const auto t0 = now_seconds();
  std::memcpy(bucket.data.data() + offset_of_[size_t(param)], grad, sizeof(float) * size_t(numel));
  stats_.pack_seconds += now_seconds() - t0;
  --bucket.pending;
  launch_ready_buckets();
  poll();
}

// Buckets start strictly in plan order (collectives must be issued in one order on every
// rank), each as soon as it and every bucket before it are complete.
void GradientAverager::launch_ready_buckets() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    Bucket& b = buckets_[next_launch_++];
    b.launched_at = now_seconds();
    b.handle = comm_->start_sum(b.data.data(), b.numel);
    b.launched = true;
  }
}

// Gives the transport a chance to progress (MPI moves non-blocking collectives forward
// only inside MPI calls) and notes when each bucket completes.
void GradientAverager::poll() {
  for (Bucket& b : buckets_) {
    if (!b.launched || b.handle < 0) continue;
    if (comm_->test(b.handle)) {
      stats_.comm_seconds += now_seconds() - b.launched_at;
      b.handle = -1;
    }
  }
}

void GradientAverager::plan_buckets() {
  buckets_.clear();
  size_t max_param = 0;
  for (const Entry& e : first_order_) max_param = std::max(max_param, size_t(e.param) + 1);
  bucket_of_.assign(max_param, -1);
  offset_of_.assign(max_param, 0);
  const int64_t cap = std::max<int64_t>(1, bucket_bytes_ / int64_t(sizeof(float)));
  for (const Entry& e : first_order_) {
    BOT_CHECK(bucket_of_[size_t(e.param)] < 0, Code::kInternal, "a gradient became ready twice in one step");
    if (buckets_.empty() || (buckets_.back().numel > 0 && buckets_.back().numel + e.numel > cap)) buckets_.emplace_back();
    Bucket& b = buckets_.back();
    bucket_of_[size_t(e.param)] = int(buckets_.size() - 1);
    offset_of_[size_t(e.param)] = b.numel;
    b.params.push_back(e.param);
    b.numel += e.numel;
  }
  for (Bucket& b : buckets_) b.data.assign(size_t(b.numel), 0.0f);
  planned_ = true;
}

void GradientAverager::unpack(Bucket& b) {
  const float scale = 1.0f / float(comm_->size());
  for (int p : b.params) {
    float* g = grad_of_[size_t(p)];
    const float* src = b.data.data() + offset_of_[size_t(p)];
    const int64_t n = numel_of_[size_t(p)];
    for (int64_t i = 0; i < n; ++i) g[i] = src[i] * scale;
  }
}

void GradientAverager::finish() {
  if (!planned_) {
    // The first step: plan from the order just seen, then pack and launch everything.
    plan_buckets();
    for (Bucket& b : buckets_) {
      b.pending = int(b.params.size());
      b.launched = false;
      b.handle = -1;
    }
    next_launch_ = 0;
    for (const Entry& e : first_order_) {
      Bucket& b = buckets_[size_t(bucket_of_[size_t(e.param)])];
      std::memcpy(b.data.data() + offset_of_[size_t(e.param)], e.grad, sizeof(float) * size_t(e.numel));
      --b.pending;
    }
    launch_ready_buckets();
  }
  for (const Bucket& b : buckets_)
    BOT_CHECK(b.pending == 0, Code::kInternal, "the backward pass did not finish every gradient of a bucket");
  launch_ready_buckets();
  const double t0 = now_seconds();
  for (Bucket& b : buckets_) {
    if (b.handle >= 0) {
      comm_->wait(b.handle);
      stats_.comm_seconds += now_seconds() - b.launched_at;
      b.handle = -1;
    }
  }
  const double t1 = now_seconds();
  stats_.exposed_seconds += t1 - t0;
  for (Bucket& b : buckets_) {
    unpack(b);
    stats_.bytes += b.numel * int64_t(sizeof(float));
  }
  stats_.pack_seconds += now_seconds() - t1;
  stats_.buckets += int64_t(buckets_.size());
  stats_.steps += 1;
}

std::vector<int64_t> GradientAverager::bucket_sizes() const {
  std::vector<int64_t> out;
  for (const Bucket& b : buckets_) out.push_back(b.numel);
  return out;
}

}  // namespace dist
}  // namespace bot
