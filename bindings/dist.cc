// The `dist` export: the process group of a data-parallel run (bot/dist.h).
//
//   built() -> boolean                 the addon was built with MPI
//   library() -> string                MPI's version string ("" without MPI)
//   init(timeoutSeconds) -> { rank, size, library }   MPI_Init on the first call
//   setTimeout(seconds)
//   allreduce(Float64Array, 'sum' | 'min' | 'max') -> Promise<Float64Array>  (a copy, reduced)
//   barrier() -> Promise<void>
//   timeAllreduce(bucketNumel: number[]) -> Promise<number>   seconds to sum buckets of
//                                      these sizes over the ranks with nothing else running
//                                      (started together, then waited for: the transport alone)
//   abort(code)                        ends every rank of the job (MPI_Abort)
//   finalize()                         MPI_Finalize (once; later calls do nothing)
#include "dist.h"

#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "args.h"
#include "async.h"
#include "errors.h"
#include "ops.h"

namespace botjs {

namespace {

std::mutex g_mutex;
std::shared_ptr<bot::dist::Comm> g_world;

Napi::Value Built(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), bot::dist::mpi_built());
}

Napi::Value Library(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), bot::dist::mpi_library_version());
}

Napi::Value Init(const Napi::CallbackInfo& info) {
  const double timeout = number_arg(info, 0, "timeoutSeconds");
  if (!(timeout > 0)) throw_error(info.Env(), "ERR_ARGUMENT", "Expected a number > 0 for timeoutSeconds");
  std::shared_ptr<bot::dist::Comm> comm;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!g_world) g_world = bot::dist::world(timeout);
    g_world->set_timeout_seconds(timeout);
    comm = g_world;
  }
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("rank", comm->rank());
  o.Set("size", comm->size());
  o.Set("library", comm->library());
  return o;
}

Napi::Value SetTimeout(const Napi::CallbackInfo& info) {
  const double timeout = number_arg(info, 0, "seconds");
  if (!(timeout > 0)) throw_error(info.Env(), "ERR_ARGUMENT", "Expected a number > 0 for seconds");
  world_comm(info.Env())->set_timeout_seconds(timeout);
  return info.Env().Undefined();
}

Napi::Value Allreduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto comm = world_comm(env);
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw_error(env, "ERR_DTYPE", "Expected Float64Array for data");
  Napi::Float64Array a = info[0].As<Napi::Float64Array>();
  if (a.ElementLength() > (size_t(1) << 20)) throw_error(env, "ERR_ARGUMENT", "Expected at most 2^20 values for data");
  const std::string op = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  bot::dist::ReduceOp rop;
  if (op == "sum") rop = bot::dist::ReduceOp::kSum;
  else if (op == "min") rop = bot::dist::ReduceOp::kMin;
  else if (op == "max") rop = bot::dist::ReduceOp::kMax;
  else throw_error(env, "ERR_ARGUMENT", "Expected 'sum', 'min' or 'max' for op");
  auto values = std::make_shared<std::vector<double>>(a.Data(), a.Data() + a.ElementLength());
  return OpWorker::Start(
      env, [comm, values, rop] { comm->allreduce(values->data(), int(values->size()), rop); },
      [values](Napi::Env e) -> Napi::Value {
        Napi::Float64Array out = Napi::Float64Array::New(e, values->size());
        if (!values->empty()) std::memcpy(out.Data(), values->data(), values->size() * sizeof(double));
        return out;
      });
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  auto comm = world_comm(info.Env());
  return OpWorker::Start(
      info.Env(), [comm] { comm->barrier(); }, [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
}

Napi::Value TimeAllreduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto comm = world_comm(env);
  if (info.Length() < 1 || !info[0].IsArray()) throw_error(env, "ERR_ARGUMENT", "Expected an array of bucket sizes");
  Napi::Array a = info[0].As<Napi::Array>();
  auto sizes = std::make_shared<std::vector<int64_t>>();
  int64_t total = 0;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value v = a.Get(i);
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 1 && d <= double(1 << 30)) || d != double(int64_t(d))) throw_error(env, "ERR_ARGUMENT", "Expected bucket sizes in [1, 2^30]");
    sizes->push_back(int64_t(d));
    total += int64_t(d);
  }
  if (total > (int64_t(1) << 31)) throw_error(env, "ERR_ARGUMENT", "Expected at most 2^31 floats in all");
  auto seconds = std::make_shared<double>(0);
  return OpWorker::Start(
      env,
      [comm, sizes, seconds] {
        std::vector<std::vector<float>> buffers;
        for (int64_t n : *sizes) buffers.emplace_back(size_t(n), 1.0f);
        comm->barrier();
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<int> handles;
        for (auto& b : buffers) handles.push_back(comm->start_sum(b.data(), int64_t(b.size())));
        for (int h : handles) comm->wait(h);
        *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      },
      [seconds](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *seconds); });
}

Napi::Value Abort(const Napi::CallbackInfo& info) {
  const int64_t code = int_arg(info, 0, "code", 1, 255);
  world_comm(info.Env())->abort(int(code));
  return info.Env().Undefined();  // not reached: abort() ends the process
}

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  bot::dist::finalize();
  return info.Env().Undefined();
}

}  // namespace

std::shared_ptr<bot::dist::Comm> world_comm(Napi::Env env) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_world) throw_error(env, "ERR_ARGUMENT", "no process group: call dist.init() first");
  return g_world;
}

void InitDist(Napi::Env env, Napi::Object dist) {
  SetOp(env, dist, "built", Built);
  SetOp(env, dist, "library", Library);
  SetOp(env, dist, "init", Init);
  SetOp(env, dist, "setTimeout", SetTimeout);
  SetOp(env, dist, "allreduce", Allreduce);
  SetOp(env, dist, "barrier", Barrier);
  SetOp(env, dist, "timeAllreduce", TimeAllreduce);
  SetOp(env, dist, "abort", Abort);
  SetOp(env, dist, "finalize", Finalize);
}

}  // namespace botjs
