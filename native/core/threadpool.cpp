#include "bot/threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "bot/status.h"

namespace bot {

namespace {
thread_local bool t_in_region = false;

int default_threads() {
  if (const char* v = std::getenv("BAGOFTRICKS_THREADS")) {
    int n = std::atoi(v);
    if (n >= 1 && n <= 256) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(std::min(hw, 256u));
}

// How long a thread that ran out of work keeps polling for the next loop before it
// sleeps on a condition variable: the layers of one forward pass follow each other within
// microseconds, and waking a sleeping thread goes through the kernel's scheduler.
// BAGOFTRICKS_SPIN_US=0 sleeps at once.
int64_t spin_nanos() {
  static const int64_t nanos = [] {
    constexpr int64_t kDefaultMicros = 500;
    const char* v = std::getenv("BAGOFTRICKS_SPIN_US");
    if (v == nullptr || *v == '\0') return kDefaultMicros * 1000;
    const long long us = std::atoll(v);
    return us <= 0 ? int64_t(0) : int64_t(std::min<long long>(us, 1000000)) * 1000;
  }();
  return nanos;
}

void cpu_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// Polls `done` for up to spin_nanos(); true when it became true meanwhile.
template <typename Done>
bool spin_until(const Done& done) {
  const int64_t limit = spin_nanos();
  if (limit == 0) return done();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0;; ++i) {
    if (done()) return true;
    cpu_pause();
    if ((i & 63) == 63 && std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::steady_clock::now() - start).count() > limit) {
      return done();
    }
  }
}
}  // namespace

// The hand-over between the calling thread and the workers is lock-free while both sides
// are awake (atomics, polled); a side that has polled for spin_nanos() sleeps on a
// condition variable and counts itself in `sleepers` / `caller_sleeping` first, and the
// other side takes the mutex and notifies only then. Both sides use sequentially
// consistent operations on the flag and on the generation / pending count, so at least one
// of them sees the other's write and no wake-up is lost.
struct ThreadPool::Impl {
  std::mutex job_mutex;  // one parallel loop at a time
  std::mutex m;
  std::condition_variable cv_work, cv_done;
  std::vector<std::thread> workers;
  int size = 1;
  std::atomic<bool> stop{false};
  // The current job: `ticket` is its generation times 2^16 plus its chunk count, so that a
  // worker reads both at once (a worker with no chunk in a job must never read a later
  // job's count against the earlier generation). body and n are written before the ticket
  // and read after it, only by workers that have a chunk (the caller waits for those
  // before it writes the next job).
  static constexpr int kChunkBits = 16;
  std::atomic<uint64_t> ticket{0};
  const Body* body = nullptr;
  int64_t n = 0;
  std::atomic<int> pending{0};
  std::atomic<int> sleepers{0};
  std::atomic<bool> caller_sleeping{false};
  std::exception_ptr error;

  static int chunks_of(uint64_t t) { return int(t & ((uint64_t(1) << kChunkBits) - 1)); }

  void run_chunk(int i, int chunks) {
    const int64_t b = n * i / chunks, e = n * (i + 1) / chunks;
    try {
      if (b < e) (*body)(b, e, i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(m);
      if (!error) error = std::current_exception();
    }
  }

  // Waits until the ticket differs from `seen` or the pool stops: polls, then sleeps.
  void wait_for_work(uint64_t seen) {
    auto ready = [&] { return stop.load() || ticket.load() != seen; };
    if (spin_until(ready)) return;
    std::unique_lock<std::mutex> lock(m);
    sleepers.fetch_add(1);
    cv_work.wait(lock, ready);
    sleepers.fetch_sub(1);
  }

  // Worker `index` (1..size-1) runs chunk `index` of every job after generation `seen`
  // (the generation at its start, so a restarted pool never re-runs a finished job).
  void worker_loop(int index, uint64_t seen) {
    t_in_region = true;
    for (;;) {
      wait_for_work(seen);
      if (stop.load()) return;
      seen = ticket.load();
      const int chunks = chunks_of(seen);
      if (index >= chunks) continue;
      run_chunk(index, chunks);
      if (pending.fetch_sub(1) == 1 && caller_sleeping.load()) {
        std::lock_guard<std::mutex> lock(m);
        cv_done.notify_one();
      }
    }
  }

  // The calling thread's side: publish a job, wake sleeping workers.
  void publish(const Body* b, int64_t count, int nchunks) {
    body = b;
    n = count;
    error = nullptr;
    pending.store(nchunks - 1);
    const uint64_t generation = (ticket.load() >> kChunkBits) + 1;
    ticket.store((generation << kChunkBits) | uint64_t(nchunks));
    if (sleepers.load() > 0) {
      std::lock_guard<std::mutex> lock(m);
      cv_work.notify_all();
    }
  }

  // The calling thread's side: wait until every worker chunk has finished.
  void wait_done() {
    auto done = [&] { return pending.load() == 0; };
    if (spin_until(done)) return;
    std::unique_lock<std::mutex> lock(m);
    caller_sleeping.store(true);
    cv_done.wait(lock, done);
    caller_sleeping.store(false);
  }

  void start(int threads) {
    size = threads;
    const uint64_t seen = ticket.load();
    for (int i = 1; i < threads; ++i) workers.emplace_back([this, i, seen] { worker_loop(i, seen); });
  }

  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(m);
      stop.store(true);
    }
    cv_work.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
    stop.store(false);
  }
};

ThreadPool::ThreadPool() : impl_(new Impl) { impl_->start(default_threads()); }

ThreadPool::~ThreadPool() {
  impl_->shutdown();
  delete impl_;
}

namespace {

// The home thread: a queue of calls served by one thread that is never joined (like the
// pool's workers, it may still be running when the process exits).
class HomeThread {
 public:
  HomeThread() : thread_([this] { serve(); }) { thread_.detach(); }

  void run(const std::function<void()>& fn) {
    if (std::this_thread::get_id() == id_.load()) {
      fn();
      return;
    }
    Call call{&fn, nullptr, false};
    std::unique_lock<std::mutex> lock(mutex_);
    queue_.push_back(&call);
    wake_.notify_all();
    done_.wait(lock, [&] { return call.finished; });
    if (call.error) std::rethrow_exception(call.error);
  }

 private:
  struct Call {
    const std::function<void()>* fn;
    std::exception_ptr error;
    bool finished;
  };

  void serve() {
    id_.store(std::this_thread::get_id());
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return !queue_.empty(); });
      Call* call = queue_.front();
      queue_.pop_front();
      lock.unlock();
      try {
        (*call->fn)();
      } catch (...) {
        call->error = std::current_exception();
      }
      lock.lock();
      call->finished = true;
      done_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::deque<Call*> queue_;
  std::atomic<std::thread::id> id_{};
  std::thread thread_;
};

}  // namespace

void run_on_home_thread(const std::function<void()>& fn) {
  static HomeThread* home = new HomeThread();  // never destroyed, as the pool
  home->run(fn);
}

ThreadPool& ThreadPool::global() {
  // Never destroyed: worker threads must not be joined during static destruction, when
  // the process may be exiting from inside a parallel region.
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

int ThreadPool::size() const { return impl_->size; }

void ThreadPool::set_size(int threads) {
  BOT_CHECK(threads >= 1 && threads <= 256, Code::kArgument,
            "thread count must be in [1, 256], got " + std::to_string(threads));
  std::lock_guard<std::mutex> job(impl_->job_mutex);
  if (threads == impl_->size) return;
  impl_->shutdown();
  impl_->start(threads);
}

bool ThreadPool::in_parallel_region() { return t_in_region; }

void ThreadPool::parallel_for(int64_t n, const Body& body, int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  if (t_in_region) {  // nested: run inline on this worker
    body(0, n, 0);
    return;
  }
  std::lock_guard<std::mutex> job(impl_->job_mutex);
  int chunks = static_cast<int>(std::min<int64_t>(impl_->size, (n + grain - 1) / grain));
  if (chunks <= 1) {
    t_in_region = true;
    try {
      body(0, n, 0);
    } catch (...) {
      t_in_region = false;
      throw;
    }
    t_in_region = false;
    return;
  }
  impl_->publish(&body, n, chunks);
  t_in_region = true;
  impl_->run_chunk(0, chunks);
  t_in_region = false;
  impl_->wait_done();
  std::exception_ptr error;
  {
    std::lock_guard<std::mutex> lock(impl_->m);
    error = impl_->error;
    impl_->body = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace bot
