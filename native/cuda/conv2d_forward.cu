// Convolution forward on the GPU as an implicit GEMM.
//
//   y[n,p,q,k] = sum_{r,s,c} x[n, p*sh-ph+r, q*sw-pw+s, c] * w[k,r,s,c]
//   x (N, H, W, C), w (K, R, S, C), y (N, OH, OW, K)
//
// GEMM: M = N*OH*OW (output pixels), N = K (output channels), Kd = R*S*C.
//   A (M x Kd)  = im2col(x), gathered on the fly: row m = (n,p,q), column kd = (r,s,c);
//                 taps that fall in the padding read as zero. K-major tile (c contiguous).
//   B (Kd x N)  = w viewed as (K, R*S*C): row k of w is column k of B. K-major tile.
//   C (M x N)   = y viewed as (N*OH*OW, K), row-major.
// FP16: tensor cores (conv2d_common.cuh); the cp.async path needs C % 8 == 0 so that every
// 8-channel run is one aligned 16 bytes that never straddles a filter tap; other channel
// counts (the 3-channel stem) take the generic path with element loads.
// FP32: the SIMT kernel with the same loaders (generic path).
#include <cuda_fp16.h>

#include "bot/cuda/conv2d.cuh"
#include "cuda/conv2d_common.cuh"

namespace bot::cuda {

namespace {

using namespace conv;

template <typename T>
struct FwdParams {
  Dims d;
  const T* x;  // (n, h, w, c)
  const T* w;  // (k, r, s, c)
  T* y;        // (n, oh, ow, k)
  int gm, gn, gk;  // GEMM extents: N*OH*OW, K, R*S*C
  const float* bias;  // (k) added to every output row before it is stored, or null
  bool relu;          // max(., 0) after the bias
};

// The epilogue of one output element: the folded BN's bias, then its ReLU.
template <typename T>
__device__ __forceinline__ float epilogue(const FwdParams<T>& p, int n, float v) {
  if (p.bias != nullptr && n < p.gn) v += p.bias[n];
  return p.relu ? fmaxf(v, 0.0f) : v;
}

// A: rows m = (n, p, q) are fixed per thread (row info computed once); the thread's
// column kd = (r, s, c) is shared by both its rows and steps by kTileK per slice.
template <typename T, bool kVec, int kLd>
struct FwdLoaderA {
  FwdParams<T> p;  // a copy: the fields stay in the constant bank (no local copy of the param)
  const T* base[2];    // x + n*H*W*C of the row's image
  int ih0[2], iw0[2];  // top-left input tap of the row's output pixel
  bool row_ok[2];
  int soff[2];         // shared-memory offset of the thread's chunk
  int kd, r, s, c;     // reduction position of the chunk's first element

  __device__ FwdLoaderA(const FwdParams<T>& prm, int block_m, int tid) : p(prm) {
    const Dims& d = p.d;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int m = block_m + KMajorMap::row(tid, i);
      row_ok[i] = m < p.gm;
      const int mm = row_ok[i] ? m : 0;
      const int q = mm % d.ow, pq = mm / d.ow;
      const int pp = pq % d.oh, n = pq / d.oh;
      base[i] = p.x + int64_t(n) * d.h * d.w * d.c;
      ih0[i] = pp * d.sh - d.ph;
      iw0[i] = q * d.sw - d.pw;
      soff[i] = KMajorMap::row(tid, i) * kLd + KMajorMap::col(tid);
    }
    kd = KMajorMap::col(tid);
    c = kd % d.c;
    s = kd / d.c % d.s;
    r = kd / d.c / d.s;
  }

  __device__ bool tap(int i, int rr, int ss, int kk, int64_t& off) const {
    const int ih = ih0[i] + rr, iw = iw0[i] + ss;
    off = (int64_t(ih) * p.d.w + iw) * p.d.c;
    return row_ok[i] && kk < p.gk && unsigned(ih) < unsigned(p.d.h) &&
           unsigned(iw) < unsigned(p.d.w);
  }

  __device__ void load(T* tile) {
    const Dims& d = p.d;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      if constexpr (kVec) {
        int64_t off;
        const bool ok = tap(i, r, s, kd, off);
        cp_async16(tile + soff[i], ok ? base[i] + off + c : p.x, ok);
      } else {
        int rr = r, ss = s, cc = c;
#pragma unroll
        for (int j = 0; j < kChunk; ++j) {
          int64_t off;
          const bool ok = tap(i, rr, ss, kd + j, off);
          tile[soff[i] + j] = ok ? base[i][off + cc] : zero<T>();
          if (++cc == d.c) {
            cc = 0;
            if (++ss == d.s) ss = 0, ++rr;
          }
        }
      }
    }
    kd += kTileK;
    c += kTileK;
    while (c >= d.c) {  // at most once when C >= kTileK
      c -= d.c;
      if (++s == d.s) s = 0, ++r;
    }
  }
};

// B: row n of the tile is filter k = block_n + row, contiguous along kd.
template <typename T, bool kVec, int kLd>
struct FwdLoaderB {
  FwdParams<T> p;  // a copy: the fields stay in the constant bank (no local copy of the param)
  const T* wrow[2];
  bool row_ok[2];
  int soff[2];
  int kd;

  __device__ FwdLoaderB(const FwdParams<T>& prm, int block_n, int tid) : p(prm) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int k = block_n + KMajorMap::row(tid, i);
      row_ok[i] = k < p.gn;
      wrow[i] = p.w + int64_t(row_ok[i] ? k : 0) * p.gk;
      soff[i] = KMajorMap::row(tid, i) * kLd + KMajorMap::col(tid);
    }
    kd = KMajorMap::col(tid);
  }

  __device__ void load(T* tile) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      if constexpr (kVec) {
        const bool ok = row_ok[i] && kd < p.gk;
        cp_async16(tile + soff[i], ok ? wrow[i] + kd : p.w, ok);
      } else {
#pragma unroll
        for (int j = 0; j < kChunk; ++j)
          tile[soff[i] + j] = row_ok[i] && kd + j < p.gk ? wrow[i][kd + j] : zero<T>();
      }
    }
    kd += kTileK;
  }
};

// Tensor cores. Grid: x = M tiles (fastest, so consecutive CTAs share the weight tile in
// L2), y = N tiles.
template <bool kVec>
__global__ void __launch_bounds__(kThreads, kVec ? kMinCtas16 : 1)
    forward_f16_kernel(FwdParams<__half> p, bool pairs) {
  extern __shared__ __align__(16) unsigned char conv_smem[];
  const int block_m = blockIdx.x * kTileM, block_n = blockIdx.y * kTileN;
  FwdLoaderA<__half, kVec, kLdK16> la(p, block_m, threadIdx.x);
  FwdLoaderB<__half, kVec, kLdK16> lb(p, block_n, threadIdx.x);
  Acc16 acc = {};
  mma_mainloop<true, true>(la, lb, int(div_up(p.gk, kTileK)), reinterpret_cast<__half*>(conv_smem),
                           acc);
  for_each_acc16(acc, block_m, block_n, [&](int m, int n, float v0, float v1) {
    store_pair(p.y, p.gm, p.gn, pairs, m, n, epilogue(p, n, v0), epilogue(p, n + 1, v1));
  });
}

__global__ void __launch_bounds__(kThreads) forward_f32_kernel(FwdParams<float> p) {
  __shared__ float sa[tile_elems32<true>()];
  __shared__ float sb[tile_elems32<true>()];
  const int block_m = blockIdx.x * kTileM, block_n = blockIdx.y * kTileN;
  FwdLoaderA<float, false, kLdK32> la(p, block_m, threadIdx.x);
  FwdLoaderB<float, false, kLdK32> lb(p, block_n, threadIdx.x);
  Acc32 acc = {};
  simt_mainloop<true, true>(la, lb, int(div_up(p.gk, kTileK)), sa, sb, acc);
  for_each_acc32(acc, block_m, block_n, [&](int m, int n, float v) {
    if (m < p.gm && n < p.gn) p.y[int64_t(m) * p.gn + n] = epilogue(p, n, v);
  });
}

template <typename T>
FwdParams<T> make_params(const Dims& d, const void* x, const void* w, void* y, const float* bias = nullptr,
                         bool relu = false) {
  FwdParams<T> p;
  p.d = d;
  p.bias = bias;
  p.relu = relu;
  p.x = static_cast<const T*>(x);
  p.w = static_cast<const T*>(w);
  p.y = static_cast<T*>(y);
  p.gm = d.n * d.oh * d.ow;
  p.gn = d.k;
  p.gk = d.r * d.s * d.c;
  return p;
}

}  // namespace

void conv2d_forward(const ConvShape& sh, Precision prec, const void* x, const void* w, void* y,
                    cudaStream_t stream, const float* bias, bool relu) {
  const Dims d = make_dims(sh, "conv2d_forward");
  require_pointers("conv2d_forward", x, w, y);
  // One CTA per 128 x 128 output tile, 256 threads (8 warps, each a 64 x 32 warp tile).
  const dim3 grid(unsigned(div_up(int64_t(d.n) * d.oh * d.ow, kTileM)),
                  unsigned(div_up(d.k, kTileN)));
  if (grid.y > 65535) fail(Code::kShape, "conv2d_forward: too many output channels");
  if (prec == Precision::kF32) {
    forward_f32_kernel<<<grid, kThreads, 0, stream>>>(make_params<float>(d, x, w, y, bias, relu));
    BOT_CUDA_CHECK_LAUNCH("conv2d_forward fp32 kernel");
    return;
  }
  const DeviceCaps caps = require_tensor_cores("conv2d_forward");
  // sm_90a: a wgmma + TMA kernel (warpgroup MMA from shared memory, tensor-map loads of
  // the im2col tile) would be selected here when caps.major == 9; mma.sync runs meanwhile.
  const FwdParams<__half> p = make_params<__half>(d, x, w, y, bias, relu);
  const bool pairs = d.k % 2 == 0 && aligned4(y);
  constexpr int kSmem = smem_bytes16<true, true>();
  if (d.c % kChunk == 0 && aligned16(x) && aligned16(w)) {
    allow_dynamic_smem<forward_f16_kernel<true>>(caps.device, kSmem);
    forward_f16_kernel<true><<<grid, kThreads, kSmem, stream>>>(p, pairs);
  } else {
    allow_dynamic_smem<forward_f16_kernel<false>>(caps.device, kSmem);
    forward_f16_kernel<false><<<grid, kThreads, kSmem, stream>>>(p, pairs);
  }
  BOT_CUDA_CHECK_LAUNCH("conv2d_forward fp16 kernel");
}

}  // namespace bot::cuda
