// CPU-only build: every op of the CUDA backend (bot/cuda_ops.h) throws
// ERR_CUDA_UNAVAILABLE with the reason cuda_info() gives.
#include "bot/cuda.h"
#include "bot/cuda_ops.h"
#include "bot/status.h"

namespace bot::cuda {

namespace {
[[noreturn]] void unavailable() { fail(Code::kCudaUnavailable, cuda_info().reason); }
}  // namespace

void conv2d_forward(const Conv2dProblem&, const float*, const float*, float*, ConvOptions) { unavailable(); }
void conv2d_backward_data(const Conv2dProblem&, const float*, const float*, float*, ConvOptions) { unavailable(); }
void conv2d_backward_filter(const Conv2dProblem&, const float*, const float*, float*, ConvOptions) { unavailable(); }

void batchnorm_forward_train(const BatchNormProblem&, const float*, const float*, const float*, float*, float*,
                             float*, float*, float*) {
  unavailable();
}
void batchnorm_forward_infer(const BatchNormProblem&, const float*, const float*, const float*, const float*,
                             const float*, float*) {
  unavailable();
}
void batchnorm_backward(const BatchNormProblem&, const float*, const float*, const float*, const float*,
                        const float*, bool, float*, float*, float*, const float*) {
  unavailable();
}

void maxpool2d_forward(const Pool2dProblem&, const float*, float*) { unavailable(); }
void maxpool2d_backward(const Pool2dProblem&, const float*, const float*, float*) { unavailable(); }
void avgpool2d_forward(const Pool2dProblem&, const float*, float*) { unavailable(); }
void avgpool2d_backward(const Pool2dProblem&, const float*, float*) { unavailable(); }
void global_avgpool_forward(int64_t, int64_t, int64_t, const float*, float*) { unavailable(); }
void global_avgpool_backward(int64_t, int64_t, int64_t, const float*, float*) { unavailable(); }

void relu_forward(int64_t, const float*, float*) { unavailable(); }
void relu_backward(int64_t, const float*, const float*, float*) { unavailable(); }
void add_forward(int64_t, const float*, const float*, float*) { unavailable(); }
void add_relu_forward(int64_t, const float*, const float*, float*) { unavailable(); }

void linear_forward(const LinearProblem&, const float*, const float*, const float*, float*) { unavailable(); }
void linear_backward(const LinearProblem&, const float*, const float*, const float*, float*, float*, float*) {
  unavailable();
}

double cross_entropy_hard(const CrossEntropyProblem&, const float*, const int32_t*, float*) { unavailable(); }
double cross_entropy_soft(const CrossEntropyProblem&, const float*, const float*, float*) { unavailable(); }

void sgd_step(const SgdParams&, int64_t, float*, const float*, float*) { unavailable(); }
bool sgd_step_multi(const SgdParams&, const std::vector<SgdTensor>&, bool) { unavailable(); }

void f32_to_f16(int64_t, const float*, uint16_t*) { unavailable(); }
void f16_to_f32(int64_t, const uint16_t*, float*) { unavailable(); }

void allocate_probe(int64_t) { unavailable(); }

}  // namespace bot::cuda
