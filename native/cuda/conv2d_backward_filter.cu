// Convolution backward (filter gradient) on the GPU as a split-K implicit GEMM.
//
//   dw[k,r,s,c] = sum_{n,p,q} dy[n,p,q,k] * x[n, p*sh-ph+r, q*sw-pw+s, c]
//   x (N, H, W, C), dy (N, OH, OW, K), dw (K, R, S, C) FP32, overwritten
//
// GEMM: M = K, N = R*S*C, Kd = N*OH*OW (output pixels: a long reduction).
//   A (M x Kd)  = dy^T: A[k][pix] = dy[pix, k]. MN-major tile (k contiguous).
//   B (Kd x N)  = im2col(x): B[pix][(r,s,c)] = x[n, p*sh-ph+r, q*sw-pw+s, c], zero in the
//                 padding. MN-major tile (c contiguous).
//   C (M x N)   = dw viewed as (K, R*S*C).
// The output tile grid is small (ResNet-50: 1 to 144 tiles) and the reduction long
// (N*OH*OW up to 800K at batch 256), so the reduction is split over gridDim.z CTAs that
// add their partial tiles into dw with FP32 atomics; the launcher zeroes dw first. The sum
// order, and so the last bits of dw, vary from run to run.
// FP16 cp.async path: K % 8 == 0 and C % 8 == 0; otherwise the generic path.
#include <cuda_fp16.h>

#include "bot/cuda/conv2d.cuh"
#include "cuda/conv2d_common.cuh"

namespace bot::cuda {

namespace {

using namespace conv;

template <typename T>
struct BwdFilterParams {
  Dims d;
  const T* x;   // (n, h, w, c)
  const T* dy;  // (n, oh, ow, k)
  float* dw;    // (k, r, s, c)
  int gm, gn, gk;       // GEMM extents: K, R*S*C, N*OH*OW
  int tiles_per_split;  // Kd slices per CTA along gridDim.z
};

// A: tile rows are output pixels pix (advance by kTileK per slice); the thread's column
// (8 output channels from k0) is fixed. dy is (pixels, K), so the address is linear.
template <typename T, bool kVec, int kLd>
struct BwdFilterLoaderA {
  BwdFilterParams<T> p;  // a copy: the fields stay in the constant bank
  int k0;
  int pix[2];
  int soff[2];

  __device__ BwdFilterLoaderA(const BwdFilterParams<T>& prm, int block_m, int kd0, int tid)
      : p(prm) {
    k0 = block_m + MNMajorMap::col(tid);
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      pix[i] = kd0 + MNMajorMap::row(tid, i);
      soff[i] = MNMajorMap::row(tid, i) * kLd + MNMajorMap::col(tid);
    }
  }

  __device__ void load(T* tile) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const T* src = p.dy + int64_t(pix[i]) * p.gm + k0;
      const bool row_ok = pix[i] < p.gk;
      if constexpr (kVec) {
        const bool ok = row_ok && k0 < p.gm;
        cp_async16(tile + soff[i], ok ? src : p.dy, ok);
      } else {
#pragma unroll
        for (int j = 0; j < kChunk; ++j)
          tile[soff[i] + j] = row_ok && k0 + j < p.gm ? src[j] : zero<T>();
      }
      pix[i] += kTileK;
    }
  }
};

// B: tile rows are output pixels pix = (n, p, q), stepped by kTileK per slice with a
// carry; the thread's column (8 positions from n0 = (r0, s0, c0)) is fixed.
template <typename T, bool kVec, int kLd>
struct BwdFilterLoaderB {
  BwdFilterParams<T> p;
  int n0, r0, s0, c0;
  int pix[2], img[2], op[2], oq[2];
  int soff[2];

  __device__ BwdFilterLoaderB(const BwdFilterParams<T>& prm, int block_n, int kd0, int tid)
      : p(prm) {
    const Dims& d = p.d;
    n0 = block_n + MNMajorMap::col(tid);
    c0 = n0 % d.c;
    s0 = n0 / d.c % d.s;
    r0 = n0 / d.c / d.s;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      pix[i] = kd0 + MNMajorMap::row(tid, i);
      oq[i] = pix[i] % d.ow;
      op[i] = pix[i] / d.ow % d.oh;
      img[i] = pix[i] / d.ow / d.oh;
      soff[i] = MNMajorMap::row(tid, i) * kLd + MNMajorMap::col(tid);
    }
  }

  __device__ void load(T* tile) {
    const Dims& d = p.d;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const bool row_ok = pix[i] < p.gk;
      const int ih0 = op[i] * d.sh - d.ph, iw0 = oq[i] * d.sw - d.pw;
      const T* base = p.x + int64_t(img[i]) * d.h * d.w * d.c;
      if constexpr (kVec) {
        const int ih = ih0 + r0, iw = iw0 + s0;
        const bool ok = row_ok && n0 < p.gn && unsigned(ih) < unsigned(d.h) &&
                        unsigned(iw) < unsigned(d.w);
        cp_async16(tile + soff[i], ok ? base + (int64_t(ih) * d.w + iw) * d.c + c0 : p.x, ok);
      } else {
        int rr = r0, ss = s0, cc = c0;
#pragma unroll
        for (int j = 0; j < kChunk; ++j) {
          const int ih = ih0 + rr, iw = iw0 + ss;
          const bool ok = row_ok && n0 + j < p.gn && unsigned(ih) < unsigned(d.h) &&
                          unsigned(iw) < unsigned(d.w);
          tile[soff[i] + j] = ok ? base[(int64_t(ih) * d.w + iw) * d.c + cc] : zero<T>();
          if (++cc == d.c) {
            cc = 0;
            if (++ss == d.s) ss = 0, ++rr;
          }
        }
      }
      pix[i] += kTileK;
      oq[i] += kTileK;
      while (oq[i] >= d.ow) {  // at most once when OW >= kTileK
        oq[i] -= d.ow;
        if (++op[i] == d.oh) op[i] = 0, ++img[i];
      }
    }
  }
};

// Grid: x = K tiles, y = R*S*C tiles, z = reduction splits.
template <bool kVec>
__global__ void __launch_bounds__(kThreads, kVec ? kMinCtas16 : 1)
    backward_filter_f16_kernel(BwdFilterParams<__half> p) {
  extern __shared__ __align__(16) unsigned char conv_smem[];
  const int block_m = blockIdx.x * kTileM, block_n = blockIdx.y * kTileN;
  const int tile0 = blockIdx.z * p.tiles_per_split;
  const int num_tiles = min(p.tiles_per_split, int(div_up(p.gk, kTileK)) - tile0);
  BwdFilterLoaderA<__half, kVec, kLdMN16> la(p, block_m, tile0 * kTileK, threadIdx.x);
  BwdFilterLoaderB<__half, kVec, kLdMN16> lb(p, block_n, tile0 * kTileK, threadIdx.x);
  Acc16 acc = {};
  mma_mainloop<false, false>(la, lb, num_tiles, reinterpret_cast<__half*>(conv_smem), acc);
  for_each_acc16(acc, block_m, block_n, [&](int m, int n, float v0, float v1) {
    if (m >= p.gm || n >= p.gn) return;
    float* out = p.dw + int64_t(m) * p.gn + n;
    atomicAdd(out, v0);
    if (n + 1 < p.gn) atomicAdd(out + 1, v1);
  });
}

__global__ void __launch_bounds__(kThreads) backward_filter_f32_kernel(BwdFilterParams<float> p) {
  __shared__ float sa[tile_elems32<false>()];
  __shared__ float sb[tile_elems32<false>()];
  const int block_m = blockIdx.x * kTileM, block_n = blockIdx.y * kTileN;
  const int tile0 = blockIdx.z * p.tiles_per_split;
  const int num_tiles = min(p.tiles_per_split, int(div_up(p.gk, kTileK)) - tile0);
  BwdFilterLoaderA<float, false, kLdMN32> la(p, block_m, tile0 * kTileK, threadIdx.x);
  BwdFilterLoaderB<float, false, kLdMN32> lb(p, block_n, tile0 * kTileK, threadIdx.x);
  Acc32 acc = {};
  simt_mainloop<false, false>(la, lb, num_tiles, sa, sb, acc);
  for_each_acc32(acc, block_m, block_n, [&](int m, int n, float v) {
    if (m < p.gm && n < p.gn) atomicAdd(p.dw + int64_t(m) * p.gn + n, v);
  });
}

template <typename T>
BwdFilterParams<T> make_params(const Dims& d, const void* x, const void* dy, float* dw) {
  BwdFilterParams<T> p;
  p.d = d;
  p.x = static_cast<const T*>(x);
  p.dy = static_cast<const T*>(dy);
  p.dw = dw;
  p.gm = d.k;
  p.gn = d.r * d.s * d.c;
  p.gk = d.n * d.oh * d.ow;
  p.tiles_per_split = 1;
  return p;
}

}  // namespace

void conv2d_backward_filter(const ConvShape& sh, Precision prec, const void* x, const void* dy,
                            float* dw, cudaStream_t stream) {
  const Dims d = make_dims(sh, "conv2d_backward_filter");
  require_pointers("conv2d_backward_filter", x, dy, dw);
  const DeviceCaps caps = prec == Precision::kF16 ? require_tensor_cores("conv2d_backward_filter")
                                                  : device_caps();
  // One CTA per 128 x 128 tile of dw (K x R*S*C) and per reduction split, 256 threads.
  const int64_t m_tiles = div_up(d.k, kTileM), n_tiles = div_up(int64_t(d.r) * d.s * d.c, kTileN);
  if (n_tiles > 65535) fail(Code::kShape, "conv2d_backward_filter: filter too large (R*S*C)");
  const SplitK sk =
      choose_split_k(m_tiles * n_tiles, div_up(int64_t(d.n) * d.oh * d.ow, kTileK), caps.sms);
  const dim3 grid(unsigned(m_tiles), unsigned(n_tiles), unsigned(sk.splits));
  // The splits add into dw.
  BOT_CUDA_CHECK(cudaMemsetAsync(dw, 0, sizeof(float) * size_t(d.k) * d.r * d.s * d.c, stream));
  if (prec == Precision::kF32) {
    BwdFilterParams<float> p = make_params<float>(d, x, dy, dw);
    p.tiles_per_split = sk.tiles_per_split;
    backward_filter_f32_kernel<<<grid, kThreads, 0, stream>>>(p);
    BOT_CUDA_CHECK_LAUNCH("conv2d_backward_filter fp32 kernel");
    return;
  }
  // sm_90a: the wgmma + TMA kernel would be selected here (see conv2d_forward.cu).
  BwdFilterParams<__half> p = make_params<__half>(d, x, dy, dw);
  p.tiles_per_split = sk.tiles_per_split;
  constexpr int kSmem = smem_bytes16<false, false>();
  if (d.k % kChunk == 0 && d.c % kChunk == 0 && aligned16(x) && aligned16(dy)) {
    allow_dynamic_smem<backward_filter_f16_kernel<true>>(caps.device, kSmem);
    backward_filter_f16_kernel<true><<<grid, kThreads, kSmem, stream>>>(p);
  } else {
    allow_dynamic_smem<backward_filter_f16_kernel<false>>(caps.device, kSmem);
    backward_filter_f16_kernel<false><<<grid, kThreads, kSmem, stream>>>(p);
  }
  BOT_CUDA_CHECK_LAUNCH("conv2d_backward_filter fp16 kernel");
}

}  // namespace bot::cuda
