// Comm over MPI (built where CMake found MPI). Every wait polls MPI_Test against a deadline
// instead of blocking in MPI, so a dead or hung rank ends in ERR_DIST_TIMEOUT rather than a
// hang, and an oversubscribed rank sleeps instead of spinning on a core its peer needs.
// MPI moves a non-blocking collective forward only inside MPI calls, so while any is in
// flight a progress thread tests them every 100 µs (BAGOFTRICKS_MPI_PROGRESS_US; 0: none):
// the gradient buckets then travel while the backward pass computes, not only when it next
// hands a gradient over. One MPI call runs at a time (a mutex: MPI_THREAD_SERIALIZED).
#include <dlfcn.h>
#include <algorithm>
#include <mpi.h>

#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bot/dist.h"
#include "bot/status.h"

namespace bot {
namespace dist {

namespace {

// Never destroyed: a group may be released during static destruction at exit, in any order.
std::mutex& g_init_mutex = *new std::mutex;
bool g_initialized = false;
bool g_finalized = false;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string mpi_error_string(int err) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(err, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(err);
  return std::string(text, size_t(len));
}

void check_mpi(int err, const char* what) {
  if (err != MPI_SUCCESS) fail(Code::kDistFailed, std::string(what) + " failed: " + mpi_error_string(err));
}

// The addon is loaded with RTLD_LOCAL, so libmpi's symbols are invisible to the plugins
// Open MPI loads during MPI_Init; promoting the already-loaded library to RTLD_GLOBAL fixes
// that (a no-op for MPI implementations without plugins).
void promote_mpi_symbols() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&MPI_Init_thread), &info) && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return MPI_SUM;
    case ReduceOp::kMin: return MPI_MIN;
    case ReduceOp::kMax: return MPI_MAX;
  }
  return MPI_SUM;
}

class MpiComm;
// Live groups (under g_init_mutex), whose progress threads stop before MPI_Finalize; never destroyed.
std::vector<MpiComm*>& g_comms = *new std::vector<MpiComm*>;

class MpiComm final : public Comm {
 public:
  explicit MpiComm(double timeout) : timeout_(timeout) {
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
    // BAGOFTRICKS_MPI_PROGRESS_US: the progress thread's polling interval (default 100; 0: no
    // thread, collectives then move only when the backward pass hands over a gradient).
    if (const char* v = std::getenv("BAGOFTRICKS_MPI_PROGRESS_US")) progress_us_ = std::max(0, std::atoi(v));
    if (progress_us_ > 0) progress_ = std::thread([this] { progress_loop(); });
  }
  // The communicator is left to MPI_Finalize: freeing it here could block on a dead peer.
  ~MpiComm() override { stop_progress(); }

  void stop_progress() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (progress_.joinable()) progress_.join();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  double timeout_seconds() const override { return timeout_; }
  void set_timeout_seconds(double s) override { timeout_ = s; }

  int start_sum(float* data, int64_t n) override {
    usable();
    BOT_CHECK(n >= 0 && n <= INT_MAX, Code::kArgument, "a bucket of " + std::to_string(n) + " floats is too large for one MPI call");
    int h = -1;
    {
      std::lock_guard<std::mutex> lock(mu_);
      MPI_Request req;
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, int(n), MPI_FLOAT, MPI_SUM, comm_, &req), "MPI_Iallreduce");
      for (size_t i = 0; i < slots_.size() && h < 0; ++i)
        if (!slots_[i].active) h = int(i);
      if (h < 0) {
        slots_.emplace_back();
        h = int(slots_.size() - 1);
      }
      slots_[size_t(h)] = {req, true, false};
      ++in_flight_;
    }
    wake_.notify_all();
    return h;
  }

  // True once h completed (seen here or by the progress thread); the handle is then free.
  bool test(int h) override {
    std::lock_guard<std::mutex> lock(mu_);
    BOT_CHECK(h >= 0 && size_t(h) < slots_.size() && slots_[size_t(h)].active, Code::kInternal,
              "unknown MPI request handle");
    Slot& s = slots_[size_t(h)];
    if (!s.done) test_locked(s);
    if (!s.done) return false;
    s.active = false;
    return true;
  }

  void wait(int h) override {
    bounded("allreduce of gradients", [&] { return test(h); });
  }

  void allreduce(double* data, int n, ReduceOp op) override {
    usable();
    MPI_Request req;
    {
      std::lock_guard<std::mutex> lock(mu_);
      check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, n, MPI_DOUBLE, mpi_op(op), comm_, &req), "MPI_Iallreduce");
    }
    wait_request(req, "allreduce");
  }

  void broadcast(void* data, int64_t bytes, int root) override {
    usable();
    char* p = static_cast<char*>(data);
    while (bytes > 0) {
      const int chunk = int(bytes < (int64_t(1) << 30) ? bytes : (int64_t(1) << 30));
      MPI_Request req;
      {
        std::lock_guard<std::mutex> lock(mu_);
        check_mpi(MPI_Ibcast(p, chunk, MPI_BYTE, root, comm_, &req), "MPI_Ibcast");
      }
      wait_request(req, "broadcast");
      p += chunk;
      bytes -= chunk;
    }
  }

  void barrier() override {
    usable();
    MPI_Request req;
    {
      std::lock_guard<std::mutex> lock(mu_);
      check_mpi(MPI_Ibarrier(comm_, &req), "MPI_Ibarrier");
    }
    wait_request(req, "barrier");
  }

  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; this only satisfies [[noreturn]]
  }

  std::string library() const override { return mpi_library_version(); }

 private:
  struct Slot {
    MPI_Request req = MPI_REQUEST_NULL;
    bool active = false;  // handed out and not yet seen complete by its owner
    bool done = false;    // completed (the request is then MPI_REQUEST_NULL)
  };

  void test_locked(Slot& s) {
    int done = 0;
    check_mpi(MPI_Test(&s.req, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) {
      s.done = true;
      --in_flight_;
    }
  }

  void progress_loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      if (in_flight_ == 0) {
        wake_.wait(lock, [this] { return stopping_ || in_flight_ > 0; });
        continue;
      }
      for (Slot& s : slots_) {
        if (!s.active || s.done) continue;
        // An MPI error here is seen again by the owner's own test, which reports it.
        int done = 0;
        if (MPI_Test(&s.req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) continue;
        if (done) {
          s.done = true;
          --in_flight_;
        }
      }
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::microseconds(progress_us_));
      lock.lock();
    }
  }

  void usable() const {
    BOT_CHECK(!broken_, Code::kDistTimeout,
              "the process group is unusable after an earlier timeout: end the job (a rank died or hangs)");
  }

  void wait_request(MPI_Request& req, const char* what) {
    bounded(what, [&] {
      std::lock_guard<std::mutex> lock(mu_);
      int done = 0;
      check_mpi(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "MPI_Test");
      return done != 0;
    });
  }

  // Polls until done() or the deadline: spins briefly (a collective between busy ranks
  // completes in microseconds), then sleeps between polls, longer as the wait grows.
  template <class Done>
  void bounded(const char* what, Done done) {
    if (done()) return;
    const double start = now_seconds();
    int polls = 0;
    for (;;) {
      if (done()) return;
      const double waited = now_seconds() - start;
      if (waited > timeout_) {
        broken_ = true;
        fail(Code::kDistTimeout, std::string(what) + ": no answer from every rank within " + std::to_string(timeout_) +
                                     " s (rank " + std::to_string(rank_) + " of " + std::to_string(size_) +
                                     " waited): a rank died, hangs or is at another step");
      }
      if (++polls > 200) std::this_thread::sleep_for(std::chrono::microseconds(waited < 0.01 ? 20 : 500));
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  double timeout_;
  bool broken_ = false;
  std::vector<Slot> slots_;
  int in_flight_ = 0;
  bool stopping_ = false;
  int progress_us_ = 100;
  std::mutex mu_;  // one MPI call at a time (MPI_THREAD_SERIALIZED)
  std::condition_variable wake_;
  std::thread progress_;
};

}  // namespace

bool mpi_built() { return true; }

std::string mpi_library_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  if (MPI_Get_library_version(text, &len) != MPI_SUCCESS) return "MPI";
  std::string s(text, size_t(len));
  const size_t nl = s.find_first_of("\r\n");
  if (nl != std::string::npos) s.resize(nl);
  while (!s.empty() && (s.back() == ' ' || s.back() == ',' || s.back() == '\0')) s.pop_back();
  return s;
}

std::shared_ptr<Comm> world(double timeout_seconds) {
  BOT_CHECK(timeout_seconds > 0, Code::kArgument, "the process group's timeout must be > 0 seconds");
  std::lock_guard<std::mutex> lock(g_init_mutex);
  BOT_CHECK(!g_finalized, Code::kDistFailed, "MPI was finalized in this process; it cannot start again");
  if (!g_initialized) {
    promote_mpi_symbols();
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    g_initialized = true;
    BOT_CHECK(provided >= MPI_THREAD_SERIALIZED, Code::kDistUnavailable,
              "this MPI library gives no thread support (MPI_THREAD_SERIALIZED needed: calls come from Node's worker threads)");
  }
  auto comm = std::shared_ptr<MpiComm>(new MpiComm(timeout_seconds), [](MpiComm* c) {
    {
      std::lock_guard<std::mutex> lock(g_init_mutex);
      g_comms.erase(std::remove(g_comms.begin(), g_comms.end(), c), g_comms.end());
    }
    delete c;
  });
  g_comms.push_back(comm.get());
  return comm;
}

bool initialized() {
  std::lock_guard<std::mutex> lock(g_init_mutex);
  return g_initialized && !g_finalized;
}

void finalize() {
  std::lock_guard<std::mutex> lock(g_init_mutex);
  if (!g_initialized || g_finalized) return;
  g_finalized = true;
  for (MpiComm* c : g_comms) c->stop_progress();
  MPI_Finalize();
}

}  // namespace dist
}  // namespace bot
