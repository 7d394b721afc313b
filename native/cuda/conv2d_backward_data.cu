// Convolution backward (input gradient) on the GPU as an implicit GEMM.
//
//   dx[n,h,w,c] = sum_{r,s,k} dy[n,p,q,k] * w[k,r,s,c]
//                 over the taps (r,s) with h+ph-r = p*sh, w+pw-s = q*sw, 0<=p<OH, 0<=q<OW
//   dy (N, OH, OW, K), w (K, R, S, C), dx (N, H, W, C)
//
// GEMM: M = N*H*W (input pixels), N = C, Kd = R*S*K.
//   A (M x Kd)  = dy gathered per input pixel: row m = (n,h,w), column kd = (r,s,k) reads
//                 dy[n, (h+ph-r)/sh, (w+pw-s)/sw, k] when both divisions are exact and in
//                 range, else zero. K-major tile (k contiguous).
//   B (Kd x N)  = w: B[(r,s,k)][c] = w[k,r,s,c]. MN-major tile (c contiguous).
//   C (M x N)   = dx viewed as (N*H*W, C), row-major, overwritten.
// This is the gather formulation: correct for any stride, and with stride > 1 most taps of
// a pixel are zero (3 of 4 for stride 2), so those layers do sh*sw times the useful work.
// The faster alternative splits dx into sh*sw phases (h mod sh, w mod sw), each a dense
// stride-1 problem over a subset of the taps.
// FP16 cp.async path: K % 8 == 0 and C % 8 == 0; otherwise the generic path.
#include <cuda_fp16.h>

#include "bot/cuda/conv2d.cuh"
#include "cuda/conv2d_common.cuh"

namespace bot::cuda {

namespace {

using namespace conv;

template <typename T>
struct BwdDataParams {
  Dims d;
  const T* dy;  // (n, oh, ow, k)
  const T* w;   // (k, r, s, c)
  T* dx;        // (n, h, w, c)
  int gm, gn, gk;  // GEMM extents: N*H*W, C, R*S*K
};

// A: rows m = (n, h, w) fixed per thread; the column kd = (r, s, k) shared by both rows.
template <typename T, bool kVec, int kLd>
struct BwdDataLoaderA {
  BwdDataParams<T> p;   // a copy: the fields stay in the constant bank
  const T* base[2];     // dy + n*OH*OW*K of the row's image
  int hp[2], wp[2];     // h + ph, w + pw of the row's pixel
  bool row_ok[2];
  int soff[2];
  int kd, r, s, k;      // reduction position of the chunk's first element

  __device__ BwdDataLoaderA(const BwdDataParams<T>& prm, int block_m, int tid) : p(prm) {
    const Dims& d = p.d;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int m = block_m + KMajorMap::row(tid, i);
      row_ok[i] = m < p.gm;
      const int mm = row_ok[i] ? m : 0;
      const int iw = mm % d.w, nh = mm / d.w;
      const int ih = nh % d.h, n = nh / d.h;
      base[i] = p.dy + int64_t(n) * d.oh * d.ow * d.k;
      hp[i] = ih + d.ph;
      wp[i] = iw + d.pw;
      soff[i] = KMajorMap::row(tid, i) * kLd + KMajorMap::col(tid);
    }
    kd = KMajorMap::col(tid);
    k = kd % d.k;
    s = kd / d.k % d.s;
    r = kd / d.k / d.s;
  }

  // Whether tap (rr, ss) of row i reads an output pixel, and that pixel's offset in dy.
  __device__ bool tap(int i, int rr, int ss, int kk, int64_t& off) const {
    const Dims& d = p.d;
    const int th = hp[i] - rr, tw = wp[i] - ss;
    if (!row_ok[i] || kk >= p.gk || th < 0 || tw < 0) return false;
    const int op = th / d.sh, oq = tw / d.sw;
    off = (int64_t(op) * d.ow + oq) * d.k;
    return op * d.sh == th && oq * d.sw == tw && op < d.oh && oq < d.ow;
  }

  __device__ void load(T* tile) {
    const Dims& d = p.d;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      if constexpr (kVec) {
        int64_t off = 0;
        const bool ok = tap(i, r, s, kd, off);
        cp_async16(tile + soff[i], ok ? base[i] + off + k : p.dy, ok);
      } else {
        int rr = r, ss = s, kk = k;
#pragma unroll
        for (int j = 0; j < kChunk; ++j) {
          int64_t off = 0;
          const bool ok = tap(i, rr, ss, kd + j, off);
          tile[soff[i] + j] = ok ? base[i][off + kk] : zero<T>();
          if (++kk == d.k) {
            kk = 0;
            if (++ss == d.s) ss = 0, ++rr;
          }
        }
      }
    }
    kd += kTileK;
    k += kTileK;
    while (k >= d.k) {  // at most once when K >= kTileK
      k -= d.k;
      if (++s == d.s) s = 0, ++r;
    }
  }
};

// B: tile rows are reduction positions kd = (r, s, k) = rs*K + k, which advance by
// kTileK per slice; the thread's column (8 channels from c0) is fixed.
template <typename T, bool kVec, int kLd>
struct BwdDataLoaderB {
  BwdDataParams<T> p;
  int c0;
  int kd[2], rs[2], k[2];
  int soff[2];

  __device__ BwdDataLoaderB(const BwdDataParams<T>& prm, int block_n, int tid) : p(prm) {
    c0 = block_n + MNMajorMap::col(tid);
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      kd[i] = MNMajorMap::row(tid, i);
      k[i] = kd[i] % p.d.k;
      rs[i] = kd[i] / p.d.k;
      soff[i] = MNMajorMap::row(tid, i) * kLd + MNMajorMap::col(tid);
    }
  }

  __device__ void load(T* tile) {
    const Dims& d = p.d;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const T* src = p.w + (int64_t(k[i]) * d.r * d.s + rs[i]) * d.c + c0;  // w[k, r, s, c0]
      const bool row_ok = kd[i] < p.gk;
      if constexpr (kVec) {
        const bool ok = row_ok && c0 < p.gn;
        cp_async16(tile + soff[i], ok ? src : p.w, ok);
      } else {
#pragma unroll
        for (int j = 0; j < kChunk; ++j)
          tile[soff[i] + j] = row_ok && c0 + j < p.gn ? src[j] : zero<T>();
      }
      kd[i] += kTileK;
      k[i] += kTileK;
      while (k[i] >= d.k) k[i] -= d.k, ++rs[i];
    }
  }
};

template <bool kVec>
__global__ void __launch_bounds__(kThreads, kVec ? kMinCtas16 : 1)
    backward_data_f16_kernel(BwdDataParams<__half> p, bool pairs) {
  extern __shared__ __align__(16) unsigned char conv_smem[];
  const int block_m = blockIdx.x * kTileM, block_n = blockIdx.y * kTileN;
  BwdDataLoaderA<__half, kVec, kLdK16> la(p, block_m, threadIdx.x);
  BwdDataLoaderB<__half, kVec, kLdMN16> lb(p, block_n, threadIdx.x);
  Acc16 acc = {};
  mma_mainloop<true, false>(la, lb, int(div_up(p.gk, kTileK)),
                            reinterpret_cast<__half*>(conv_smem), acc);
  for_each_acc16(acc, block_m, block_n, [&](int m, int n, float v0, float v1) {
    store_pair(p.dx, p.gm, p.gn, pairs, m, n, v0, v1);
  });
}

__global__ void __launch_bounds__(kThreads) backward_data_f32_kernel(BwdDataParams<float> p) {
  __shared__ float sa[tile_elems32<true>()];
  __shared__ float sb[tile_elems32<false>()];
  const int block_m = blockIdx.x * kTileM, block_n = blockIdx.y * kTileN;
  BwdDataLoaderA<float, false, kLdK32> la(p, block_m, threadIdx.x);
  BwdDataLoaderB<float, false, kLdMN32> lb(p, block_n, threadIdx.x);
  Acc32 acc = {};
  simt_mainloop<true, false>(la, lb, int(div_up(p.gk, kTileK)), sa, sb, acc);
  for_each_acc32(acc, block_m, block_n, [&](int m, int n, float v) {
    if (m < p.gm && n < p.gn) p.dx[int64_t(m) * p.gn + n] = v;
  });
}

template <typename T>
BwdDataParams<T> make_params(const Dims& d, const void* dy, const void* w, void* dx) {
  BwdDataParams<T> p;
  p.d = d;
  p.dy = static_cast<const T*>(dy);
  p.w = static_cast<const T*>(w);
  p.dx = static_cast<T*>(dx);
  p.gm = d.n * d.h * d.w;
  p.gn = d.c;
  p.gk = d.r * d.s * d.k;
  return p;
}

}  // namespace

void conv2d_backward_data(const ConvShape& sh, Precision prec, const void* dy, const void* w,
                          void* dx, cudaStream_t stream) {
  const Dims d = make_dims(sh, "conv2d_backward_data");
  require_pointers("conv2d_backward_data", dy, w, dx);
  // One CTA per 128 x 128 tile of dx (pixels x channels), 256 threads (8 warps).
  const dim3 grid(unsigned(div_up(int64_t(d.n) * d.h * d.w, kTileM)),
                  unsigned(div_up(d.c, kTileN)));
  if (grid.y > 65535) fail(Code::kShape, "conv2d_backward_data: too many input channels");
  if (prec == Precision::kF32) {
    backward_data_f32_kernel<<<grid, kThreads, 0, stream>>>(make_params<float>(d, dy, w, dx));
    BOT_CUDA_CHECK_LAUNCH("conv2d_backward_data fp32 kernel");
    return;
  }
  const DeviceCaps caps = require_tensor_cores("conv2d_backward_data");
  // sm_90a: the wgmma + TMA kernel would be selected here (see conv2d_forward.cu).
  const BwdDataParams<__half> p = make_params<__half>(d, dy, w, dx);
  const bool pairs = d.c % 2 == 0 && aligned4(dx);
  constexpr int kSmem = smem_bytes16<true, false>();
  if (d.k % kChunk == 0 && d.c % kChunk == 0 && aligned16(dy) && aligned16(w)) {
    allow_dynamic_smem<backward_data_f16_kernel<true>>(caps.device, kSmem);
    backward_data_f16_kernel<true><<<grid, kThreads, kSmem, stream>>>(p, pairs);
  } else {
    allow_dynamic_smem<backward_data_f16_kernel<false>>(caps.device, kSmem);
    backward_data_f16_kernel<false><<<grid, kThreads, kSmem, stream>>>(p, pairs);
  }
  BOT_CUDA_CHECK_LAUNCH("conv2d_backward_data fp16 kernel");
}

}  // namespace bot::cuda
