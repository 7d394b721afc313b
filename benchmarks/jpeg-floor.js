#!/usr/bin/env node
// How far the core's JPEG path is from libjpeg-turbo's own floor, per image-size class of the
// data benchmark (benchmarks/data-corpus.js), as CPU time per image:
//
//   node benchmarks/jpeg-floor.js [--corpus /tmp/bot-data-corpus] [--rounds 5]
//                                 [--classes photos-5mp,photos-12mp] [--out FILE.json]
//
// The corpus is built with benchmarks/data-corpus.js when a class folder is missing. Measured,
// alternating within each round (so a busy neighbour disturbs all alike), min and median over
// the rounds:
//
//   djpeg1_8        `djpeg -scale 1/8 -outfile /dev/null F`: the whole image at 1/8, libjpeg's
//                   cheapest full decode (entropy decoding of every block, a DC-only IDCT).
//   djpeg1_1        `djpeg -outfile /dev/null F` at full size, for scale.
//   djpegCrop1_8    `djpeg -scale 1/8 -crop WxH+X+Y`: the typical RandomResizedCrop box (below)
//                   at 1/8. libjpeg entropy-decodes the rows above the box without an IDCT and
//                   nothing below it (jpeg_skip_scanlines to the bottom decodes nothing).
//   djpegCropOurs   the same box at the DCT scale the core picks for it (the smallest of 1/8,
//                   1/4, 1/2, 1 at which the box keeps 224 pixels: native/jpeg).
//   djpegStart      djpeg on a 16×16 JPEG: the cost of starting the process and reading a
//                   header, subtracted from the djpeg figures (`net`).
//   oursBox         the core's JPEG path (decodeImage), in one process, on the same typical
//                   box resized to 224²: the work of djpegCropOurs, plus the resize.
//   ours1_8         the core's JPEG path on the whole image resized to 1/8 (so decoded at 1/8):
//                   the work of djpeg1_8, in process.
//   benchU8, benchF32  `bagoftricks bench data --workers 1 --transform train` with output uint8
//                   (decode + random crop + resize + flip) and f32 (+ the colour pass): the
//                   training transform, random boxes, process CPU time per image.
//
// djpeg's CPU time is the children's user + system time of a bash loop (`time`, 1 ms
// resolution) over every file of the class, repeated so that a measurement takes ≥ ~0.3 s.
// The typical box is the median RandomResizedCrop draw: area 0.54 of the image (the median of
// U(0.08, 1)), aspect 1 (the median of log-U(3/4, 4/3)), centred (the mean position). A square
// centred box is the same box whatever the EXIF orientation.
'use strict';
const { execFileSync, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
}

const root = path.join(__dirname, '..');
const SIZE = 224; // the training transform's output side
// Decodes per djpeg measurement, by class: ≥ ~0.3 s of CPU each.
const DECODES = { 'photos-0.27mp': 96, 'photos-0.48mp': 64, 'photos-2mp': 32, 'photos-5mp': 16, 'photos-12mp': 12 };
// Images per bench data run (as benchmarks/data.js, whose first 4 batches of 64 are not timed).
const BENCH_IMAGES = { 'photos-0.27mp': 1280, 'photos-0.48mp': 768, 'photos-2mp': 512, 'photos-5mp': 384, 'photos-12mp': 384 };

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const r = (x) => Math.round(x * 1000) / 1000;
  return { min: r(s[0]), median: r(s[Math.floor((s.length - 1) / 2)]), max: r(s[s.length - 1]) };
}

/** The files of a class, with their stored (not oriented) size and the typical box. */
async function classFiles(dir) {
  const sharp = require('sharp');
  const files = fs.readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort().map((f) => path.join(dir, f));
  const out = [];
  for (const file of files) {
    const m = await sharp(file).metadata();
    const W = m.width, H = m.height;
    const side = Math.min(W, H, Math.round(Math.sqrt(0.54 * W * H)));
    const box = { left: Math.floor((W - side) / 2), top: Math.floor((H - side) / 2), width: side, height: side };
    out.push({ file, W, H, bytes: fs.statSync(file).size, box, eighths: eighthsFor(side) });
  }
  return out;
}

/** The core's choice (native/jpeg/jpeg_decode.cpp, choose_eighths) for a square box of `side`. */
function eighthsFor(side) {
  for (const m of [1, 2, 4]) if ((side * m) / 8 >= SIZE) return m;
  return 8;
}

/** djpeg's -crop argument for a box at scale m/8 (the crop is in the scaled image's pixels). */
function cropArg(f, m) {
  const s = m / 8;
  const x0 = Math.floor(f.box.left * s), y0 = Math.floor(f.box.top * s);
  const x1 = Math.min(Math.ceil(f.W * s), Math.ceil((f.box.left + f.box.width) * s));
  const y1 = Math.min(Math.ceil(f.H * s), Math.ceil((f.box.top + f.box.height) * s));
  return `${x1 - x0}x${y1 - y0}+${x0}+${y0}`;
}

/** CPU ms per decode of `djpeg ARGS FILE` over the files, `decodes` in all (children's time). */
function djpegCpuMs(argsFor, files, decodes) {
  const reps = Math.max(1, Math.round(decodes / files.length));
  const lines = [];
  for (let r = 0; r < reps; r++) for (const f of files) lines.push(`djpeg ${argsFor(f).join(' ')} -outfile /dev/null '${f.file}'`);
  const script = `TIMEFORMAT="%3U %3S"; time ( { ${lines.join("; ")}; } 2>/dev/null )`;
  const p = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
  const m = /([\d.]+) ([\d.]+)\s*$/.exec(p.stderr);
  if (p.status !== 0 || !m) throw new Error(`djpeg failed: ${p.stderr}`);
  return ((Number(m[1]) + Number(m[2])) * 1000) / lines.length;
}

/** CPU ms per image of the core's JPEG path in a fresh process (see `--child` below). */
function oursCpuMs(mode, dir, n) {
  const out = execFileSync(process.execPath, [__filename, '--child', mode, '--dir', dir, '--n', String(n)], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop());
}

/** bench data on one worker, the train transform; returns its JSON report. */
function bench(dir, output, images) {
  const files = fs.readdirSync(dir).length;
  const out = execFileSync(process.execPath, [path.join(root, 'dist', 'cli.js'), 'bench', 'data', '--data', dir, '--repeat', String(Math.max(1, Math.round(images / files))),
    '--workers', '1', '--transform', 'train', '--output', output, '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  return JSON.parse(out.trim().split('\n').pop());
}

/**
 * The child: decodes every file of `dir` n times in all with decodeImage, once untimed (file
 * cache, pools, code paths warm), then timed with process.cpuUsage (all threads).
 * mode 'box': the typical box resized to 224²; '1_8': the whole image resized to 1/8.
 */
async function child() {
  const bot = require(root);
  const { decodeImage, DECODE_DEFAULTS } = bot.data;
  const mode = arg('--child');
  const dir = arg('--dir');
  const n = Number(arg('--n'));
  const files = fs.readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort().map((f) => path.join(dir, f));
  const plan = (w, h) => {
    if (mode === '1_8') return { resize: { width: Math.floor(w / 8), height: Math.floor(h / 8) } };
    const side = Math.min(w, h, Math.round(Math.sqrt(0.54 * w * h)));
    return { extract: { left: Math.floor((w - side) / 2), top: Math.floor((h - side) / 2), width: side, height: side }, resize: { width: SIZE, height: SIZE } };
  };
  // As the DataLoader decodes (iccFastPath): an embedded RGB profile is left to the core's
  // colour pass, so such files stay on the JPEG path (the profile's conversion is not timed).
  const options = { ...DECODE_DEFAULTS, deferIcc: true };
  const timings = {};
  const run = async (count) => {
    for (let i = 0; i < count; i++) await decodeImage({ kind: 'file', path: files[i % files.length] }, plan, options, timings);
  };
  await run(files.length);
  const c0 = process.cpuUsage();
  await run(n);
  const c = process.cpuUsage(c0);
  console.log(JSON.stringify({ cpuMs: (c.user + c.system) / 1000 / n, jpegPath: timings.jpegPathImages ?? 0, sharp: timings.sharpImages ?? 0 }));
}

async function main() {
  const corpus = path.resolve(arg('--corpus', '/tmp/bot-data-corpus'));
  const rounds = Number(arg('--rounds', '5'));
  const outFile = arg('--out', '');
  const classes = (arg('--classes', '') || Object.keys(DECODES).join(',')).split(',');
  if (classes.some((c) => !fs.existsSync(path.join(corpus, c, 'images')))) {
    execFileSync(process.execPath, [path.join(__dirname, 'data-corpus.js'), '--out', corpus], { stdio: 'inherit' });
  }
  const djpegVersion = spawnSync('djpeg', ['-version'], { encoding: 'utf8' });
  if (djpegVersion.error) throw new Error('djpeg not found: apt-get install libjpeg-turbo-progs');
  // The process-start baseline: a 16×16 JPEG.
  const tiny = path.join(os.tmpdir(), `jpeg-floor-${process.pid}.jpg`);
  await require('sharp')({ create: { width: 16, height: 16, channels: 3, background: { r: 90, g: 120, b: 150 } } }).jpeg({ quality: 90 }).toFile(tiny);
  const tinyFiles = [{ file: tiny }];

  const info = {};
  for (const c of classes) info[c] = await classFiles(path.join(corpus, c, 'images'));
  const cells = {};
  const add = (c, k, v) => ((cells[c] ??= {})[k] ??= []).push(v);
  const decoders = {};
  const load0 = os.loadavg();
  const t0 = Date.now();
  for (let r = 0; r < rounds; r++) {
    for (const c of classes) {
      const fs_ = info[c];
      const dir = path.join(corpus, c, 'images');
      const d = DECODES[c] ?? 32;
      add(c, 'djpegStart', djpegCpuMs(() => [], tinyFiles, d));
      add(c, 'djpeg1_8', djpegCpuMs(() => ['-scale', '1/8'], fs_, d));
      add(c, 'djpegCrop1_8', djpegCpuMs((f) => ['-scale', '1/8', '-crop', cropArg(f, 1)], fs_, d));
      add(c, 'djpegCropOurs', djpegCpuMs((f) => ['-scale', `${f.eighths}/8`, '-crop', cropArg(f, f.eighths)], fs_, d));
      add(c, 'djpeg1_1', djpegCpuMs(() => [], fs_, Math.max(fs_.length, Math.round(d / 2))));
      const o18 = oursCpuMs('1_8', dir, 2 * d);
      add(c, 'ours1_8', o18.cpuMs);
      const ob = oursCpuMs('box', dir, 2 * d);
      add(c, 'oursBox', ob.cpuMs);
      if (o18.sharp || ob.sharp) throw new Error(`${c}: ${o18.sharp + ob.sharp} images went to sharp, not the JPEG path`);
      for (const output of ['uint8', 'f32']) {
        const b = bench(dir, output, BENCH_IMAGES[c] ?? 512);
        add(c, output === 'uint8' ? 'benchU8' : 'benchF32', b.cpuMsPerImage);
        decoders[c] = b.decoders;
      }
      const last = (k) => cells[c][k][cells[c][k].length - 1].toFixed(2);
      console.log(`round ${r + 1} ${c.padEnd(14)} djpeg start ${last('djpegStart')}, 1/8 ${last('djpeg1_8')}, crop 1/8 ${last('djpegCrop1_8')}, ` +
        `crop ${info[c][0].eighths}/8 ${last('djpegCropOurs')}, 1/1 ${last('djpeg1_1')} | ours 1/8 ${last('ours1_8')}, box ${last('oursBox')}, ` +
        `bench uint8 ${last('benchU8')}, f32 ${last('benchF32')} (CPU ms per image)`);
    }
  }
  fs.rmSync(tiny, { force: true });

  const results = classes.map((c) => {
    const s = Object.fromEntries(Object.entries(cells[c]).map(([k, v]) => [k, { ...stats(v), rounds: v.map((x) => Math.round(x * 1000) / 1000) }]));
    const start = s.djpegStart.median;
    const net = (k) => Math.round((s[k].median - start) * 1000) / 1000;
    const fsx = info[c];
    const floor = net('djpeg1_8');
    return {
      class: c,
      files: fsx.length,
      size: `${fsx[0].W}×${fsx[0].H}`,
      kbPerFile: Math.round(fsx.reduce((a, f) => a + f.bytes, 0) / fsx.length / 1024),
      typicalBox: { side: fsx[0].box.width, ourScale: `${fsx[0].eighths}/8`, boxBottomFraction: Math.round(((fsx[0].box.top + fsx[0].box.height) / fsx[0].H) * 1000) / 1000 },
      cpuMsPerImage: s,
      djpegNetMedian: { djpeg1_8: net('djpeg1_8'), djpegCrop1_8: net('djpegCrop1_8'), djpegCropOurs: net('djpegCropOurs'), djpeg1_1: net('djpeg1_1') },
      ratios: {
        benchU8OverDjpeg1_8: Math.round((s.benchU8.median / floor) * 100) / 100,
        benchF32OverDjpeg1_8: Math.round((s.benchF32.median / floor) * 100) / 100,
        oursBoxOverDjpegCropOurs: Math.round((s.oursBox.median / net('djpegCropOurs')) * 100) / 100,
        ours1_8OverDjpeg1_8: Math.round((s.ours1_8.median / floor) * 100) / 100,
      },
      benchDecoders: decoders[c],
    };
  });
  const report = {
    date: new Date().toISOString(),
    command: `node benchmarks/jpeg-floor.js ${process.argv.slice(2).join(' ')}`.trim(),
    machine: {
      cpu: os.cpus()[0]?.model, cores: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), gpu: 'none', node: process.version,
      djpeg: djpegVersion.stderr.trim().split('\n')[0], coreJpeg: `libjpeg-turbo ${require(path.join(root, 'dist', 'data', 'decode')).jpegPath().version}`,
      loadavgAtStart: load0.map((x) => Math.round(x * 100) / 100), loadavgAtEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
    },
    seconds: Math.round((Date.now() - t0) / 1000),
    rounds,
    corpus,
    notes: 'CPU ms per image; djpeg figures include starting the process (djpegStart), djpegNetMedian subtracts it. bench* are whole training-transform pipelines (random boxes, one worker).',
    results,
  };
  for (const r of results) {
    const s = r.cpuMsPerImage;
    console.log(`${r.class.padEnd(14)} floor (djpeg 1/8 whole, net) ${r.djpegNetMedian.djpeg1_8} ms | crop 1/8 ${r.djpegNetMedian.djpegCrop1_8}, crop ${r.typicalBox.ourScale} ${r.djpegNetMedian.djpegCropOurs}, ` +
      `1/1 ${r.djpegNetMedian.djpeg1_1} | ours box ${s.oursBox.median}, 1/8 ${s.ours1_8.median} | bench uint8 ${s.benchU8.median} (${r.ratios.benchU8OverDjpeg1_8}× floor), f32 ${s.benchF32.median}`);
  }
  if (outFile) fs.writeFileSync(outFile, JSON.stringify(report, null, 1) + '\n');
}

if (process.argv.includes('--child')) child().catch((e) => { console.error(e); process.exit(1); });
else main().catch((e) => { console.error(e); process.exit(1); });
