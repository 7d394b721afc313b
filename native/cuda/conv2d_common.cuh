// Shared pieces of the CUDA convolution kernels (conv2d_*.cu): the checked problem
// dimensions, the device capabilities, the tile geometry, the PTX wrappers (cp.async,
// ldmatrix, mma.sync) and the two GEMM main loops every convolution is built on.
//
// Errors: bot/cuda/runtime.cuh (BOT_CUDA_CHECK, BOT_CUDA_CHECK_LAUNCH after every launch).
//
// Every convolution here is an implicit GEMM, C (M x N) = A (M x Kd) * B (Kd x N), whose
// operands are gathered from the NHWC/KRSC tensors tile by tile and never materialised.
// Each op file supplies two tile loaders (one per operand) and an epilogue; this header
// runs the pipeline. A loader writes one CTA tile of its operand into shared memory in
// one of two layouts:
//   K-major  [rows][Kd slice]: the reduction index is contiguous (rows = M or N index);
//   MN-major [Kd slice][cols]: the M or N index is contiguous.
// The layout follows the tensor: the contiguous memory dimension of the source (a channel
// dimension) becomes the contiguous shared-memory dimension, so every global load is a
// 16-byte run of 8 halves. ldmatrix (K-major) or ldmatrix.trans (MN-major) turns either
// layout into the mma.sync fragments.
//
// References: PTX ISA, "Matrix fragments for mma.m16n8k16" and "ldmatrix"; CUTLASS
// example 16 (Ampere tensor-op implicit-GEMM fprop) for the overall organisation.
#pragma once
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <mutex>
#include <string>

#include "bot/cuda/conv2d.cuh"
#include "bot/status.h"
#include "bot/cuda/runtime.cuh"

namespace bot::cuda::conv {

// ---------------------------------------------------------------------------------------
// Problem dimensions, checked once on the host

// The GEMM extents (M, N, Kd) and every tensor dimension fit in int32 (checked by
// make_dims with headroom for a tile step); element offsets into a tensor are int64.
struct Dims {
  int n, h, w, c;      // input (n, h, w, c)
  int k, r, s;         // filter (k, r, s, c)
  int sh, sw, ph, pw;  // strides, paddings
  int oh, ow;          // output (n, oh, ow, k)
};

constexpr int64_t kMaxExtent = INT_MAX - 4096;  // headroom: indices step by a tile past the end

inline Dims make_dims(const ConvShape& sh, const char* op) {
  auto bad = [&](const std::string& what) {
    fail(Code::kShape, std::string(op) + ": " + what);
  };
  const int64_t v[] = {sh.n, sh.h, sh.w, sh.c, sh.k, sh.r, sh.s, sh.stride_h, sh.stride_w};
  for (int64_t x : v)
    if (x < 1 || x > kMaxExtent) bad("every size and stride must be in [1, 2^31)");
  if (sh.pad_h < 0 || sh.pad_w < 0 || sh.pad_h > kMaxExtent || sh.pad_w > kMaxExtent)
    bad("padding must be in [0, 2^31)");
  if (sh.h + 2 * sh.pad_h > kMaxExtent || sh.w + 2 * sh.pad_w > kMaxExtent)
    bad("the padded input must be smaller than 2^31 in each dimension");
  if (sh.h + 2 * sh.pad_h < sh.r || sh.w + 2 * sh.pad_w < sh.s)
    bad("the kernel (" + std::to_string(sh.r) + "x" + std::to_string(sh.s) +
        ") is larger than the padded input (" + std::to_string(sh.h + 2 * sh.pad_h) + "x" +
        std::to_string(sh.w + 2 * sh.pad_w) + ")");
  const int64_t oh = sh.out_h(), ow = sh.out_w();
  // a * b * c <= kMaxExtent for factors in [1, 2^31), without overflowing int64.
  auto fits = [](int64_t a, int64_t b, int64_t c) { return a * b <= kMaxExtent / c; };
  // The GEMM extents of the three ops: N*OH*OW, N*H*W, R*S*C, R*S*K.
  if (!fits(sh.n, oh, ow) || !fits(sh.n, sh.h, sh.w) || !fits(sh.r, sh.s, sh.c) ||
      !fits(sh.r, sh.s, sh.k))
    bad("a GEMM extent (N*OH*OW, N*H*W, R*S*C or R*S*K) exceeds 2^31");
  Dims d;
  d.n = int(sh.n), d.h = int(sh.h), d.w = int(sh.w), d.c = int(sh.c);
  d.k = int(sh.k), d.r = int(sh.r), d.s = int(sh.s);
  d.sh = int(sh.stride_h), d.sw = int(sh.stride_w), d.ph = int(sh.pad_h), d.pw = int(sh.pad_w);
  d.oh = int(oh), d.ow = int(ow);
  return d;
}

inline void require_pointers(const char* op, const void* a, const void* b, const void* c) {
  if (a == nullptr || b == nullptr || c == nullptr)
    fail(Code::kArgument, std::string(op) + ": a device pointer is null");
}

inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }
inline bool aligned4(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 3) == 0; }

// ---------------------------------------------------------------------------------------
// Device capabilities, queried once per device

struct DeviceCaps {
  int device = 0;
  int major = 0, minor = 0;  // compute capability
  int sms = 1;               // multiprocessors
};

inline DeviceCaps device_caps() {
  constexpr int kMaxDevices = 64;  // cache slots; a larger index is queried every time
  static std::mutex mu;
  static DeviceCaps cache[kMaxDevices];
  static bool filled[kMaxDevices] = {};
  int dev = 0;
  BOT_CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard<std::mutex> lock(mu);
  if (dev >= 0 && dev < kMaxDevices && filled[dev]) return cache[dev];
  DeviceCaps caps;
  caps.device = dev;
  BOT_CUDA_CHECK(cudaDeviceGetAttribute(&caps.major, cudaDevAttrComputeCapabilityMajor, dev));
  BOT_CUDA_CHECK(cudaDeviceGetAttribute(&caps.minor, cudaDevAttrComputeCapabilityMinor, dev));
  BOT_CUDA_CHECK(cudaDeviceGetAttribute(&caps.sms, cudaDevAttrMultiProcessorCount, dev));
  if (dev >= 0 && dev < kMaxDevices) {
    cache[dev] = caps;
    filled[dev] = true;
  }
  return caps;
}

// The tensor-core kernels use mma.sync m16n8k16, ldmatrix and cp.async: sm_80 and newer.
inline DeviceCaps require_tensor_cores(const char* op) {
  DeviceCaps caps = device_caps();
  if (caps.major < 8)
    fail(Code::kCudaUnavailable, std::string(op) + ": FP16 convolutions need compute capability "
                                     "8.0 or newer, device has " +
                                     std::to_string(caps.major) + "." + std::to_string(caps.minor));
  return caps;
}

// Raises a kernel's dynamic shared-memory limit above the default 48 KB, once per device.
template <auto Kernel>
void allow_dynamic_smem(int device, int bytes) {
  static std::mutex mu;
  static uint64_t done = 0;  // bit d: set on device d (devices >= 64 set it every time)
  std::lock_guard<std::mutex> lock(mu);
  const uint64_t bit = device < 64 ? (uint64_t(1) << device) : 0;
  if (bit != 0 && (done & bit)) return;
  BOT_CUDA_CHECK(cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
  done |= bit;
}

__host__ __device__ constexpr int64_t div_up(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---------------------------------------------------------------------------------------
// Tile geometry: one CTA computes a 128 x 128 tile of C with 8 warps

constexpr int kThreads = 256;  // 8 warps: 2 along M x 4 along N
constexpr int kTileM = 128;    // CTA tile rows (M): 2 warps x 64
constexpr int kTileN = 128;    // CTA tile columns (N): 4 warps x 32
constexpr int kTileK = 32;     // reduction slice per pipeline stage: two k16 mma steps
constexpr int kStages = 3;     // cp.async ring: two slices in flight while one is consumed
constexpr int kWarpM = 64;     // warp tile rows: 4 m16 fragments
constexpr int kWarpN = 32;     // warp tile columns: 4 n8 fragments
constexpr int kChunk = 8;      // elements per loader chunk: 8 halves = one 16-byte cp.async
// cp.async kernels: 2 CTAs/SM = 2 x 256 threads x 128 registers (the 64K register file) and
// 2 x <= 60 KB of shared memory (sm_80, sm_90); the generic path is left uncapped (capped at
// 128 registers it spills in its element loops).
constexpr int kMinCtas16 = 2;

static_assert(kThreads == (kTileM / kWarpM) * (kTileN / kWarpN) * 32, "one warp per warp tile");
static_assert(kTileM == kTileN, "the loaders' chunk maps serve both operands");
static_assert(kTileK % 16 == 0, "mma.m16n8k16 consumes the slice 16 at a time");

// Which chunks (8 consecutive elements along the contiguous dimension) a thread loads.
// K-major tile, 128 rows x 32: 4 chunks per row; thread t takes rows t/4 and t/4 + 64 at
// column (t%4)*8, so its column -- the reduction position -- is shared by both rows.
struct KMajorMap {
  static constexpr int kPerThread = 2;
  __device__ static int row(int tid, int i) { return tid / 4 + 64 * i; }
  __device__ static int col(int tid) { return (tid % 4) * kChunk; }
};
// MN-major tile, 32 rows (reduction) x 128: 16 chunks per row; thread t takes rows t/16
// and t/16 + 16 at column (t%16)*8, so its column -- an M or N position -- is fixed.
struct MNMajorMap {
  static constexpr int kPerThread = 2;
  __device__ static int row(int tid, int i) { return tid / 16 + 16 * i; }
  __device__ static int col(int tid) { return (tid % 16) * kChunk; }
};
static_assert(kTileM * kTileK == KMajorMap::kPerThread * kThreads * kChunk,
              "the K-major map covers the tile");
static_assert(kTileK * kTileN == MNMajorMap::kPerThread * kThreads * kChunk,
              "the MN-major map covers the tile");

// Shared-memory row strides of the FP16 tiles (halves). Padding each row by 16 bytes puts
// the 8 rows that one ldmatrix phase reads into the 8 distinct 16-byte bank groups of a
// 128-byte line: 80*i mod 128 and 272*i mod 128 (i = 0..7) are 8 different multiples of 16.
constexpr int kLdK16 = kTileK + 8;   // 40 halves = 80 bytes
constexpr int kLdMN16 = kTileM + 8;  // 136 halves = 272 bytes
template <bool kKMajor>
__host__ __device__ constexpr int tile_elems16() {
  return kKMajor ? kTileM * kLdK16 : kTileK * kLdMN16;
}
template <bool kAKMajor, bool kBKMajor>
__host__ __device__ constexpr int smem_bytes16() {
  return kStages * (tile_elems16<kAKMajor>() + tile_elems16<kBKMajor>()) * int(sizeof(__half));
}

// FP32 (SIMT) tiles: K-major rows padded to 33 floats so 16 threads reading 16 rows at
// the same column hit 16 banks; MN-major rows unpadded (threads read consecutive columns).
constexpr int kLdK32 = kTileK + 1;
constexpr int kLdMN32 = kTileM;
template <bool kKMajor>
__host__ __device__ constexpr int tile_elems32() {
  return kKMajor ? kTileM * kLdK32 : kTileK * kLdMN32;
}

template <typename T>
__device__ __forceinline__ T zero() { return T(0.0f); }

// ---------------------------------------------------------------------------------------
// PTX wrappers (sm_80+)

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16-byte global -> shared copy, bypassing L1; src_size 0 writes 16 zero bytes (padding,
// out-of-range rows) without reading `src`, which must still be a valid address.
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  const int src_size = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(src_size)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// Four 8x8 b16 matrices; lanes 8q..8q+7 give the row addresses of matrix q, and register
// q of lane l receives row l/4, columns 2*(l%4) and 2*(l%4)+1 of matrix q (.trans: the
// transposed matrix, i.e. rows 2*(l%4), 2*(l%4)+1 of column l/4).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p))
               : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p))
               : "memory");
}

// d += a * b for one 16x8x16 tile. With g = lane/4, t = lane%4:
//   a (16x16, row): a[0] = (g, 2t..2t+1), a[1] = (g+8, 2t..2t+1),
//                   a[2] = (g, 2t+8..2t+9), a[3] = (g+8, 2t+8..2t+9)
//   b (16x8, col):  b0 = (k 2t..2t+1, n g), b1 = (k 2t+8..2t+9, n g)
//   d (16x8 f32):   d[0..1] = (g, 2t..2t+1), d[2..3] = (g+8, 2t..2t+1)
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// ---------------------------------------------------------------------------------------
// FP16 tensor-core main loop
//
// acc[mi][ni] is the m16n8 accumulator fragment at warp-tile rows 16*mi, columns 8*ni.
// Loaders: `la.load(tile)` writes the next Kd slice of A into `tile` (cp.async, or plain
// stores on the generic path) and advances; the same for `lb`. Slices past the end of Kd
// are never requested; a partial last slice is zero-filled by the loaders.
using Acc16 = float[kWarpM / 16][kWarpN / 8][4];

template <bool kAKMajor, bool kBKMajor, class LoaderA, class LoaderB>
__device__ __forceinline__ void mma_mainloop(LoaderA& la, LoaderB& lb, int num_k_tiles,
                                             __half* smem, Acc16& acc) {
  constexpr int kATile = tile_elems16<kAKMajor>();
  constexpr int kBTile = tile_elems16<kBKMajor>();
  __half* sa = smem;
  __half* sb = smem + kStages * kATile;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int wm = (warp / (kTileN / kWarpN)) * kWarpM;  // warp tile origin in the CTA tile
  const int wn = (warp % (kTileN / kWarpN)) * kWarpN;
  const int q = lane / 8, l8 = lane % 8;  // ldmatrix: which matrix this lane addresses, which row

  // Prologue: slices 0 .. kStages-2 in flight. Every iteration commits one group (empty
  // when there is nothing left to load), so "kStages-2 groups pending" always means
  // "slice kt has landed".
#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    if (st < num_k_tiles) {
      la.load(sa + st * kATile);
      lb.load(sb + st * kBTile);
    }
    cp_async_commit();
  }

  for (int kt = 0; kt < num_k_tiles; ++kt) {
    cp_async_wait<kStages - 2>();
    // Slice kt is visible to all threads, and all threads have finished reading slot
    // (kt-1) % kStages, which the load below refills.
    __syncthreads();
    const int next = kt + kStages - 1;
    if (next < num_k_tiles) {
      la.load(sa + (next % kStages) * kATile);
      lb.load(sb + (next % kStages) * kBTile);
    }
    cp_async_commit();

    const __half* ta = sa + (kt % kStages) * kATile;
    const __half* tb = sb + (kt % kStages) * kBTile;
#pragma unroll
    for (int ks = 0; ks < kTileK; ks += 16) {
      uint32_t af[kWarpM / 16][4];
      uint32_t bf[kWarpN / 8][2];
#pragma unroll
      for (int mi = 0; mi < kWarpM / 16; ++mi) {
        const int m0 = wm + mi * 16;
        if constexpr (kAKMajor) {
          // Matrices (rows m0..+7, k ks..+7), (m0+8.., ks..), (m0.., ks+8..), (m0+8.., ks+8..)
          // = a[0], a[1], a[2], a[3].
          ldmatrix_x4(af[mi], ta + (m0 + (q % 2) * 8 + l8) * kLdK16 + ks + (q / 2) * 8);
        } else {
          // Stored [k][m]: the same four matrices, transposed on the way out.
          ldmatrix_x4_trans(af[mi], ta + (ks + (q / 2) * 8 + l8) * kLdMN16 + m0 + (q % 2) * 8);
        }
      }
#pragma unroll
      for (int np = 0; np < kWarpN / 16; ++np) {
        const int n0 = wn + np * 16;
        uint32_t r[4];
        if constexpr (kBKMajor) {
          // Stored [n][k]. Matrices (n0.., ks..), (n0.., ks+8..), (n0+8.., ks..), (n0+8.., ks+8..)
          // = b0, b1 of fragment 2np, then b0, b1 of fragment 2np+1.
          ldmatrix_x4(r, tb + (n0 + (q / 2) * 8 + l8) * kLdK16 + ks + (q % 2) * 8);
        } else {
          // Stored [k][n]: the same four matrices, transposed on the way out.
          ldmatrix_x4_trans(r, tb + (ks + (q % 2) * 8 + l8) * kLdMN16 + n0 + (q / 2) * 8);
        }
        bf[2 * np][0] = r[0];
        bf[2 * np][1] = r[1];
        bf[2 * np + 1][0] = r[2];
        bf[2 * np + 1][1] = r[3];
      }
#pragma unroll
      for (int mi = 0; mi < kWarpM / 16; ++mi)
#pragma unroll
        for (int ni = 0; ni < kWarpN / 8; ++ni)
          mma_16816(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
    }
  }
  cp_async_wait<0>();  // only empty groups remain; leave nothing outstanding at exit
}

// Calls f(m, n, v0, v1) for the accumulator pairs (m, n), (m, n+1) of this thread, in CTA
// coordinates offset by (block_m, block_n); n is always even. Bounds are the caller's.
template <class F>
__device__ __forceinline__ void for_each_acc16(const Acc16& acc, int block_m, int block_n, F f) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int wm = block_m + (warp / (kTileN / kWarpN)) * kWarpM;
  const int wn = block_n + (warp % (kTileN / kWarpN)) * kWarpN;
  const int g = lane / 4, t = lane % 4;
#pragma unroll
  for (int mi = 0; mi < kWarpM / 16; ++mi)
#pragma unroll
    for (int ni = 0; ni < kWarpN / 8; ++ni)
#pragma unroll
      for (int half = 0; half < 2; ++half)
        f(wm + mi * 16 + g + half * 8, wn + ni * 8 + 2 * t, acc[mi][ni][2 * half],
          acc[mi][ni][2 * half + 1]);
}

// Row-major (rows x cols) FP16 output: one 4-byte store per pair when `pairs` (cols even,
// base 4-byte aligned), else element by element; everything outside the matrix dropped.
__device__ __forceinline__ void store_pair(__half* out, int rows, int cols, bool pairs, int m,
                                           int n, float v0, float v1) {
  if (m >= rows || n >= cols) return;
  __half* p = out + int64_t(m) * cols + n;
  if (pairs) {
    *reinterpret_cast<__half2*>(p) = __floats2half2_rn(v0, v1);
  } else {
    p[0] = __float2half_rn(v0);
    if (n + 1 < cols) p[1] = __float2half_rn(v1);
  }
}
__device__ __forceinline__ void store_pair(float* out, int rows, int cols, bool /*pairs*/, int m,
                                           int n, float v0, float v1) {
  if (m >= rows || n >= cols) return;
  float* p = out + int64_t(m) * cols + n;
  p[0] = v0;
  if (n + 1 < cols) p[1] = v1;
}

// ---------------------------------------------------------------------------------------
// FP32 SIMT main loop: the same loaders (generic path, float tiles), one stage, each
// thread an 8x8 block of C at rows ty + 16*i and columns tx + 16*j (strided, so a warp
// reads 2 A values and 16 consecutive-bank B values per step).
using Acc32 = float[8][8];

template <bool kAKMajor, bool kBKMajor, class LoaderA, class LoaderB>
__device__ __forceinline__ void simt_mainloop(LoaderA& la, LoaderB& lb, int num_k_tiles,
                                              float* sa, float* sb, Acc32& acc) {
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  for (int kt = 0; kt < num_k_tiles; ++kt) {
    la.load(sa);
    lb.load(sb);
    __syncthreads();
#pragma unroll 4
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[8], b[8];
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const int m = ty + 16 * i;
        a[i] = kAKMajor ? sa[m * kLdK32 + kk] : sa[kk * kLdMN32 + m];
      }
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const int n = tx + 16 * j;
        b[j] = kBKMajor ? sb[n * kLdK32 + kk] : sb[kk * kLdMN32 + n];
      }
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();  // everyone is done with the tiles before the next load overwrites them
  }
}

// Calls f(m, n, v) for this thread's 64 outputs of the SIMT kernel.
template <class F>
__device__ __forceinline__ void for_each_acc32(const Acc32& acc, int block_m, int block_n, F f) {
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) f(block_m + ty + 16 * i, block_n + tx + 16 * j, acc[i][j]);
}

// ---------------------------------------------------------------------------------------
// Split-K for the filter gradient: the reduction (N*OH*OW) is cut into gridDim.z ranges
// of whole Kd slices, each CTA adding its partial tile into dw with FP32 atomics.
struct SplitK {
  int splits = 1;          // gridDim.z
  int tiles_per_split = 1; // Kd slices per CTA
};

inline SplitK choose_split_k(int64_t mn_ctas, int64_t k_tiles, int sms) {
  const int64_t kTargetCtas = 4 * int64_t(sms);  // several waves: 1-2 CTAs fit per SM
  const int64_t kMinTilesPerSplit = 16;          // keep the atomic epilogue < ~5% of the work
  int64_t splits = div_up(kTargetCtas, mn_ctas);
  splits = std::min<int64_t>(splits, div_up(k_tiles, kMinTilesPerSplit));
  splits = std::max<int64_t>(std::min<int64_t>(splits, 65535), 1);  // gridDim.z limit
  SplitK sk;
  sk.tiles_per_split = int(div_up(k_tiles, splits));
  sk.splits = int(div_up(k_tiles, sk.tiles_per_split));  // no empty split
  return sk;
}

}  // namespace bot::cuda::conv
