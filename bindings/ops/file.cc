// Files and checksums for packed data sets.
//   mapFile(path: string) -> ArrayBuffer over the whole file, mapped (MAP_PRIVATE: writes stay
//       in this process); unmapped when the ArrayBuffer is garbage-collected.
//   crc32(x: Uint8Array) -> number: CRC-32 (zlib's) of the bytes.
//   crc32Reference(x: Uint8Array) -> number: the bit-at-a-time oracle.
#include <memory>
#include <string>

#include "args.h"
#include "bot/mapped_file.h"
#include "bot/ops/crc32.h"
#include "errors.h"
#include "ops.h"

namespace botjs {

namespace {

Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_error(env, "ERR_ARGUMENT", "Expected string for path");
  auto* file = new bot::MappedFile(info[0].As<Napi::String>().Utf8Value());
  if (file->size() == 0) {
    delete file;
    return Napi::ArrayBuffer::New(env, 0);
  }
  return Napi::ArrayBuffer::New(env, file->data(), file->size(),
                                [](Napi::Env, void*, bot::MappedFile* f) { delete f; }, file);
}

Napi::Uint8Array bytes_arg(const Napi::CallbackInfo& info) {
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw_error(info.Env(), "ERR_ARGUMENT", "Expected Uint8Array for x");
  return info[0].As<Napi::Uint8Array>();
}

Napi::Value Crc32(const Napi::CallbackInfo& info) {
  Napi::Uint8Array x = bytes_arg(info);
  return Napi::Number::New(info.Env(), bot::crc32(x.Data(), x.ElementLength()));
}

Napi::Value Crc32Reference(const Napi::CallbackInfo& info) {
  Napi::Uint8Array x = bytes_arg(info);
  return Napi::Number::New(info.Env(), bot::crc32_reference(x.Data(), x.ElementLength()));
}

}  // namespace

void InitFileOps(Napi::Env env, Napi::Object ops) {
  SetOp(env, ops, "mapFile", MapFile);
  SetOp(env, ops, "crc32", Crc32);
  SetOp(env, ops, "crc32Reference", Crc32Reference);
}

}  // namespace botjs
