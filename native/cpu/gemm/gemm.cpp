// sgemm: entry point, validation, the reference, and the blocked driver.
//
// C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C, all row-major (bot/ops/gemm.h).
// The driver is the BLIS five-loop nest (Van Zee & van de Geijn, "BLIS: A Framework for
// Rapidly Instantiating BLAS Functionality", ACM TOMS 2015; Goto & van de Geijn, TOMS 2008):
//   for jc in N step kNC:             B block (kc, nc) packed once, shared by all threads
//     for pc in K step kKC:           beta applies on the first pc only, then C accumulates
//       threads split the (M, nc) block into a tm x tn grid of micro-panel ranges
//       pack op(B)(pc, jc) -> kNR-column micro-panels (pack.cpp; with several threads
//                             each panel is packed by the first thread that needs it)
//       for ic in the thread's rows step kMC:
//         pack alpha * op(A)(ic, pc) -> kMR-row micro-panels        (pack.cpp, per thread)
//         for jr in the thread's columns step kNR:  (B micro-panel stays in L1)
//           for ir in the rows step kMR:            (A micro-panels stream from L2)
//             micro-kernel 6 x 16                   (microkernel_avx512.cpp / _avx2.cpp / _portable.cpp)
// Edge tiles run the same micro-kernel into a local 6 x 16 tile and copy the valid part.
// sgemm_prepacked_b skips the packing of B: the caller packed all of op(B) once
// (sgemm_pack_b) for several products with the same B (a convolution's weights, one
// product per im2col tile).
// Packing buffers are thread_local and only grow, so a steady caller allocates nothing.
#include "bot/ops/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <thread>

#include "bot/status.h"
#include "bot/cpu_features.h"
#include "bot/threadpool.h"
#include "cpu/gemm/gemm_internal.h"

namespace bot {

void GemmProblem::validate() const {
  BOT_CHECK(m >= 0 && n >= 0 && k >= 0, Code::kShape, "gemm sizes must be >= 0");
  BOT_CHECK(lda >= (trans_a ? m : k) && lda >= 1, Code::kShape, "gemm lda too small");
  BOT_CHECK(ldb >= (trans_b ? k : n) && ldb >= 1, Code::kShape, "gemm ldb too small");
  BOT_CHECK(ldc >= n && ldc >= 1, Code::kShape, "gemm ldc too small");
}

GemmProblem gemm_problem(int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b,
                         float alpha, float beta) {
  GemmProblem p;
  p.m = m; p.n = n; p.k = k;
  p.trans_a = trans_a; p.trans_b = trans_b;
  p.lda = std::max<int64_t>(1, trans_a ? m : k);
  p.ldb = std::max<int64_t>(1, trans_b ? k : n);
  p.ldc = std::max<int64_t>(1, n);
  p.alpha = alpha; p.beta = beta;
  return p;
}

void sgemm_reference(const GemmProblem& p, const float* a, const float* b, float* c) {
  p.validate();
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.n; ++j) {
      double acc = 0.0;
      for (int64_t l = 0; l < p.k; ++l) {
        float av = p.trans_a ? a[l * p.lda + i] : a[i * p.lda + l];
        float bv = p.trans_b ? b[j * p.ldb + l] : b[l * p.ldb + j];
        acc += double(av) * double(bv);
      }
      float& out = c[i * p.ldc + j];
      out = p.beta == 0.0f ? float(p.alpha * acc) : float(p.alpha * acc + p.beta * out);
    }
  }
}

namespace {

using gemm::kKC;
using gemm::kMC;
using gemm::kMR;
using gemm::kNC;
using gemm::kNR;
using gemm::MicroKernel;

constexpr double kMinParallelFlops = 1.6e7;  // ~200^3 (~150 us on one core): measured, smaller gains nothing from 2 threads
constexpr double kPackCostPerElement = 16.0; // packing one float costs about 16 FMA lanes (1/cycle vs 16/cycle)
constexpr size_t kBufferAlign = 64;          // cache-line aligned panels (the AVX2 kernel needs 32)

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// A float buffer that only grows; one per thread and role, so steady use allocates nothing.
class PackBuffer {
 public:
  ~PackBuffer() { release(); }
  float* get(int64_t floats) {
    if (floats > capacity_) {
      release();
      void* p = ::operator new(size_t(floats) * sizeof(float), std::align_val_t(kBufferAlign),
                               std::nothrow);
      BOT_CHECK(p != nullptr, Code::kOutOfMemory, "gemm: cannot allocate packing buffer");
      data_ = static_cast<float*>(p);
      capacity_ = floats;
    }
    return data_;
  }

 private:
  void release() {
    if (data_ != nullptr) ::operator delete(data_, std::align_val_t(kBufferAlign));
    data_ = nullptr;
    capacity_ = 0;
  }
  float* data_ = nullptr;
  int64_t capacity_ = 0;
};

thread_local PackBuffer t_packed_a;  // (kMC, kKC) block of A, per thread
thread_local PackBuffer t_packed_b;  // (kKC, kNC) block of B, owned by the calling thread

// Per-panel "packed" tags for the shared B block, owned by the calling thread like
// t_packed_b. A tag holds 2*epoch while a thread packs the panel and 2*epoch + 1 once it is
// ready; the epoch grows with every (jc, pc) block, so tags never need resetting.
class PanelTags {
 public:
  std::atomic<uint64_t>* get(int64_t panels) {
    if (panels > capacity_) {
      tags_.reset(new std::atomic<uint64_t>[size_t(panels)]);
      for (int64_t j = 0; j < panels; ++j) tags_[j].store(0, std::memory_order_relaxed);
      capacity_ = panels;
    }
    return tags_.get();
  }

 private:
  std::unique_ptr<std::atomic<uint64_t>[]> tags_;
  int64_t capacity_ = 0;
};

thread_local PanelTags t_panel_tags;
thread_local uint64_t t_panel_epoch = 0;

// Waiting for another thread to finish packing one panel (a few microseconds): spin
// politely, and yield the core now and then in case that thread is descheduled.
void cpu_relax(int spins) {
  constexpr int kSpinsBeforeYield = 64;  // ~64 pauses (a few us) before giving up the core
  if (spins % kSpinsBeforeYield == kSpinsBeforeYield - 1) {
    std::this_thread::yield();
    return;
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

MicroKernel select_kernel() {
#if defined(BOT_HAVE_X86)
  static const MicroKernel kernel = use_avx512()     ? gemm::microkernel_avx512
                                    : use_avx2_fma() ? gemm::microkernel_avx2
                                                     : gemm::microkernel_portable;
  return kernel;
#else
  return gemm::microkernel_portable;
#endif
}

// C rows [0, m) = beta * C (beta == 0 writes zeros without reading).
void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  if (beta == 1.0f) return;
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc;
    if (beta == 0.0f) {
      std::fill(row, row + n, 0.0f);
    } else {
      for (int64_t j = 0; j < n; ++j) row[j] *= beta;
    }
  }
}

// C rows [i0, mc) x columns [j0, j1) of the block below, one (kMR, kNR) tile at a time
// (edge tiles through a scratch tile).
void micro_tiles(int64_t i0, int64_t mc, int64_t j0, int64_t j1, int64_t kc, const float* pa, const float* pb,
                 float* c, int64_t ldc, float beta, MicroKernel kernel) {
  alignas(kBufferAlign) float tile[kMR * kNR];
  for (int64_t j = j0; j < j1; j += kNR) {
    const int64_t nr = std::min<int64_t>(kNR, j1 - j);
    const float* bp = pb + j * kc;
    for (int64_t i = i0; i < mc; i += kMR) {
      const int64_t mr = std::min<int64_t>(kMR, mc - i);
      const float* ap = pa + i * kc;
      float* cij = c + i * ldc + j;
      if (mr == kMR && nr == kNR) {
        kernel(kc, ap, bp, cij, ldc, beta);
        continue;
      }
      kernel(kc, ap, bp, tile, kNR, 0.0f);
      for (int64_t ii = 0; ii < mr; ++ii) {
        float* row = cij + ii * ldc;
        const float* t = tile + ii * kNR;
        if (beta == 0.0f) {
          for (int64_t jj = 0; jj < nr; ++jj) row[jj] = t[jj];
        } else if (beta == 1.0f) {
          for (int64_t jj = 0; jj < nr; ++jj) row[jj] += t[jj];
        } else {
          for (int64_t jj = 0; jj < nr; ++jj) row[jj] = beta * row[jj] + t[jj];
        }
      }
    }
  }
}

// C (mc, nc) = packed A (mc, kc) * packed B (kc, nc) (+ beta C). With the AVX-512 kernel,
// whole (2 kMR, 2 kNR) blocks go through its wide twin first (two panels of each operand
// at once: far fewer loads per FMA); the rest, tile by tile.
void macro_kernel(int64_t mc, int64_t nc, int64_t kc, const float* pa, const float* pb,
                  float* c, int64_t ldc, float beta, MicroKernel kernel) {
  int64_t j = 0;
#if defined(BOT_HAVE_X86)
  if (kernel == gemm::microkernel_avx512) {
    for (; j + 2 * kNR <= nc; j += 2 * kNR) {
      const float* bp = pb + j * kc;
      int64_t i = 0;
      for (; i + 2 * kMR <= mc; i += 2 * kMR) {
        const float* ap = pa + i * kc;
        gemm::microkernel_avx512_wide(kc, ap, ap + kMR * kc, bp, bp + kNR * kc, c + i * ldc + j, ldc, beta);
      }
      if (i < mc) micro_tiles(i, mc, j, j + 2 * kNR, kc, pa, pb, c, ldc, beta, kernel);
    }
  }
#endif
  if (j < nc) micro_tiles(0, mc, j, nc, kc, pa, pb, c, ldc, beta, kernel);
}

// How `threads` threads share an (m, nc) block: tm ranges of kMR-row panels times tn
// ranges of kNR-column panels. Minimises the largest thread's work (its tile's MACs plus
// the A rows it packs; B is packed once and shared); ties go to more row ranges.
struct ThreadGrid {
  int tm = 1, tn = 1;
};

ThreadGrid choose_grid(int64_t m, int64_t nc, int threads) {
  const int64_t mp = ceil_div(m, kMR), np = ceil_div(nc, kNR);
  ThreadGrid best;
  double best_cost = -1.0;
  for (int tm = threads; tm >= 1; --tm) {
    if (threads % tm != 0) continue;
    const int tn = threads / tm;
    if (tm > mp || tn > np) continue;
    const double rows = double(ceil_div(mp, tm) * kMR);
    const double cols = double(ceil_div(np, tn) * kNR);
    const double cost = rows * cols + rows * kPackCostPerElement;
    if (best_cost < 0.0 || cost < best_cost) {
      best_cost = cost;
      best.tm = tm;
      best.tn = tn;
    }
  }
  return best;
}

void sgemm_driver(const GemmProblem& p, const float* a, const float* b, const float* packed_b,
                  float* c, GemmThreads threads, const GemmBlockDone* done);

}  // namespace

int64_t sgemm_packed_b_numel(int64_t k, int64_t n) { return ceil_div(n, kNR) * kNR * k; }

void sgemm_pack_b(int64_t k, int64_t n, const float* b, int64_t ldb, bool trans_b,
                  float* packed) {
  BOT_CHECK(k >= 0 && n >= 0 && ldb >= std::max<int64_t>(1, trans_b ? k : n), Code::kShape,
            "gemm: bad sizes for packing B");
  // Block (jc, pc) of the driver sits at jc * k + ceil(nc / kNR) * kNR * pc: the blocks
  // before column jc are full kNC-wide ones, k rows each. Blocks are packed in parallel.
  const int64_t kb = ceil_div(k, kKC), blocks = ceil_div(n, kNC) * kb;
  ThreadPool::global().parallel_for(blocks, [&](int64_t b0, int64_t b1, int) {
    for (int64_t i = b0; i < b1; ++i) {
      const int64_t jc = i / kb * kNC, pc = i % kb * kKC;
      const int64_t nc = std::min(kNC, n - jc), kc = std::min(kKC, k - pc);
      const int64_t width = ceil_div(nc, kNR) * kNR;
      const float* src = trans_b ? b + jc * ldb + pc : b + pc * ldb + jc;
      gemm::pack_b(kc, nc, src, ldb, trans_b, packed + jc * k + width * pc);
    }
  });
}

void sgemm(const GemmProblem& p, const float* a, const float* b, float* c, GemmThreads threads) {
  sgemm_driver(p, a, b, nullptr, c, threads, nullptr);
}

void sgemm_prepacked_b(const GemmProblem& p, const float* a, const float* packed_b, float* c,
                       GemmThreads threads) {
  sgemm_prepacked_b(p, a, packed_b, c, threads, GemmBlockDone());
}

void sgemm_prepacked_b(const GemmProblem& p, const float* a, const float* packed_b, float* c,
                       GemmThreads threads, const GemmBlockDone& done) {
  BOT_CHECK(reinterpret_cast<uintptr_t>(packed_b) % 32 == 0, Code::kArgument,
            "gemm: a packed B must be 32-byte aligned (the micro-kernel's aligned loads)");
  sgemm_driver(p, a, nullptr, packed_b, c, threads, done ? &done : nullptr);
}

namespace {

// The driver behind both entry points: op(B) read from b and packed block by block, or
// (b == nullptr) read from packed_b, laid out by sgemm_pack_b.
void sgemm_driver(const GemmProblem& p, const float* a, const float* b, const float* packed_b,
                  float* c, GemmThreads threads, const GemmBlockDone* done) {
  p.validate();
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0 || p.alpha == 0.0f) {  // BLAS semantics: no product term at all
    scale_c(p.m, p.n, p.beta, c, p.ldc);
    if (done != nullptr) (*done)(0, p.m, 0, p.n);
    return;
  }
  const MicroKernel kernel = select_kernel();
  ThreadPool& pool = ThreadPool::global();
  int nthreads = threads == GemmThreads::kPool ? pool.size() : 1;
  if (ThreadPool::in_parallel_region() || p.flops() < kMinParallelFlops) nthreads = 1;

  for (int64_t jc = 0; jc < p.n; jc += kNC) {
    const int64_t nc = std::min(kNC, p.n - jc);
    const int64_t np = ceil_div(nc, kNR);
    int grid_threads = int(std::min<int64_t>(nthreads, ceil_div(p.m, kMR) * np));
    // Find a grid that uses as many threads as possible (prime counts may not factor).
    ThreadGrid grid = choose_grid(p.m, nc, grid_threads);
    while (grid.tm * grid.tn != grid_threads) grid = choose_grid(p.m, nc, --grid_threads);
    const int64_t mp = ceil_div(p.m, kMR);
    const bool prepacked = b == nullptr;

    // Rows and columns (of this jc block) of C cell t of the grid.
    struct Bounds {
      int64_t row0, row1, col0, col1;
      bool empty() const { return row0 >= row1 || col0 >= col1; }
    };
    auto bounds = [&](int64_t t) {
      const int64_t gi = t / grid.tn, gj = t % grid.tn;
      return Bounds{std::min(p.m, mp * gi / grid.tm * kMR), std::min(p.m, mp * (gi + 1) / grid.tm * kMR),
                    std::min(nc, np * gj / grid.tn * kNR), std::min(nc, np * (gj + 1) / grid.tn * kNR)};
    };
    // C cell t, k block [pc, pc + kc) of the packed B at pb.
    auto cell = [&](int64_t t, int64_t pc, int64_t kc, const float* pb, float beta) {
      const Bounds bd = bounds(t);
      if (bd.empty()) return false;
      const int64_t row0 = bd.row0, row1 = bd.row1, col0 = bd.col0, col1 = bd.col1;
      float* pa = t_packed_a.get(ceil_div(std::min(kMC, row1 - row0), kMR) * kMR * kc);
      for (int64_t ic = row0; ic < row1; ic += kMC) {
        const int64_t mc = std::min(kMC, row1 - ic);
        const float* asrc = p.trans_a ? a + pc * p.lda + ic : a + ic * p.lda + pc;
        gemm::pack_a(mc, kc, asrc, p.lda, p.trans_a, p.alpha, pa);
        macro_kernel(mc, col1 - col0, kc, pa, pb + col0 * kc, c + ic * p.ldc + jc + col0, p.ldc, beta, kernel);
      }
      return true;
    };
    // A packed B needs no hand-over between k blocks: one fork for all of them, each thread
    // walking its cell through the k blocks in order (the same sums as below).
    if (prepacked && grid_threads > 1) {
      pool.parallel_for(grid_threads, [&](int64_t t0, int64_t t1, int) {
        for (int64_t t = t0; t < t1; ++t) {
          for (int64_t pc = 0; pc < p.k; pc += kKC) {
            const int64_t kc = std::min(kKC, p.k - pc);
            if (!cell(t, pc, kc, packed_b + jc * p.k + np * kNR * pc, pc == 0 ? p.beta : 1.0f)) break;
          }
          const Bounds bd = bounds(t);
          if (done != nullptr && !bd.empty()) (*done)(bd.row0, bd.row1, jc + bd.col0, jc + bd.col1);
        }
      });
      continue;
    }

    for (int64_t pc = 0; pc < p.k; pc += kKC) {
      const int64_t kc = std::min(kKC, p.k - pc);
      const float beta = pc == 0 ? p.beta : 1.0f;
      float* pb = prepacked ? const_cast<float*>(packed_b + jc * p.k + np * kNR * pc)
                            : t_packed_b.get(np * kNR * kc);
      const float* bsrc = prepacked ? nullptr : p.trans_b ? b + jc * p.ldb + pc : b + pc * p.ldb + jc;

      auto pack_b_range = [&](int64_t j0, int64_t j1) {  // B micro-panels [j0, j1)
        const int64_t col0 = j0 * kNR, cols = std::min(j1 * kNR, nc) - col0;
        const float* src = p.trans_b ? bsrc + col0 * p.ldb : bsrc + col0;
        gemm::pack_b(kc, cols, src, p.ldb, p.trans_b, pb + col0 * kc);
      };
      // With several threads, B panels are packed on demand by whichever thread needs
      // them first (threads sharing columns split the packing) and published with a
      // per-panel tag, so one fork/join per (jc, pc) is enough.
      const uint64_t claimed = 2 * ++t_panel_epoch, ready = claimed + 1;
      std::atomic<uint64_t>* tags = grid_threads > 1 && !prepacked ? t_panel_tags.get(np) : nullptr;
      auto ensure_b = [&](int64_t j0, int64_t j1) {
        for (int64_t j = j0; j < j1; ++j) {
          uint64_t seen = tags[j].load(std::memory_order_acquire);
          if (seen < claimed && tags[j].compare_exchange_strong(seen, claimed)) {
            pack_b_range(j, j + 1);
            tags[j].store(ready, std::memory_order_release);
          }
        }
        for (int64_t j = j0; j < j1; ++j) {
          for (int spins = 0; tags[j].load(std::memory_order_acquire) != ready; ++spins) {
            cpu_relax(spins);
          }
        }
      };
      auto compute = [&](int64_t t0, int64_t t1, int) {  // grid cells [t0, t1)
        for (int64_t t = t0; t < t1; ++t) {
          if (tags != nullptr) {
            const Bounds bd = bounds(t);
            if (bd.col0 < bd.col1) ensure_b(bd.col0 / kNR, ceil_div(bd.col1, kNR));
          }
          cell(t, pc, kc, pb, beta);
        }
      };

      if (grid_threads > 1) {
        pool.parallel_for(grid_threads, compute);
      } else {
        if (!prepacked) pack_b_range(0, np);
        compute(0, 1, 0);
      }
    }
    if (done != nullptr) (*done)(0, p.m, jc, jc + nc);  // this column block is final
  }
}

}  // namespace

}  // namespace bot
