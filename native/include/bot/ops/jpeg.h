// JPEG decoding with libjpeg-turbo, straight into the crop, resize and turn of the data
// pipeline (bot/ops/resize.h), without decoding more of the image than the output needs:
//
// - DCT-domain scaling: libjpeg-turbo can run its inverse DCT at 1/8, 1/4 or 1/2 size; the
//   smallest of 1/8, 1/4, 1/2, 1 at which the box still has at least grid_w x grid_h pixels
//   is used, so the resize after it shrinks by less than 2 and no detail the output can
//   show is lost. A 12 MP photo cropped to 224 x 224 is decoded at 1/8 or 1/4.
// - Only the box's rows and columns: the rows above it are skipped (entropy-decoded, no
//   IDCT), the columns outside it are cut to the nearest iMCU (jpeg_crop_scanline).
// - The rows below the box are not decoded (libvips does not decode them either for a crop):
//   the stream is only checked to end with an EOI marker, so a cut file is kTruncated
//   whatever the box (libvips notices a cut only when the box reaches it). With read_to_end
//   the rest is entropy-decoded and the stream read to its EOI, so damage anywhere is seen.
//
// Any libjpeg error or warning (corrupt data, a premature end) is kFailed: the caller decodes
// the file with its general decoder (sharp), which gives the error the pipeline reports. A
// stream this path does not handle (CMYK, YCCK, more than 3 components, tables only) is
// kUnsupported before a pixel is decoded. Colour: YCbCr -> RGB by libjpeg (BT.601, full range,
// fancy upsampling, the accurate integer IDCT: libvips' settings), grey expanded to RGB.
// Embedded ICC profiles are the caller's business.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "bot/ops/resize.h"

namespace bot {

struct JpegDecodeProblem {
  // The box, grid, window and turn of a CropResizeProblem, with the box in whole pixels of
  // the stored (full-size, not yet oriented) image. src_* are filled in by the decoder.
  CropResizeProblem geometry;
  bool dct_scaling = true;    // false: always decode at full size (for tests and comparisons)
  bool read_to_end = false;   // entropy-decode the rows below the box too (see above)
  int64_t max_pixels = 0;     // width x height above this is kFailed (0: no limit)
};

enum class JpegOutcome { kOk, kUnsupported, kFailed, kTruncated };

struct JpegResult {
  JpegOutcome outcome = JpegOutcome::kFailed;
  std::string message;   // libjpeg's message for kFailed, the reason otherwise
  int scale_eighths = 8;  // the DCT scale used, in eighths (1, 2, 4 or 8)
};

// True when the core was built with libjpeg-turbo (else jpeg_decode_crop_resize is
// always kUnsupported).
bool jpeg_compiled();
// libjpeg-turbo's version as "2.1.5", or "" when not compiled in.
const char* jpeg_version();

// Decodes `size` bytes at `data` into out (p.geometry.out_bytes() bytes). Never throws on bad
// data (only on a bad problem: ERR_ARGUMENT); reuses per-thread buffers.
JpegResult jpeg_decode_crop_resize(const JpegDecodeProblem& p, const uint8_t* data, size_t size,
                                   uint8_t* out);

}  // namespace bot
