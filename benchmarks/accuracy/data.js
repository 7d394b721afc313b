'use strict';
// The protocol's data: CIFAR-10 JPEGs from the shared archive, decoded once with sharp into
// raw (N, 32, 32, 3) RGB bytes and one label byte per image, which both sides read, so they
// train and evaluate on the same pixels. Files are cached under the cache folder, keyed by
// the split; a sha256 of each array is kept so that both sides can say what they read.
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');

const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const SIDE = 32;
const IMAGE = SIDE * SIDE * 3;

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

/** Unpacks the archive into `cache`/cifar10 once; returns the folder of the class folders. */
function unpack(archive, cache) {
  const root = path.join(cache, 'cifar10');
  const train = path.join(root, 'train');
  if (fs.existsSync(path.join(root, '.complete'))) return train;
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(root, { recursive: true });
  execFileSync('tar', ['xzf', archive, '-C', root]);
  for (const c of CLASSES) {
    if (!fs.existsSync(path.join(train, c))) throw new Error(`${archive}: no folder train/${c}`);
  }
  fs.writeFileSync(path.join(root, '.complete'), '');
  return train;
}

/** Images [from, to) of each class, in file-name order, decoded to raw RGB. */
async function decodeSplit(train, from, to) {
  const sharp = require('sharp');
  const per = to - from;
  const pixels = Buffer.alloc(CLASSES.length * per * IMAGE);
  const labels = Buffer.alloc(CLASSES.length * per);
  const files = [];
  CLASSES.forEach((c, label) => {
    const names = fs.readdirSync(path.join(train, c)).filter((f) => f.endsWith('.jpg')).sort();
    if (names.length < to) throw new Error(`class ${c} has ${names.length} images, the split needs ${to}`);
    for (const n of names.slice(from, to)) files.push({ file: path.join(train, c, n), label });
  });
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      const { data, info } = await sharp(files[i].file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
      if (info.width !== SIDE || info.height !== SIDE || info.channels !== 3) throw new Error(`${files[i].file}: ${info.width}×${info.height}×${info.channels}, expected 32×32×3`);
      data.copy(pixels, i * IMAGE);
      labels[i] = files[i].label;
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return { pixels, labels };
}

/**
 * The protocol's train and eval arrays, decoded and cached: { dir, train, eval, sha256 }, where
 * train/eval are { pixels, labels, count } and dir holds train.u8, train.labels, eval.u8, eval.labels.
 */
async function prepare(protocol, archive, cache) {
  const { trainPerClass, evalPerClass } = protocol;
  const dir = path.join(cache, `split-train${trainPerClass}-eval${evalPerClass}`);
  const meta = path.join(dir, 'meta.json');
  if (!fs.existsSync(meta)) {
    const train = unpack(archive, cache);
    const perClass = fs.readdirSync(path.join(train, CLASSES[0])).filter((f) => f.endsWith('.jpg')).length;
    if (trainPerClass + evalPerClass > perClass) throw new Error(`trainPerClass + evalPerClass > ${perClass} images per class`);
    fs.mkdirSync(dir, { recursive: true });
    const hashes = {};
    for (const [name, from, to] of [['train', 0, trainPerClass], ['eval', perClass - evalPerClass, perClass]]) {
      const s = await decodeSplit(train, from, to);
      fs.writeFileSync(path.join(dir, `${name}.u8`), s.pixels);
      fs.writeFileSync(path.join(dir, `${name}.labels`), s.labels);
      hashes[name] = { pixels: sha256(s.pixels), labels: sha256(s.labels), files: `${String(from + 1).padStart(4, '0')}–${String(to).padStart(4, '0')}.jpg of each class` };
    }
    fs.writeFileSync(meta, JSON.stringify({ classes: CLASSES, side: SIDE, sha256: hashes }, null, 2));
  }
  const m = JSON.parse(fs.readFileSync(meta, 'utf8'));
  const load = (name) => {
    const pixels = fs.readFileSync(path.join(dir, `${name}.u8`));
    const labels = fs.readFileSync(path.join(dir, `${name}.labels`));
    return { pixels: new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length), labels: new Uint8Array(labels.buffer, labels.byteOffset, labels.length), count: labels.length };
  };
  return { dir, classes: m.classes, sha256: m.sha256, train: load('train'), eval: load('eval') };
}

/**
 * Raw (N, 32, 32, 3) bytes and their labels as a data set of the package (`bot`: the
 * package's exports), named `<name>[i]` in errors and reports.
 */
function pixelsDataset(bot, pixels, labels, classes, name) {
  class Pixels extends bot.data.BaseDataset {
    constructor() {
      super();
      this.length = labels.length;
      this.classes = classes;
    }
    label(i) {
      return labels[i];
    }
    source(i) {
      return { kind: 'pixels', data: pixels.subarray(i * IMAGE, (i + 1) * IMAGE), width: SIDE, height: SIDE, channels: 3 };
    }
    name(i) {
      return `${name}[${i}]`;
    }
  }
  return new Pixels();
}

module.exports = { prepare, unpack, pixelsDataset, CLASSES, SIDE, IMAGE };
