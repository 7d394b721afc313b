// The core's own thread pool: persistent workers, one parallel loop at a time.
//
// parallel_for splits [0, n) into at most size() contiguous chunks; the calling thread
// runs the first chunk itself. A parallel_for issued from inside a worker (nested) runs
// inline on that worker, so kernels can call each other without oversubscription. Two
// threads issuing parallel_for at the same time are serialised.
#pragma once
#include <cstdint>
#include <functional>

namespace bot {

class ThreadPool {
 public:
  // Body of a parallel loop: processes [begin, end) as worker `thread` (0..size()-1).
  using Body = std::function<void(int64_t begin, int64_t end, int thread)>;

  static ThreadPool& global();

  int size() const;                // threads that take part in a loop, caller included
  void set_size(int threads);      // 1..256; takes effect for the next loop
  // Runs body over [0, n) in chunks no smaller than `grain` elements.
  void parallel_for(int64_t n, const Body& body, int64_t grain = 1);
  // True on a pool worker or inside a parallel_for body.
  static bool in_parallel_region();

  ~ThreadPool();

 private:
  ThreadPool();
  struct Impl;
  Impl* impl_;
};

// Runs fn on the core's home thread, one long-lived thread that is the same on every call,
// and returns when it is done (an exception fn throws is rethrown here). Calls from several
// threads run one after another. For work that callers issue from a rotating set of
// threads (Node's libuv pool): on one thread, the thread-local scratch of the kernels
// (packed operands, im2col tiles, Winograd blocks) is allocated and warmed once, and stays
// in that core's caches, where each libuv thread would otherwise hold and first-touch a
// copy of its own. A call from the home thread itself runs fn inline.
void run_on_home_thread(const std::function<void()>& fn);

// Shorthand for ThreadPool::global().parallel_for.
inline void parallel_for(int64_t n, const ThreadPool::Body& body, int64_t grain = 1) {
  ThreadPool::global().parallel_for(n, body, grain);
}

}  // namespace bot
