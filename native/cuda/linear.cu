// Fully connected layer on the device, PyTorch layout (semantics in bot/ops/linear.h):
//
//   forward   y  (N, OUT) = x (N, IN) * w^T (IN, OUT) + b (OUT)
//   backward  dx (N, IN)  = dy (N, OUT) * w (OUT, IN)
//             dw (OUT, IN) = dy^T (OUT, N) * x (N, IN)
//             db (OUT)     = sum_n dy           (double, in row order, as the CPU op)
//
// All three products run on one simple tiled SGEMM, C (M, N) = sum_k A(m, k) B(k, n), with
// A and B addressed through element strides so no transpose is ever materialised. A
// 16x16 thread block stages 16x16 tiles of A and B in shared memory; FP32 accumulation.
// (The classifier is < 1% of a ResNet's FLOPs: simple and correct beats fast here.)
//
// FP16 storage: x, y, dx and dy may also be __half (w, b, dw, db stay float). The GEMM is
// ONE kernel template over the element types of A, B and C: elements are widened to FP32
// as they are staged (the tiles in shared memory are FP32 for every instantiation), the
// products and sums are the float kernel's, and C is rounded once when stored. The column
// sum for db is likewise a template over dy's type. For float the helpers are the
// identity, so the float kernels compile to what they were. The instantiations:
//   forward  y  = x * w^T + b    A __half, B float,  C __half
//   backward dx = dy * w         A __half, B float,  C __half
//            dw = dy^T * x       A __half, B __half, C float
//
// The *_device launchers (bot/cuda/kernels.cuh) run on device memory; the host-memory ops
// of bot/cuda_ops.h wrap them (copy in, launch, copy out, synchronise). Those stay FP32.
#include <cuda_fp16.h>

#include "bot/cuda/kernels.cuh"
#include "bot/cuda/runtime.cuh"
#include "bot/cuda_ops.h"
#include "bot/status.h"

namespace bot::cuda {

namespace {

constexpr int kTile = 16;  // 16x16 = 256 threads, one output each; tiles of 1 KiB in smem

// A(m, k) = a[m * a_m + k * a_k], B(k, n) = b[k * b_k + n * b_n]; C row-major (M, N).
// bias (N, FP32) or null is added to every row. TA, TB, TC: the stored types of A, B, C.
template <typename TA, typename TB, typename TC>
__global__ void gemm_kernel(int64_t M, int64_t N, int64_t K, const TA* __restrict__ a, int64_t a_m, int64_t a_k,
                            const TB* __restrict__ b, int64_t b_k, int64_t b_n, const float* __restrict__ bias,
                            TC* __restrict__ c) {
  __shared__ float ta[kTile][kTile + 1];  // +1: no bank conflicts on the transposed read
  __shared__ float tb[kTile][kTile + 1];
  const int64_t row = int64_t(blockIdx.y) * kTile + threadIdx.y;
  const int64_t col = int64_t(blockIdx.x) * kTile + threadIdx.x;
  float acc = 0.0f;
  for (int64_t k0 = 0; k0 < K; k0 += kTile) {
    const int64_t ka = k0 + threadIdx.x, kb = k0 + threadIdx.y;
    ta[threadIdx.y][threadIdx.x] = (row < M && ka < K) ? widen(a[row * a_m + ka * a_k]) : 0.0f;
    tb[threadIdx.y][threadIdx.x] = (kb < K && col < N) ? widen(b[kb * b_k + col * b_n]) : 0.0f;
    __syncthreads();
    for (int k = 0; k < kTile; ++k) acc += ta[threadIdx.y][k] * tb[k][threadIdx.x];
    __syncthreads();
  }
  if (row < M && col < N) store(c + row * N + col, acc + (bias != nullptr ? bias[col] : 0.0f));
}

// db[o] = sum_n dy[n, o], one thread per output feature, rows in order. T: dy's type.
template <typename T>
__global__ void column_sum_kernel(int64_t n, int64_t out, const T* __restrict__ dy, float* __restrict__ db) {
  const int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (o >= out) return;
  double acc = 0.0;
  for (int64_t i = 0; i < n; ++i) acc += double(widen(dy[i * out + o]));
  db[o] = float(acc);
}

template <typename TA, typename TB, typename TC>
void gemm(cudaStream_t st, int64_t M, int64_t N, int64_t K, const TA* a, int64_t a_m, int64_t a_k,
          const TB* b, int64_t b_k, int64_t b_n, const float* bias, TC* c) {
  BOT_CHECK(M <= int64_t(kTile) * 65535, Code::kShape, "linear: too many rows for one launch");
  const dim3 grid(ceil_div(N, kTile), ceil_div(M, kTile));
  gemm_kernel<TA, TB, TC><<<grid, dim3(kTile, kTile), 0, st>>>(M, N, K, a, a_m, a_k, b, b_k, b_n, bias, c);
  BOT_CUDA_CHECK_LAUNCH("gemm_kernel");
}

// The launchers, once per activation type T (x, y, dx, dy); the public overloads below
// forward to them, so the validation of both storages is the same code.
template <typename T>
void linear_forward_launch(const LinearProblem& p, const T* x, const float* w, const float* b, T* y,
                           cudaStream_t st) {
  p.validate();
  // y (n, out): A = x (m = n, k = in), B(k = i, n = o) = w[o * in + i]
  gemm(st, p.n, p.out, p.in, x, p.in, 1, w, 1, p.in, b, y);
}

template <typename T>
void linear_backward_launch(const LinearProblem& p, const T* x, const float* w, const T* dy, T* dx, float* dw,
                            float* db, cudaStream_t st) {
  p.validate();
  // dx (n, in): A = dy (m = n, k = o), B(k = o, n = i) = w[o * in + i]
  if (dx != nullptr) gemm(st, p.n, p.in, p.out, dy, p.out, 1, w, p.in, 1, nullptr, dx);
  // dw (out, in): A(m = o, k = n) = dy[n * out + o], B(k = n, n = i) = x[n * in + i]
  if (dw != nullptr) gemm(st, p.out, p.in, p.n, dy, 1, p.out, x, p.in, 1, nullptr, dw);
  if (db != nullptr) {
    constexpr int kBlock = 128;  // one thread per output feature
    column_sum_kernel<T><<<ceil_div(p.out, kBlock), kBlock, 0, st>>>(p.n, p.out, dy, db);
    BOT_CUDA_CHECK_LAUNCH("column_sum_kernel");
  }
}

size_t floats(int64_t n) { return sizeof(float) * size_t(n); }

}  // namespace

// --- device-memory launchers (bot/cuda/kernels.cuh) -------------------------------------

void linear_forward_device(const LinearProblem& p, const float* x, const float* w, const float* b, float* y,
                           cudaStream_t st) {
  linear_forward_launch(p, x, w, b, y, st);
}

void linear_backward_device(const LinearProblem& p, const float* x, const float* w, const float* dy, float* dx,
                            float* dw, float* db, cudaStream_t st) {
  linear_backward_launch(p, x, w, dy, dx, dw, db, st);
}

// --- FP16 storage (the same kernels; x, y, dx, dy __half) --------------------------------

void linear_forward_device(const LinearProblem& p, const __half* x, const float* w, const float* b, __half* y,
                           cudaStream_t st) {
  linear_forward_launch(p, x, w, b, y, st);
}

void linear_backward_device(const LinearProblem& p, const __half* x, const float* w, const __half* dy,
                            __half* dx, float* dw, float* db, cudaStream_t st) {
  linear_backward_launch(p, x, w, dy, dx, dw, db, st);
}

// --- host-memory ops (bot/cuda_ops.h) ---------------------------------------------------

void linear_forward(const LinearProblem& p, const float* x, const float* w, const float* b, float* y) {
  p.validate();
  cudaStream_t st = stream();
  DeviceBuffer d_x = to_device(x, floats(p.n * p.in));
  DeviceBuffer d_w = to_device(w, floats(p.out * p.in));
  DeviceBuffer d_b = b != nullptr ? to_device(b, floats(p.out)) : DeviceBuffer();
  DeviceBuffer d_y(floats(p.n * p.out));
  linear_forward_device(p, d_x.as<float>(), d_w.as<float>(), d_b.as<float>(), d_y.as<float>(), st);
  copy_to_host(y, d_y.get(), d_y.bytes());
  synchronize();
}

void linear_backward(const LinearProblem& p, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db) {
  p.validate();
  cudaStream_t st = stream();
  DeviceBuffer d_dy = to_device(dy, floats(p.n * p.out));
  // Only what the wanted outputs read is copied in: w for dx, x for dw.
  DeviceBuffer d_w = dx != nullptr ? to_device(w, floats(p.out * p.in)) : DeviceBuffer();
  DeviceBuffer d_x = dw != nullptr ? to_device(x, floats(p.n * p.in)) : DeviceBuffer();
  DeviceBuffer d_dx(dx != nullptr ? floats(p.n * p.in) : 0);
  DeviceBuffer d_dw(dw != nullptr ? floats(p.out * p.in) : 0);
  DeviceBuffer d_db(db != nullptr ? floats(p.out) : 0);
  linear_backward_device(p, d_x.as<float>(), d_w.as<float>(), d_dy.as<float>(), d_dx.as<float>(),
                         d_dw.as<float>(), d_db.as<float>(), st);
  if (dx != nullptr) copy_to_host(dx, d_dx.get(), d_dx.bytes());
  if (dw != nullptr) copy_to_host(dw, d_dw.get(), d_dw.bytes());
  if (db != nullptr) copy_to_host(db, d_db.get(), d_db.bytes());
  synchronize();
}

}  // namespace bot::cuda
