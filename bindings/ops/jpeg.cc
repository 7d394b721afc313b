// The JPEG path and the crop/resize/turn of the data pipeline (see bot/ops/jpeg.h and
// bot/ops/resize.h).
//   jpegInfo() -> {compiled: boolean, version: string}
//   jpegDecodeAsync(bytes: Uint8Array, geometry..., dctScaling: boolean, maxPixels,
//       readToEnd: boolean, out: Uint8Array | null, lend: boolean)
//       -> Promise of {ok: true, data: Uint8Array(out_h * out_w * 3), width, height, scale}
//          or {ok: false, outcome: 'unsupported' | 'failed' | 'truncated', message}.
//       bytes are copied first, unless `lend`: then the caller lends them (and `out`, when
//       given, which must hold exactly out_h * out_w * 3 bytes and becomes `data`) to the
//       worker until the Promise settles, and must not write, transfer or read them meanwhile.
//       geometry = boxLeft, boxTop, boxWidth, boxHeight (whole pixels of the stored image),
//       gridWidth, gridHeight, winLeft, winTop, winWidth, winHeight, flop, rotate.
//   cropResize(x: Uint8Array, [H, W, 3], boxX, boxY, boxW, boxH (fractional), gridWidth,
//       gridHeight, winLeft, winTop, winWidth, winHeight, flop, rotate, reference: boolean)
//       -> {data: Uint8Array, shape: [outH, outW, 3]}: the resampler alone, fast or reference.
#include <memory>
#include <vector>

#include "args.h"
#include "async.h"
#include "bot/ops/jpeg.h"
#include "bot/ops/resize.h"
#include "errors.h"
#include "ops.h"

namespace botjs {

namespace {

constexpr int64_t kMaxSide = int64_t(1) << 20;

// Arguments first..first+9: grid, window, flop, rotate (the box is read by the caller).
void read_grid(const Napi::CallbackInfo& info, size_t i, bot::CropResizeProblem* g) {
  g->grid_w = int_arg(info, i, "gridWidth", 1, kMaxSide);
  g->grid_h = int_arg(info, i + 1, "gridHeight", 1, kMaxSide);
  g->win_x = int_arg(info, i + 2, "winLeft", 0, kMaxSide);
  g->win_y = int_arg(info, i + 3, "winTop", 0, kMaxSide);
  g->win_w = int_arg(info, i + 4, "winWidth", 1, kMaxSide);
  g->win_h = int_arg(info, i + 5, "winHeight", 1, kMaxSide);
  g->flop = bool_arg(info, i + 6, "flop");
  g->rotate = int(int_arg(info, i + 7, "rotate", 0, 270));
}

Napi::Value JpegInfo(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("compiled", bot::jpeg_compiled());
  o.Set("version", bot::jpeg_version());
  return o;
}

Napi::Value JpegDecodeAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw_error(env, "ERR_ARGUMENT", "Expected Uint8Array for bytes");
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  auto p = std::make_shared<bot::JpegDecodeProblem>();
  bot::CropResizeProblem& g = p->geometry;
  g.box_x = double(int_arg(info, 1, "boxLeft", 0, kMaxSide));
  g.box_y = double(int_arg(info, 2, "boxTop", 0, kMaxSide));
  g.box_w = double(int_arg(info, 3, "boxWidth", 1, kMaxSide));
  g.box_h = double(int_arg(info, 4, "boxHeight", 1, kMaxSide));
  read_grid(info, 5, &g);
  p->dct_scaling = bool_arg(info, 13, "dctScaling");
  p->max_pixels = int_arg(info, 14, "maxPixels", 0, int64_t(1) << 50);
  p->read_to_end = bool_arg(info, 15, "readToEnd");
  // Everything but the source, which the header gives, is checked now (throws ERR_ARGUMENT).
  bot::CropResizeProblem check = g;
  check.src_w = check.src_h = kMaxSide;
  check.src_stride = 3 * kMaxSide;
  check.box_x = check.box_y = 0;
  check.validate();
  const bool lend = bool_arg(info, 17, "lend");
  Napi::Uint8Array out;
  if (info[16].IsNull() || info[16].IsUndefined()) out = Napi::Uint8Array::New(env, size_t(g.out_bytes()));
  else out = u8_arg(info, 16, "out", g.out_bytes());
  uint8_t* dst = out.Data();
  auto keep = std::make_shared<Napi::Reference<Napi::Uint8Array>>(Napi::Persistent(out));
  // Lent bytes stay alive through the Reference; otherwise a copy the worker owns.
  std::shared_ptr<Napi::Reference<Napi::Uint8Array>> keep_in;
  std::shared_ptr<std::vector<uint8_t>> copy;
  const uint8_t* src = bytes.Data();
  const size_t size = bytes.ElementLength();
  if (lend) {
    keep_in = std::make_shared<Napi::Reference<Napi::Uint8Array>>(Napi::Persistent(bytes));
  } else {
    copy = std::make_shared<std::vector<uint8_t>>(src, src + size);
    src = copy->data();
  }
  auto result = std::make_shared<bot::JpegResult>();
  return OpWorker::Start(
      env, [p, copy, src, size, dst, result] { *result = bot::jpeg_decode_crop_resize(*p, src, size, dst); },
      [p, keep, keep_in, result](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("ok", result->outcome == bot::JpegOutcome::kOk);
        if (result->outcome == bot::JpegOutcome::kOk) {
          o.Set("data", keep->Value());
          o.Set("width", double(p->geometry.out_w()));
          o.Set("height", double(p->geometry.out_h()));
          o.Set("scale", result->scale_eighths / 8.0);
        } else {
          o.Set("outcome", result->outcome == bot::JpegOutcome::kUnsupported ? "unsupported"
                           : result->outcome == bot::JpegOutcome::kTruncated ? "truncated"
                                                                               : "failed");
          o.Set("message", result->message);
        }
        return o;
      });
}

Napi::Value CropResize(const Napi::CallbackInfo& info) {
  bot::Shape s = shape_arg(info, 1, "shape", 3);
  if (s[2] != 3)
    throw_error(info.Env(), "ERR_SHAPE", "Expected 3 channels (RGB) in shape[2] but received " + std::to_string(s[2]));
  Napi::Uint8Array x = u8_arg(info, 0, "x", s[0] * s[1] * 3);
  bot::CropResizeProblem g;
  g.src_h = s[0], g.src_w = s[1], g.src_stride = 3 * s[1];
  g.box_x = number_arg(info, 2, "boxX");
  g.box_y = number_arg(info, 3, "boxY");
  g.box_w = number_arg(info, 4, "boxW");
  g.box_h = number_arg(info, 5, "boxH");
  read_grid(info, 6, &g);
  const bool reference = bool_arg(info, 14, "reference");
  g.validate();
  Napi::Uint8Array y = Napi::Uint8Array::New(info.Env(), size_t(g.out_bytes()));
  if (reference) {
    bot::crop_resize_reference(g, x.Data(), y.Data());
  } else {
    bot::CropResizeScratch scratch;
    bot::crop_resize_u8(g, x.Data(), y.Data(), &scratch);
  }
  return tensor_value(info.Env(), y, {g.out_h(), g.out_w(), 3});
}

}  // namespace

void InitJpegOps(Napi::Env env, Napi::Object ops) {
  SetOp(env, ops, "jpegInfo", JpegInfo);
  SetOp(env, ops, "jpegDecodeAsync", JpegDecodeAsync);
  SetOp(env, ops, "cropResize", CropResize);
}

}  // namespace botjs
