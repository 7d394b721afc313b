#include "errors.h"

namespace botjs {

Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

void throw_error(Napi::Env env, const std::string& code, const std::string& message) {
  throw make_error(env, code, message);
}

CaughtError describe_current_exception() {
  try {
    throw;
  } catch (const bot::Error& e) {
    return {bot::code_name(e.code()), e.what()};
  } catch (const std::bad_alloc&) {
    return {"ERR_OUT_OF_MEMORY", "out of host memory"};
  } catch (const std::exception& e) {
    return {"ERR_INTERNAL", std::string("internal error: ") + e.what()};
  } catch (...) {
    return {"ERR_INTERNAL", "internal error: unknown exception"};
  }
}

}  // namespace botjs
