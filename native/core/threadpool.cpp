#include "bot/threadpool.h"

#include <algorithm>
#include <condition_variable>
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
}  // namespace

struct ThreadPool::Impl {
  std::mutex job_mutex;  // one parallel loop at a time
  std::mutex m;
  std::condition_variable cv_work, cv_done;
  std::vector<std::thread> workers;
  int size = 1;
  bool stop = false;
  // The current job.
  uint64_t generation = 0;
  const Body* body = nullptr;
  int64_t n = 0;
  int chunks = 0;
  int pending = 0;
  std::exception_ptr error;

  void chunk_range(int i, int64_t* begin, int64_t* end) const {
    *begin = n * i / chunks;
    *end = n * (i + 1) / chunks;
  }

  void run_chunk(int i) {
    int64_t b, e;
    chunk_range(i, &b, &e);
    try {
      if (b < e) (*body)(b, e, i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(m);
      if (!error) error = std::current_exception();
    }
  }

  // Worker `index` (1..size-1) runs chunk `index` of every job after generation `seen`
  // (the generation at its start, so a restarted pool never re-runs a finished job).
  void worker_loop(int index, uint64_t seen) {
    t_in_region = true;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(m);
        cv_work.wait(lock, [&] { return stop || generation != seen; });
        if (stop) return;
        seen = generation;
        if (index >= chunks) continue;
      }
      run_chunk(index);
      std::lock_guard<std::mutex> lock(m);
      if (--pending == 0) cv_done.notify_one();
    }
  }

  void start(int threads) {
    size = threads;
    const uint64_t seen = generation;
    for (int i = 1; i < threads; ++i) workers.emplace_back([this, i, seen] { worker_loop(i, seen); });
  }

  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(m);
      stop = true;
    }
    cv_work.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
    stop = false;
  }
};

ThreadPool::ThreadPool() : impl_(new Impl) { impl_->start(default_threads()); }

ThreadPool::~ThreadPool() {
  impl_->shutdown();
  delete impl_;
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
  {
    std::lock_guard<std::mutex> lock(impl_->m);
    impl_->body = &body;
    impl_->n = n;
    impl_->chunks = chunks;
    impl_->pending = chunks - 1;
    impl_->error = nullptr;
    ++impl_->generation;
  }
  impl_->cv_work.notify_all();
  t_in_region = true;
  impl_->run_chunk(0);
  t_in_region = false;
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(impl_->m);
    impl_->cv_done.wait(lock, [&] { return impl_->pending == 0; });
    error = impl_->error;
    impl_->body = nullptr;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace bot
