// Reference convolutions on the GPU: the oracle the fast kernels are tested against.
//
// One thread per output element, a plain loop nest, FP32 accumulation in the same order
// for both precisions (__half inputs are widened with __half2float, __half outputs
// rounded once at the end). No shared memory, no tiling: obviously correct, slow.
//
//   forward:         y[n,p,q,k]  = sum_{r,s,c} x[n, p*sh-ph+r, q*sw-pw+s, c] * w[k,r,s,c]
//   backward data:   dx[n,h,w,c] = sum_{r,s,k} dy[n,p,q,k] * w[k,r,s,c]
//                                  over (r,s) with h+ph-r = p*sh, w+pw-s = q*sw, 0<=p<OH, 0<=q<OW
//   backward filter: dw[k,r,s,c] = sum_{n,p,q} dy[n,p,q,k] * x[n, p*sh-ph+r, q*sw-pw+s, c]
// Layouts: x, dx (N, H, W, C); y, dy (N, OH, OW, K); w (K, R, S, C); dw (K, R, S, C) FP32.
#include <cuda_fp16.h>

#include "bot/cuda/conv2d.cuh"
#include "cuda/conv2d_common.cuh"

namespace bot::cuda {

namespace {

using conv::Dims;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }

template <typename T>
__global__ void forward_reference_kernel(Dims d, const T* x,  // (n, h, w, c)
                                         const T* w,           // (k, r, s, c)
                                         T* y) {               // (n, oh, ow, k)
  const int64_t total = int64_t(d.n) * d.oh * d.ow * d.k;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int k = int(i % d.k);
    const int q = int(i / d.k % d.ow);
    const int p = int(i / d.k / d.ow % d.oh);
    const int n = int(i / d.k / d.ow / d.oh);
    float acc = 0.0f;
    for (int r = 0; r < d.r; ++r) {
      const int ih = p * d.sh - d.ph + r;
      if (ih < 0 || ih >= d.h) continue;
      for (int s = 0; s < d.s; ++s) {
        const int iw = q * d.sw - d.pw + s;
        if (iw < 0 || iw >= d.w) continue;
        const T* xp = x + ((int64_t(n) * d.h + ih) * d.w + iw) * d.c;
        const T* wp = w + ((int64_t(k) * d.r + r) * d.s + s) * d.c;
        for (int c = 0; c < d.c; ++c) acc += to_float(xp[c]) * to_float(wp[c]);
      }
    }
    y[i] = from_float<T>(acc);
  }
}

template <typename T>
__global__ void backward_data_reference_kernel(Dims d, const T* dy,  // (n, oh, ow, k)
                                               const T* w,            // (k, r, s, c)
                                               T* dx) {               // (n, h, w, c)
  const int64_t total = int64_t(d.n) * d.h * d.w * d.c;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int c = int(i % d.c);
    const int iw = int(i / d.c % d.w);
    const int ih = int(i / d.c / d.w % d.h);
    const int n = int(i / d.c / d.w / d.h);
    float acc = 0.0f;
    for (int r = 0; r < d.r; ++r) {
      const int th = ih + d.ph - r;  // = p * sh for the output row p that read (ih, r)
      if (th < 0 || th % d.sh != 0 || th / d.sh >= d.oh) continue;
      const int p = th / d.sh;
      for (int s = 0; s < d.s; ++s) {
        const int tw = iw + d.pw - s;
        if (tw < 0 || tw % d.sw != 0 || tw / d.sw >= d.ow) continue;
        const int q = tw / d.sw;
        const T* dyp = dy + ((int64_t(n) * d.oh + p) * d.ow + q) * d.k;
        for (int k = 0; k < d.k; ++k)
          acc += to_float(dyp[k]) * to_float(w[((int64_t(k) * d.r + r) * d.s + s) * d.c + c]);
      }
    }
    dx[i] = from_float<T>(acc);
  }
}

template <typename T>
__global__ void backward_filter_reference_kernel(Dims d, const T* x,  // (n, h, w, c)
                                                 const T* dy,         // (n, oh, ow, k)
                                                 float* dw) {         // (k, r, s, c)
  const int64_t total = int64_t(d.k) * d.r * d.s * d.c;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int c = int(i % d.c);
    const int s = int(i / d.c % d.s);
    const int r = int(i / d.c / d.s % d.r);
    const int k = int(i / d.c / d.s / d.r);
    float acc = 0.0f;
    for (int n = 0; n < d.n; ++n)
      for (int p = 0; p < d.oh; ++p) {
        const int ih = p * d.sh - d.ph + r;
        if (ih < 0 || ih >= d.h) continue;
        for (int q = 0; q < d.ow; ++q) {
          const int iw = q * d.sw - d.pw + s;
          if (iw < 0 || iw >= d.w) continue;
          acc += to_float(dy[((int64_t(n) * d.oh + p) * d.ow + q) * d.k + k]) *
                 to_float(x[((int64_t(n) * d.h + ih) * d.w + iw) * d.c + c]);
        }
      }
    dw[i] = acc;
  }
}

// A grid-stride loop covers any size; 256 threads (8 warps) is a neutral block for a
// kernel with no shared memory, and the grid is capped so huge tensors loop.
constexpr int kRefBlock = 256;
constexpr int64_t kRefMaxGrid = 65535;
inline unsigned ref_grid(int64_t total) {
  return unsigned(std::min<int64_t>(conv::div_up(total, kRefBlock), kRefMaxGrid));
}

}  // namespace

void conv2d_forward_reference(const ConvShape& sh, Precision p, const void* x, const void* w,
                              void* y, cudaStream_t stream) {
  const Dims d = conv::make_dims(sh, "conv2d_forward_reference");
  conv::require_pointers("conv2d_forward_reference", x, w, y);
  const unsigned grid = ref_grid(int64_t(d.n) * d.oh * d.ow * d.k);
  if (p == Precision::kF16)
    forward_reference_kernel<__half><<<grid, kRefBlock, 0, stream>>>(
        d, static_cast<const __half*>(x), static_cast<const __half*>(w), static_cast<__half*>(y));
  else
    forward_reference_kernel<float><<<grid, kRefBlock, 0, stream>>>(
        d, static_cast<const float*>(x), static_cast<const float*>(w), static_cast<float*>(y));
  BOT_CUDA_CHECK_LAUNCH("conv2d_forward_reference kernel");
}

void conv2d_backward_data_reference(const ConvShape& sh, Precision p, const void* dy,
                                    const void* w, void* dx, cudaStream_t stream) {
  const Dims d = conv::make_dims(sh, "conv2d_backward_data_reference");
  conv::require_pointers("conv2d_backward_data_reference", dy, w, dx);
  const unsigned grid = ref_grid(int64_t(d.n) * d.h * d.w * d.c);
  if (p == Precision::kF16)
    backward_data_reference_kernel<__half><<<grid, kRefBlock, 0, stream>>>(
        d, static_cast<const __half*>(dy), static_cast<const __half*>(w), static_cast<__half*>(dx));
  else
    backward_data_reference_kernel<float><<<grid, kRefBlock, 0, stream>>>(
        d, static_cast<const float*>(dy), static_cast<const float*>(w), static_cast<float*>(dx));
  BOT_CUDA_CHECK_LAUNCH("conv2d_backward_data_reference kernel");
}

void conv2d_backward_filter_reference(const ConvShape& sh, Precision p, const void* x,
                                      const void* dy, float* dw, cudaStream_t stream) {
  const Dims d = conv::make_dims(sh, "conv2d_backward_filter_reference");
  conv::require_pointers("conv2d_backward_filter_reference", x, dy, dw);
  const unsigned grid = ref_grid(int64_t(d.k) * d.r * d.s * d.c);
  if (p == Precision::kF16)
    backward_filter_reference_kernel<__half><<<grid, kRefBlock, 0, stream>>>(
        d, static_cast<const __half*>(x), static_cast<const __half*>(dy), dw);
  else
    backward_filter_reference_kernel<float><<<grid, kRefBlock, 0, stream>>>(
        d, static_cast<const float*>(x), static_cast<const float*>(dy), dw);
  BOT_CUDA_CHECK_LAUNCH("conv2d_backward_filter_reference kernel");
}

}  // namespace bot::cuda
