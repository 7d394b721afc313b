// JPEG decoding with libjpeg-turbo into the pipeline's crop/resize/turn (see bot/ops/jpeg.h).
//
// libjpeg reports errors through a callback that must not return: error_exit and warnings
// longjmp back to decode_box(), which therefore holds no object with a destructor between
// its setjmp and the libjpeg calls (the row buffer is thread-local and outlives the jump).
#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <jpeglib.h>

#include "bot/ops/jpeg.h"
#include "bot/status.h"

namespace bot {

namespace {

struct ErrorManager {
  jpeg_error_mgr pub;  // first: libjpeg casts cinfo->err back to this
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr cinfo) {
  auto* e = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, e->message);
  longjmp(e->jump, 1);
}

// level -1 is a warning (corrupt data, a premature end): treated as an error, since the
// pipeline's default (sharp's failOn 'warning') rejects such files. Trace levels are ignored.
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_error(cinfo);
}

// Buffers one decoding thread reuses from image to image.
struct ThreadBuffers {
  std::vector<uint8_t> rows;  // the decoded rows of the box, cropped to whole iMCUs
  std::vector<uint8_t> last_row;  // read_to_end: the image's last row, read and dropped
  CropResizeScratch resize;
};
thread_local ThreadBuffers buffers;

// Where the box lies in the scaled output and which rows to read; filled by decode_box.
struct Decoded {
  JDIMENSION x0 = 0, width = 0;  // the columns decoded (after jpeg_crop_scanline)
  JDIMENSION y0 = 0, height = 0;  // the rows kept
  double sx = 1, sy = 1;          // scaled size / full size, per axis
  int eighths = 8;
};

// Whether an EOI marker (FF D9) follows the first scan header. The header segments are
// walked by their lengths; in entropy-coded data an FF is always followed by 00 or a restart
// marker, so an FF D9 after the scan header can only be the end of the image (of the last
// scan, for a progressive file). The search runs back from the end: a whole file costs a
// few bytes, a cut one a pass over its data.
bool ends_with_eoi(const uint8_t* b, size_t size) {
  size_t i = 2;
  while (i + 4 <= size) {
    if (b[i] != 0xFF) return false;
    const uint8_t m = b[i + 1];
    if (m == 0xFF) { ++i; continue; }
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) { i += 2; continue; }
    if (m == 0xD9) return false;
    const size_t end = i + 2 + ((size_t(b[i + 2]) << 8) | b[i + 3]);
    if (end > size) return false;
    if (m == 0xDA) {
      for (size_t k = size; k >= end + 2; --k)
        if (b[k - 2] == 0xFF && b[k - 1] == 0xD9) return true;
      return false;
    }
    i = end;
  }
  return false;
}

// Smallest of 1/8, 1/4, 1/2, 1 at which the box keeps at least the grid's pixels.
int choose_eighths(const CropResizeProblem& g, bool scaling) {
  if (!scaling) return 8;
  for (int m : {1, 2, 4}) {
    if (g.box_w * m / 8.0 >= double(g.grid_w) && g.box_h * m / 8.0 >= double(g.grid_h)) return m;
  }
  return 8;
}

// 0: decoded; 1: libjpeg failed, 2: unsupported (the message in err).
int decode_box(jpeg_decompress_struct* cinfo, ErrorManager* err, const JpegDecodeProblem& p,
               const uint8_t* data, size_t size, Decoded* d) {
  if (setjmp(err->jump)) return 1;
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  if (jpeg_read_header(cinfo, TRUE) != JPEG_HEADER_OK) {
    std::snprintf(err->message, sizeof err->message, "no image in the stream (tables only)");
    return 1;
  }
  const CropResizeProblem& g = p.geometry;
  if (cinfo->num_components == 3 ? !(cinfo->jpeg_color_space == JCS_YCbCr || cinfo->jpeg_color_space == JCS_RGB)
                                 : !(cinfo->num_components == 1 && cinfo->jpeg_color_space == JCS_GRAYSCALE)) {
    std::snprintf(err->message, sizeof err->message, "colour space %d with %d components", int(cinfo->jpeg_color_space),
                  cinfo->num_components);
    return 2;
  }
  const double W = cinfo->image_width, H = cinfo->image_height;
  if (p.max_pixels > 0 && W * H > double(p.max_pixels)) {
    std::snprintf(err->message, sizeof err->message, "%.0fx%.0f pixels, more than the limit", W, H);
    return 1;
  }
  if (g.box_x < 0 || g.box_y < 0 || g.box_x + g.box_w > W || g.box_y + g.box_h > H) {
    std::snprintf(err->message, sizeof err->message, "the box is outside the %.0fx%.0f image", W, H);
    return 2;  // the header's size disagrees with the caller's: let the general decoder decide
  }
  d->eighths = choose_eighths(g, p.dct_scaling);
  cinfo->scale_num = unsigned(d->eighths);
  cinfo->scale_denom = 8;
  cinfo->out_color_space = JCS_RGB;
  cinfo->dct_method = JDCT_ISLOW;
  cinfo->do_fancy_upsampling = TRUE;
  jpeg_start_decompress(cinfo);
  d->sx = cinfo->output_width / W;
  d->sy = cinfo->output_height / H;
  // Columns and rows of the scaled image that the box touches.
  JDIMENSION c0 = JDIMENSION(g.box_x * d->sx);
  JDIMENSION c1 = std::min<JDIMENSION>(cinfo->output_width, JDIMENSION(std::ceil((g.box_x + g.box_w) * d->sx)));
  JDIMENSION r0 = JDIMENSION(g.box_y * d->sy);
  JDIMENSION r1 = std::min<JDIMENSION>(cinfo->output_height, JDIMENSION(std::ceil((g.box_y + g.box_h) * d->sy)));
  if (c1 <= c0) c1 = std::min<JDIMENSION>(cinfo->output_width, c0 + 1);
  if (r1 <= r0) r1 = std::min<JDIMENSION>(cinfo->output_height, r0 + 1);
  JDIMENSION x0 = c0, width = c1 - c0;
  if (width < cinfo->output_width) jpeg_crop_scanline(cinfo, &x0, &width);  // widens to iMCUs
  d->x0 = x0;
  d->width = cinfo->output_width;  // after the crop: the columns each scanline holds
  d->y0 = r0;
  d->height = r1 - r0;
  const size_t stride = size_t(d->width) * 3;
  if (buffers.rows.size() < stride * d->height) buffers.rows.resize(stride * d->height);
  if (r0 > 0) jpeg_skip_scanlines(cinfo, r0);
  while (cinfo->output_scanline < r1) {
    JSAMPROW ptrs[8];
    JDIMENSION n = 0;
    for (; n < 8 && cinfo->output_scanline + n < r1; ++n)
      ptrs[n] = buffers.rows.data() + stride * (cinfo->output_scanline + n - r0);
    if (jpeg_read_scanlines(cinfo, ptrs, n) == 0) {
      std::snprintf(err->message, sizeof err->message, "no scanline decoded");
      return 1;
    }
  }
  if (p.read_to_end) {
    // The rest of the stream is entropy-decoded too, so damage below the box is noticed.
    // libjpeg-turbo's jpeg_skip_scanlines decodes nothing when asked to skip to the very end,
    // so it skips to the last row, which is then read.
    if (cinfo->output_scanline + 1 < cinfo->output_height)
      jpeg_skip_scanlines(cinfo, cinfo->output_height - 1 - cinfo->output_scanline);
    if (cinfo->output_scanline < cinfo->output_height) {
      if (buffers.last_row.size() < stride) buffers.last_row.resize(stride);
      JSAMPROW row = buffers.last_row.data();
      if (jpeg_read_scanlines(cinfo, &row, 1) == 0) {
        std::snprintf(err->message, sizeof err->message, "no scanline decoded");
        return 1;
      }
    }
    jpeg_finish_decompress(cinfo);
    return 0;
  }
  jpeg_abort_decompress(cinfo);  // the rows below the box are not needed
  return 0;
}

}  // namespace

bool jpeg_compiled() { return true; }

const char* jpeg_version() {
#ifdef LIBJPEG_TURBO_VERSION
#define BOT_STR2(x) #x
#define BOT_STR(x) BOT_STR2(x)
  return BOT_STR(LIBJPEG_TURBO_VERSION);
#else
  return "libjpeg";
#endif
}

JpegResult jpeg_decode_crop_resize(const JpegDecodeProblem& p, const uint8_t* data, size_t size,
                                   uint8_t* out) {
  // The geometry without its source, which only the header gives: check the rest now.
  CropResizeProblem g = p.geometry;
  g.src_w = g.src_h = 1 << 20;
  g.src_stride = 3 * g.src_w;
  g.box_x = g.box_y = 0;
  g.validate();
  JpegResult result;
  // A cut file is found by its structure first, whatever rows the box needs.
  if (!p.read_to_end && !ends_with_eoi(data, size)) {
    result.outcome = JpegOutcome::kTruncated;
    result.message = "no EOI marker after the scan: the file is cut short";
    return result;
  }
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  err.message[0] = 0;
  jpeg_create_decompress(&cinfo);
  Decoded d;
  const int status = decode_box(&cinfo, &err, p, data, size, &d);
  jpeg_destroy_decompress(&cinfo);  // also ends a decompression stopped after the box
  result.scale_eighths = d.eighths;
  if (status != 0) {
    result.outcome = status == 1 ? JpegOutcome::kFailed : JpegOutcome::kUnsupported;
    result.message = err.message;
    return result;
  }
  g = p.geometry;
  g.src_w = d.width;
  g.src_h = d.height;
  g.src_stride = int64_t(d.width) * 3;
  g.box_x = std::max(0.0, p.geometry.box_x * d.sx - d.x0);
  g.box_y = std::max(0.0, p.geometry.box_y * d.sy - d.y0);
  g.box_w = std::min(p.geometry.box_w * d.sx, double(g.src_w) - g.box_x);
  g.box_h = std::min(p.geometry.box_h * d.sy, double(g.src_h) - g.box_y);
  crop_resize_u8(g, buffers.rows.data(), out, &buffers.resize);
  result.outcome = JpegOutcome::kOk;
  return result;
}

}  // namespace bot
