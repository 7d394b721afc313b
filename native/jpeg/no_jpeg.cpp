// Build without libjpeg-turbo: the JPEG path reports itself unsupported, and the data
// pipeline decodes every image with sharp.
#include "bot/ops/jpeg.h"

namespace bot {

bool jpeg_compiled() { return false; }

const char* jpeg_version() { return ""; }

JpegResult jpeg_decode_crop_resize(const JpegDecodeProblem& p, const uint8_t*, size_t, uint8_t*) {
  JpegResult r;
  r.outcome = JpegOutcome::kUnsupported;
  r.message = "built without libjpeg-turbo";
  return r;
}

}  // namespace bot
