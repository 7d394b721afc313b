// Softmax cross-entropy over logits (N, K), averaged over the batch.
//
// Hard labels with label smoothing eps (the Bag-of-Tricks paper's definition, section
// 5.2): the target q puts 1 - eps on the true class and eps / (K - 1) on every other
// class. (timm and PyTorch's label_smoothing spread eps / K over all K classes instead,
// so their true class gets 1 - eps + eps/K.) eps = 0 is the plain one-hot loss.
// Soft targets: q is given per row (mixup, distillation); rows must be distributions.
//
//   loss = -1/N * sum_n sum_k q[n,k] * log softmax(z)[n,k]
//   dz   = (softmax(z) - q) / N          (written when dlogits is not null)
// The log-sum-exp is computed in double with the max subtracted: finite for any finite
// logits.
#pragma once
#include <cstdint>

namespace bot {

struct CrossEntropyProblem {
  int64_t n = 0, classes = 0;
  float smoothing = 0.0f;  // hard labels only, in [0, 1)
  void validate() const;
};

// labels: n ints in [0, classes); throws ERR_ARGUMENT on an out-of-range label.
double cross_entropy_hard(const CrossEntropyProblem& p, const float* logits,
                          const int32_t* labels, float* dlogits);
// targets: (N, K) row distributions.
double cross_entropy_soft(const CrossEntropyProblem& p, const float* logits,
                          const float* targets, float* dlogits);

// The knowledge-distillation term of the Bag-of-Tricks paper (section 5.4, Hinton et al.
// 2015): with q = softmax(r / T) of the teacher's logits r and p_T = softmax(z / T),
//   loss  = T^2 * (-1/N) * sum_n sum_k q[n,k] * log p_T[n,k]
//   dz   += T * (p_T - q) / N        (ADDED to dlogits when it is not null)
// so the hard-label loss and this one are summed by calling both. T > 0.
double cross_entropy_distill(const CrossEntropyProblem& p, const float* logits,
                             const float* teacher_logits, float temperature, float* dlogits);
// The argument checks of the functions above, for backends that compute the loss
// elsewhere (the CUDA Net): every label in [0, classes); every target finite and >= 0; a
// finite temperature > 0.
void cross_entropy_check_labels(const CrossEntropyProblem& p, const int32_t* labels);
void cross_entropy_check_targets(const CrossEntropyProblem& p, const float* targets);
void cross_entropy_check_temperature(float temperature);

}  // namespace bot
