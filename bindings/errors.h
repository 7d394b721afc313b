// C++ exceptions -> JS errors with stable codes. Every export runs its body through
// guard(), so only Napi::Error ever reaches JS.
#pragma once
#include <napi.h>

#include <new>
#include <string>

#include "bot/status.h"

namespace botjs {

// A JS Error with a `code` property (e.g. "ERR_SHAPE").
Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message);

// Throws an ERR_ARGUMENT / ERR_SHAPE / ERR_DTYPE error from the boundary checks.
[[noreturn]] void throw_error(Napi::Env env, const std::string& code, const std::string& message);

// The code and message of whatever is being handled in a catch block.
struct CaughtError {
  std::string code;
  std::string message;
};
CaughtError describe_current_exception();

template <typename F>
Napi::Value guard(const Napi::CallbackInfo& info, F&& body) {
  Napi::Env env = info.Env();
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    CaughtError e = describe_current_exception();
    throw make_error(env, e.code, e.message);
  }
}

}  // namespace botjs
