// Runs a native op on the libuv thread pool and settles a Promise. The work lambda must
// only touch memory it owns (inputs are copied off the JS heap before queueing, so a
// caller that mutates or transfers its arrays meanwhile cannot break the op); the done
// lambda runs back on the JS thread and builds the result.
#pragma once
#include <napi.h>

#include <functional>
#include <string>
#include <utility>

#include "errors.h"

namespace botjs {

class OpWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;

  static Napi::Promise Start(Napi::Env env, Work work, Done done) {
    auto* w = new OpWorker(env, std::move(work), std::move(done));
    Napi::Promise promise = w->deferred_.Promise();
    w->Queue();
    return promise;
  }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (...) {
      CaughtError e = describe_current_exception();
      code_ = e.code;
      SetError(e.message);
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(done_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    deferred_.Reject(make_error(Env(), code_, e.Message()).Value());
  }

 private:
  OpWorker(Napi::Env env, Work work, Done done)
      : Napi::AsyncWorker(env, "bagoftricks:op"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        done_(std::move(done)) {}

  Napi::Promise::Deferred deferred_;
  Work work_;
  Done done_;
  std::string code_ = "ERR_INTERNAL";
};

}  // namespace botjs
