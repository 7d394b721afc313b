#!/usr/bin/env node
// Builds the size classes of the data benchmark from the shared photos:
//
//   node benchmarks/data-corpus.js [--photos ../shared/data/photos] [--out /tmp/bot-data-corpus]
//
// OUT/photos-0.27mp/images   the 16 RGB camera photos as they are (600×450, ~135 KB, 4 bits/pixel)
// OUT/photos-0.48mp/images   four of them enlarged to 800×600
// OUT/photos-2mp/images      ... to 1632×1224
// OUT/photos-5mp/images      ... to 2592×1944
// OUT/photos-12mp/images     ... to 4000×3000
// OUT/cmyk/images            the CMYK JPEG (decoded by sharp, as every CMYK file)
//
// Each class is an ImageFolder of one class ("images"), so `bagoftricks pack OUT/CLASS
// OUT/CLASS.pack` packs it; `bench data --data OUT/CLASS` lists its images recursively.
//
// Enlarged photos are resampled with Lanczos-3 and saved at quality 90 with 4:2:0 chroma, EXIF
// orientation kept (Landscape_1/Portrait_1: 1, Landscape_6/Portrait_6: 6). They are smoother
// than camera photos of the same size (fewer bits per pixel: entropy decoding costs less), so
// the large classes flatter the decoder somewhat; the file sizes are printed.
const fs = require('fs');
const path = require('path');
const sharp = require('sharp');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const photos = path.resolve(arg('--photos', path.join(__dirname, '..', '..', 'shared', 'data', 'photos')));
const out = path.resolve(arg('--out', '/tmp/bot-data-corpus'));
const SIZES = [['photos-0.48mp', 800, 600], ['photos-2mp', 1632, 1224], ['photos-5mp', 2592, 1944], ['photos-12mp', 4000, 3000]];
const SOURCES = ['Landscape_1.jpg', 'Landscape_6.jpg', 'Portrait_1.jpg', 'Portrait_6.jpg'];

async function main() {
  const rgb = path.join(out, 'photos-0.27mp', 'images');
  fs.mkdirSync(rgb, { recursive: true });
  for (const f of fs.readdirSync(photos).filter((f) => /^(Landscape|Portrait)_\d\.jpg$/.test(f))) fs.copyFileSync(path.join(photos, f), path.join(rgb, f));
  fs.mkdirSync(path.join(out, 'cmyk', 'images'), { recursive: true });
  fs.copyFileSync(path.join(photos, 'Channel_digital_image_CMYK_color.jpg'), path.join(out, 'cmyk', 'images', 'cmyk.jpg'));
  for (const [dir, w, h] of SIZES) {
    fs.mkdirSync(path.join(out, dir, 'images'), { recursive: true });
    let bytes = 0;
    for (const f of SOURCES) {
      const src = path.join(photos, f);
      const meta = await sharp(src).metadata();
      const stored = (meta.orientation ?? 1) >= 5 ? [h, w] : [w, h];
      // The stored pixels are resized as stored (no turn), so the EXIF orientation still applies.
      const landscape = meta.width > meta.height;
      const [sw, sh] = landscape ? [Math.max(...stored), Math.min(...stored)] : [Math.min(...stored), Math.max(...stored)];
      const buf = await sharp(src).resize(sw, sh, { fit: 'fill', kernel: 'lanczos3' }).keepExif().jpeg({ quality: 90, chromaSubsampling: '4:2:0' }).toBuffer();
      fs.writeFileSync(path.join(out, dir, 'images', f), buf);
      bytes += buf.length;
    }
    console.log(`${dir}: ${SOURCES.length} files, ${(bytes / SOURCES.length / 1024).toFixed(0)} KB each on average, ${((bytes * 8) / SOURCES.length / (w * h)).toFixed(2)} bits/pixel`);
  }
  console.log(`written under ${out}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
