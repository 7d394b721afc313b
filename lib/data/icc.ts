/**
 * Colour management of RGB matrix/TRC ICC profiles, done after the resize instead of by
 * libvips before it.
 *
 * Why: libvips converts an image with an embedded profile to sRGB through LittleCMS, which
 * builds a new transform for every image (~3.5 ms here) and then converts every decoded pixel
 * (~4.5 ms for 600×450), before the crop. Camera and phone photos very often carry a profile
 * (Apple's Generic RGB, Display P3, Adobe RGB). For the common matrix/TRC profiles the
 * conversion is three tone curves, a 3×3 matrix and the sRGB curve: this module turns a
 * profile into a 256-entry table per channel and a matrix (cached per profile), and the core
 * applies them to the 224² crop (ops.srgbFromProfile). Resampling then happens in the
 * profile's encoding instead of sRGB's; both are gamma-encoded, the difference is below one
 * level on average (tested against libvips).
 *
 * Supported: 'RGB ' data with an 'XYZ ' connection space, colorants rXYZ/gXYZ/bXYZ and tone
 * curves rTRC/gTRC/bTRC of type 'curv' or 'para', and no A2Bx or D2Bx tables (LittleCMS would use
 * those instead). Anything else returns null and libvips converts as before. A profile that
 * is sRGB already (matrix identity, sRGB curves) needs no conversion: `srgb: true`.
 */

/** A matrix/TRC profile ready for the core: linear light of each code, and the matrix to linear sRGB. */
export interface RgbProfile {
  /** (3, 256): linear light in [0, 1] of every 8-bit code, per channel R, G, B. */
  lut: Float32Array;
  /** (3, 3) row-major: profile linear RGB → linear sRGB. */
  matrix: Float32Array;
  /** True when the profile is sRGB (no conversion needed). */
  srgb: boolean;
}

/** sRGB's colorants adapted to D50 (the sRGB IEC61966-2.1 profile's rXYZ, gXYZ, bXYZ), as columns. */
const SRGB_D50 = [
  0.4360747, 0.3850649, 0.1430804,
  0.2225045, 0.7168786, 0.0606169,
  0.0139322, 0.0971045, 0.7141733,
];

function invert3(a: number[]): number[] {
  const c00 = a[4] * a[8] - a[5] * a[7];
  const c01 = a[5] * a[6] - a[3] * a[8];
  const c02 = a[3] * a[7] - a[4] * a[6];
  const det = a[0] * c00 + a[1] * c01 + a[2] * c02;
  return [
    c00 / det, (a[2] * a[7] - a[1] * a[8]) / det, (a[1] * a[5] - a[2] * a[4]) / det,
    c01 / det, (a[0] * a[8] - a[2] * a[6]) / det, (a[2] * a[3] - a[0] * a[5]) / det,
    c02 / det, (a[1] * a[6] - a[0] * a[7]) / det, (a[0] * a[4] - a[1] * a[3]) / det,
  ];
}

function matmul3(a: number[], b: number[]): number[] {
  const c = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) c[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
  return c;
}

const SRGB_FROM_XYZ = invert3(SRGB_D50);

/** The sRGB decoding curve (code in [0, 1] → linear light). */
export function srgbToLinear(v: number): number {
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
}

interface Tag {
  offset: number;
  size: number;
}

/** A tone curve as a function on [0, 1], or null when the tag is malformed. */
function readCurve(b: Uint8Array, dv: DataView, t: Tag): ((x: number) => number) | null {
  const type = String.fromCharCode(...b.subarray(t.offset, t.offset + 4));
  if (type === 'curv') {
    const n = dv.getUint32(t.offset + 8);
    if (t.offset + 12 + 2 * n > b.length) return null;
    if (n === 0) return (x) => x;
    if (n === 1) {
      const g = dv.getUint16(t.offset + 12) / 256;
      return (x) => x ** g;
    }
    const table = new Float64Array(n);
    for (let i = 0; i < n; i++) table[i] = dv.getUint16(t.offset + 12 + 2 * i) / 65535;
    return (x) => {
      const p = x * (n - 1);
      const i = Math.min(n - 2, Math.floor(p));
      return table[i] + (table[i + 1] - table[i]) * (p - i);
    };
  }
  if (type === 'para') {
    const fn = dv.getUint16(t.offset + 8);
    const count = [1, 3, 4, 5, 7][fn];
    if (count === undefined || t.offset + 12 + 4 * count > b.length) return null;
    const q = Array.from({ length: count }, (_, i) => dv.getInt32(t.offset + 12 + 4 * i) / 65536);
    const [g, a, bb, c, d, e, f] = q;
    const pw = (v: number) => (v > 0 ? v ** g : 0);
    switch (fn) {
      case 0: return (x) => pw(x);
      case 1: return (x) => (x >= -bb / a ? pw(a * x + bb) : 0);
      case 2: return (x) => (x >= -bb / a ? pw(a * x + bb) + c : c);
      case 3: return (x) => (x >= d ? pw(a * x + bb) : c * x);
      default: return (x) => (x >= d ? pw(a * x + bb) + e : c * x + f);
    }
  }
  return null;
}

function readXyz(b: Uint8Array, dv: DataView, t: Tag): number[] | null {
  if (String.fromCharCode(...b.subarray(t.offset, t.offset + 4)) !== 'XYZ ' || t.size < 20) return null;
  return [0, 1, 2].map((k) => dv.getInt32(t.offset + 8 + 4 * k) / 65536);
}

/** Parses a matrix/TRC RGB profile; null when it is of another kind or malformed. */
export function parseRgbProfile(icc: Uint8Array): RgbProfile | null {
  try {
    if (icc.length < 132) return null;
    const dv = new DataView(icc.buffer, icc.byteOffset, icc.byteLength);
    const ascii = (o: number) => String.fromCharCode(...icc.subarray(o, o + 4));
    if (ascii(16) !== 'RGB ' || ascii(20) !== 'XYZ ') return null;
    const count = dv.getUint32(128);
    if (count > 1000 || 132 + 12 * count > icc.length) return null;
    const tags = new Map<string, Tag>();
    for (let i = 0; i < count; i++) {
      const o = 132 + 12 * i;
      const t = { offset: dv.getUint32(o + 4), size: dv.getUint32(o + 8) };
      if (t.offset + t.size > icc.length || t.size < 8) return null;
      tags.set(ascii(o), t);
    }
    if (['A2B0', 'A2B1', 'A2B2', 'D2B0', 'D2B1', 'D2B2'].some((s) => tags.has(s))) return null;
    const cols: number[][] = [];
    const curves: ((x: number) => number)[] = [];
    for (const ch of ['r', 'g', 'b']) {
      const xyz = tags.get(`${ch}XYZ`);
      const trc = tags.get(`${ch}TRC`);
      if (!xyz || !trc) return null;
      const col = readXyz(icc, dv, xyz);
      const curve = readCurve(icc, dv, trc);
      if (!col || !curve) return null;
      cols.push(col);
      curves.push(curve);
    }
    const fromProfile = [cols[0][0], cols[1][0], cols[2][0], cols[0][1], cols[1][1], cols[2][1], cols[0][2], cols[1][2], cols[2][2]];
    const m = matmul3(SRGB_FROM_XYZ, fromProfile);
    const lut = new Float32Array(768);
    let maxCurveDiff = 0;
    for (let c = 0; c < 3; c++) {
      for (let v = 0; v < 256; v++) {
        const l = Math.min(1, Math.max(0, curves[c](v / 255)));
        if (!Number.isFinite(l)) return null;
        lut[c * 256 + v] = l;
        maxCurveDiff = Math.max(maxCurveDiff, Math.abs(l - srgbToLinear(v / 255)));
      }
    }
    if (!m.every(Number.isFinite)) return null;
    const identity = m.every((x, i) => Math.abs(x - (i % 4 === 0 ? 1 : 0)) < 2e-3);
    // 2e-3 of linear light is below half a level wherever the sRGB curve is steep enough to matter.
    return { lut, matrix: Float32Array.from(m), srgb: identity && maxCurveDiff < 2e-3 };
  } catch {
    return null;
  }
}

const cache = new Map<string, RgbProfile | null>();

/** parseRgbProfile, memoised by the profile's bytes (photos of one camera share one profile). */
export function rgbProfile(icc: Uint8Array): RgbProfile | null {
  const key = Buffer.from(icc.buffer, icc.byteOffset, icc.byteLength).toString('latin1');
  let p = cache.get(key);
  if (p === undefined) {
    p = parseRgbProfile(icc);
    if (cache.size > 256) cache.clear();
    cache.set(key, p);
  }
  return p;
}
