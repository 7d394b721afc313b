/**
 * What the decoder needs to know before decoding, read straight from the bytes of JPEG and
 * PNG files: the stored size, the EXIF orientation, the channel count and the embedded ICC
 * profile. A sharp metadata() call costs a libvips image, a libexif parse and a round trip
 * through the thread pool (~0.5–1 ms per image); this costs microseconds on the JS thread.
 *
 * Anything unusual returns null and the caller asks sharp: other formats, a JPEG without a
 * SOF before its first scan or with a zero height (DNL), a PNG with an eXIf or iCCP chunk,
 * malformed segment lengths. libvips reads the orientation from IFD0 of the first Exif APP1
 * segment, as this does.
 */

export interface ImageHeader {
  format: 'jpeg' | 'png';
  /** Stored size (before the orientation is applied). */
  width: number;
  height: number;
  /** EXIF orientation 1–8 (1 when absent or invalid). */
  orientation: number;
  /** Colour channels as stored: 1 grey, 3 RGB/YCbCr, 4 CMYK/YCCK (JPEG), PNG counts alpha. */
  channels: number;
  /** The ICC profile (JPEG APP2 chunks joined), when there is one. */
  icc?: Uint8Array;
}

function exifOrientation(b: Uint8Array, start: number, end: number): number {
  // "Exif\0\0" then a TIFF header: byte order, 42, offset of IFD0.
  const t = start + 6;
  if (t + 8 > end) return 1;
  const little = b[t] === 0x49 && b[t + 1] === 0x49;
  if (!little && !(b[t] === 0x4d && b[t + 1] === 0x4d)) return 1;
  const u16 = (o: number) => (little ? b[o] | (b[o + 1] << 8) : (b[o] << 8) | b[o + 1]);
  const u32 = (o: number) => (little ? (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 0x1000000 : b[o] * 0x1000000 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]));
  if (u16(t + 2) !== 42) return 1;
  const ifd = t + u32(t + 4);
  if (ifd + 2 > end) return 1;
  const n = u16(ifd);
  for (let i = 0; i < n; i++) {
    const e = ifd + 2 + 12 * i;
    if (e + 12 > end) return 1;
    if (u16(e) === 0x0112) {
      const v = u16(e + 8); // SHORT, count 1: the value sits in the first bytes of the field
      return v >= 1 && v <= 8 ? v : 1;
    }
  }
  return 1;
}

function jpegHeader(b: Uint8Array): ImageHeader | null {
  let i = 2;
  let orientation = 1;
  let sawExif = false;
  const icc: { seq: number; data: Uint8Array }[] = [];
  let sof: { width: number; height: number; channels: number } | null = null;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return null;
    const m = b[i + 1];
    if (m === 0xff) {
      i++; // fill byte
      continue;
    }
    if (m === 0xd8 || (m >= 0xd0 && m <= 0xd7) || m === 0x01) {
      i += 2;
      continue;
    }
    if (m === 0xd9) return null; // end of image before any scan
    const len = (b[i + 2] << 8) | b[i + 3];
    const start = i + 4;
    const end = i + 2 + len;
    if (len < 2 || end > b.length) return null;
    if (m === 0xe1 && !sawExif && len >= 8 && b[start] === 0x45 && b[start + 1] === 0x78 && b[start + 2] === 0x69 && b[start + 3] === 0x66 && b[start + 4] === 0 && b[start + 5] === 0) {
      sawExif = true;
      orientation = exifOrientation(b, start, end);
    } else if (m === 0xe2 && len >= 16 && String.fromCharCode(...b.subarray(start, start + 12)) === 'ICC_PROFILE\0') {
      icc.push({ seq: b[start + 12], data: b.subarray(start + 14, end) });
    } else if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (len < 8) return null;
      sof = { height: (b[start + 1] << 8) | b[start + 2], width: (b[start + 3] << 8) | b[start + 4], channels: b[start + 5] };
    } else if (m === 0xda) {
      break; // the first scan: every header segment has been seen
    }
    i = end;
  }
  if (!sof || sof.width === 0 || sof.height === 0) return null;
  const header: ImageHeader = { format: 'jpeg', width: sof.width, height: sof.height, orientation, channels: sof.channels };
  if (icc.length) {
    icc.sort((a, c) => a.seq - c.seq);
    const total = icc.reduce((s, c) => s + c.data.length, 0);
    const joined = new Uint8Array(total);
    let at = 0;
    for (const c of icc) {
      joined.set(c.data, at);
      at += c.data.length;
    }
    header.icc = joined;
  }
  return header;
}

const PNG_CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };

function pngHeader(b: Uint8Array): ImageHeader | null {
  const u32 = (o: number) => b[o] * 0x1000000 + ((b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]);
  if (b.length < 33 || String.fromCharCode(...b.subarray(12, 16)) !== 'IHDR') return null;
  const width = u32(16);
  const height = u32(20);
  const channels = PNG_CHANNELS[b[25]];
  if (!width || !height || channels === undefined) return null;
  // Walk the chunks up to the first IDAT: an eXIf (orientation) or iCCP (profile) chunk
  // means libvips has more to say; let sharp read those files.
  let i = 8;
  while (i + 8 <= b.length) {
    const len = u32(i);
    const type = String.fromCharCode(...b.subarray(i + 4, i + 8));
    if (type === 'IDAT') break;
    if (type === 'eXIf' || type === 'iCCP') return null;
    i += 12 + len;
  }
  return { format: 'png', width, height, orientation: 1, channels };
}

/** The header of a JPEG or PNG file, or null (another format, or anything unusual). */
export function readHeader(b: Uint8Array): ImageHeader | null {
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return jpegHeader(b);
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return pngHeader(b);
  return null;
}
