// ops.gemm / ops.gemmAsync: C = alpha * op(A) op(B) (+ beta * C), contiguous row-major.
//   gemm(a, b, m, n, k, transA, transB, alpha, beta, c?) -> Float32Array (M*N)
#include <cstring>
#include <memory>
#include <vector>

#include "args.h"
#include "async.h"
#include "bot/ops/gemm.h"
#include "ops.h"

namespace botjs {

namespace {

struct GemmArgs {
  bot::GemmProblem p;
  Napi::Float32Array a, b, c;
};

GemmArgs read_gemm(const Napi::CallbackInfo& info) {
  GemmArgs g;
  int64_t m = int_arg(info, 2, "m", 1, kMaxElements);
  int64_t n = int_arg(info, 3, "n", 1, kMaxElements);
  int64_t k = int_arg(info, 4, "k", 1, kMaxElements);
  bool ta = bool_arg(info, 5, "transA");
  bool tb = bool_arg(info, 6, "transB");
  double alpha = number_arg(info, 7, "alpha");
  double beta = number_arg(info, 8, "beta");
  checked_numel(info.Env(), {m, k}, "a");
  checked_numel(info.Env(), {k, n}, "b");
  checked_numel(info.Env(), {m, n}, "c");
  g.p = bot::gemm_problem(m, n, k, ta, tb, float(alpha), float(beta));
  g.a = f32_arg(info, 0, "a", m * k);
  g.b = f32_arg(info, 1, "b", k * n);
  if (beta != 0.0) g.c = f32_arg(info, 9, "c", m * n);
  return g;
}

Napi::Value Gemm(const Napi::CallbackInfo& info) {
  GemmArgs g = read_gemm(info);
  Napi::Float32Array out = new_f32(info.Env(), g.p.m * g.p.n);
  if (!g.c.IsEmpty()) std::memcpy(out.Data(), g.c.Data(), sizeof(float) * g.p.m * g.p.n);
  bot::sgemm(g.p, g.a.Data(), g.b.Data(), out.Data());
  return out;
}

Napi::Value GemmAsync(const Napi::CallbackInfo& info) {
  GemmArgs g = read_gemm(info);
  auto a = std::make_shared<std::vector<float>>(g.a.Data(), g.a.Data() + g.a.ElementLength());
  auto b = std::make_shared<std::vector<float>>(g.b.Data(), g.b.Data() + g.b.ElementLength());
  auto c = std::make_shared<std::vector<float>>(size_t(g.p.m * g.p.n));
  if (!g.c.IsEmpty()) std::memcpy(c->data(), g.c.Data(), sizeof(float) * c->size());
  bot::GemmProblem p = g.p;
  return OpWorker::Start(
      info.Env(), [p, a, b, c] { bot::sgemm(p, a->data(), b->data(), c->data()); },
      [c](Napi::Env env) -> Napi::Value {
        Napi::Float32Array out = new_f32(env, int64_t(c->size()));
        std::memcpy(out.Data(), c->data(), sizeof(float) * c->size());
        return out;
      });
}

Napi::Value GemmReference(const Napi::CallbackInfo& info) {
  GemmArgs g = read_gemm(info);
  Napi::Float32Array out = new_f32(info.Env(), g.p.m * g.p.n);
  if (!g.c.IsEmpty()) std::memcpy(out.Data(), g.c.Data(), sizeof(float) * g.p.m * g.p.n);
  bot::sgemm_reference(g.p, g.a.Data(), g.b.Data(), out.Data());
  return out;
}

}  // namespace

void InitGemmOps(Napi::Env env, Napi::Object ops) {
  SetOp(env, ops, "gemm", Gemm);
  SetOp(env, ops, "gemmAsync", GemmAsync);
  SetOp(env, ops, "gemmReference", GemmReference);
}

}  // namespace botjs
