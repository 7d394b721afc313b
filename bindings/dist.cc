// The `dist` export: the process group of a data-parallel run (bot/dist.h).
//
//   built() -> boolean                 the addon was built with MPI
//   library() -> string                MPI's version string ("" without MPI)
//   init(timeoutSeconds) -> { rank, size, library }   MPI_Init on the first call
//   setTimeout(seconds)
//   allreduce(Float64Array, 'sum' | 'min' | 'max') -> Promise<Float64Array>  (a copy, reduced)
//   barrier() -> Promise<void>
//   abort(code)                        ends every rank of the job (MPI_Abort)
//   finalize()                         MPI_Finalize (once; later calls do nothing)
#include "dist.h"

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
  SetOp(env, dist, "abort", Abort);
  SetOp(env, dist, "finalize", Finalize);
}

}  // namespace botjs
