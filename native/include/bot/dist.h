// Data-parallel training across processes: the transport (Comm) and the gradient
// averager the Net calls during its backward pass.
//
// Comm is a process group over MPI's world communicator (its own duplicate), built where
// the build found MPI (BOT_HAVE_MPI); elsewhere world() throws ERR_DIST_UNAVAILABLE naming
// what to install. Every wait is bounded: a collective that does not complete within the
// group's timeout (a rank died, hangs or took another path) throws ERR_DIST_TIMEOUT, after
// which the group is unusable and the process should abort() the job.
//
// GradientAverager sums the trained parameters' gradients over the ranks and divides by
// the number of ranks, in buckets of about bucket_bytes launched (non-blocking, in one fixed
// order on every rank) as soon as the backward pass has finished every gradient in them, so
// communication overlaps the rest of the backward pass. The buckets follow the order in
// which the first step's backward pass finished the gradients (the same on every rank: one
// graph, one schedule); that first step reduces everything after its backward pass.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace bot {
namespace dist {

// Whether the addon was built with MPI, and the library's own version string ("" if not).
bool mpi_built();
std::string mpi_library_version();

enum class ReduceOp { kSum, kMin, kMax };

class Comm {
 public:
  virtual ~Comm() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Seconds a wait may last before ERR_DIST_TIMEOUT.
  virtual double timeout_seconds() const = 0;
  virtual void set_timeout_seconds(double s) = 0;

  // Starts an in-place sum of n floats over the ranks; returns a handle for test/wait.
  virtual int start_sum(float* data, int64_t n) = 0;
  // Progresses the started operations; true when handle h has completed (then released).
  virtual bool test(int h) = 0;
  // Waits for h (bounded by the timeout).
  virtual void wait(int h) = 0;

  // Blocking, bounded: an element-wise reduction of n doubles in place on every rank.
  virtual void allreduce(double* data, int n, ReduceOp op) = 0;
  // Blocking, bounded: root's bytes to every rank.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  virtual void barrier() = 0;
  // Ends every process of the job with this exit code (MPI_Abort); does not return.
  [[noreturn]] virtual void abort(int code) = 0;
  // The transport's name and version ("Open MPI v4.1.4, ...").
  virtual std::string library() const = 0;
};

// The world group: initialises MPI on the first call (thread support at least
// MPI_THREAD_SERIALIZED: the calls come from one thread at a time, not always the same one).
// Throws ERR_DIST_UNAVAILABLE without MPI.
std::shared_ptr<Comm> world(double timeout_seconds);
// Whether world() has been called and MPI is running.
bool initialized();
// MPI_Finalize, once, if world() ran (at process exit; a no-op otherwise).
void finalize();

// What a step's gradient averaging cost, accumulated since the last reset.
struct AverageStats {
  int64_t steps = 0;
  int64_t buckets = 0;         // buckets reduced
  int64_t bytes = 0;           // gradient bytes reduced (per rank)
  double exposed_seconds = 0;  // waiting after the backward pass for buckets to finish
  double comm_seconds = 0;     // from each bucket's launch to its completion being seen
  double pack_seconds = 0;     // copying gradients into and out of the buckets
};

class GradientAverager {
 public:
  GradientAverager(std::shared_ptr<Comm> comm, int64_t bucket_bytes);
  ~GradientAverager();
  GradientAverager(const GradientAverager&) = delete;
  GradientAverager& operator=(const GradientAverager&) = delete;

  // The Net calls these around and during its backward pass (host gradient arrays).
  void begin_step();
  void ready(int param, float* grad, int64_t numel);
  // Every bucket launched and waited for; the gradients now hold the mean over the ranks.
  void finish();

  Comm& comm() { return *comm_; }
  const AverageStats& stats() const { return stats_; }
  void reset_stats() { stats_ = AverageStats(); }
  int64_t bucket_bytes() const { return bucket_bytes_; }
  // Buckets of the plan (0 before the first step): parameter counts per bucket.
  std::vector<int64_t> bucket_sizes() const;

 private:
  struct Entry {
    int param;
    float* grad;
    int64_t numel;
  };
  struct Bucket {
    std::vector<int> params;  // parameter indices, in ready order
    std::vector<float> data;
    int64_t numel = 0;
    int pending = 0;  // gradients not ready yet this step
    int handle = -1;
    bool launched = false;
    double launched_at = 0;
  };
  void plan_buckets();
  void launch_ready_buckets();
  void poll();
  void unpack(Bucket& b);

  std::shared_ptr<Comm> comm_;
  int64_t bucket_bytes_;
  bool planned_ = false;
  std::vector<Entry> first_order_;  // the first step's ready order (planning)
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_of_;    // per parameter index: bucket, or -1
  std::vector<float*> grad_of_;   // per parameter index, this step
  std::vector<int64_t> offset_of_;
  std::vector<int64_t> numel_of_;
  size_t next_launch_ = 0;
  AverageStats stats_;
};

}  // namespace dist
}  // namespace bot
