'use strict';
/**
 * The distinct convolutions of ResNet-50 (torchvision/timm layout, stride on the 3×3) at
 * a 224×224 input, NHWC. `count` is how often each appears in one forward pass, so a
 * weighted sum gives the whole network's convolution time.
 */
function resnet50Convs(size = 224) {
  const s = (x, k) => Math.floor(x / k);
  const rows = [];
  const add = (name, h, c, k, r, stride, pad, count) => rows.push({ name, h, w: h, c, k, r, s: r, stride, pad, count });
  add('stem 7x7/2', size, 3, 64, 7, 2, 3, 1);
  const stages = [
    { n: 3, mid: 64, out: 256, hin: s(size, 4), stride: 1 },
    { n: 4, mid: 128, out: 512, hin: s(size, 4), stride: 2 },
    { n: 6, mid: 256, out: 1024, hin: s(size, 8), stride: 2 },
    { n: 3, mid: 512, out: 2048, hin: s(size, 16), stride: 2 },
  ];
  let cin = 64;
  stages.forEach((st, i) => {
    const L = `layer${i + 1}`;
    const hout = s(st.hin, st.stride);
    add(`${L} 1x1 reduce (first)`, st.hin, cin, st.mid, 1, 1, 0, 1);
    add(`${L} 3x3${st.stride > 1 ? '/2' : ''} (first)`, st.hin, st.mid, st.mid, 3, st.stride, 1, 1);
    add(`${L} 1x1 expand`, hout, st.mid, st.out, 1, 1, 0, st.n);
    add(`${L} downsample 1x1${st.stride > 1 ? '/2' : ''}`, st.hin, cin, st.out, 1, st.stride, 0, 1);
    add(`${L} 1x1 reduce`, hout, st.out, st.mid, 1, 1, 0, st.n - 1);
    add(`${L} 3x3`, hout, st.mid, st.mid, 3, 1, 1, st.n - 1);
    cin = st.out;
  });
  return rows;
}

/** FLOPs of one pass (2 per multiply-add); a grouped conv reads c / groups inputs per output. */
function convFlops(sh, n) {
  const p = Math.floor((sh.h + 2 * sh.pad - sh.r) / sh.stride) + 1;
  const q = Math.floor((sh.w + 2 * sh.pad - sh.s) / sh.stride) + 1;
  return (2 * n * p * q * sh.k * sh.r * sh.s * sh.c) / (sh.groups ?? 1);
}

/**
 * The distinct convolutions of ResNet-18-D (deep 32-32-64 stem, basic blocks, 2×2 average
 * pool then 1×1 conv on the strided shortcuts) at `width`, NHWC. With the CIFAR stem
 * (`cifar`, 32×32 inputs) every stem conv has stride 1 and there is no max pool, as in
 * lib/models/resnet.ts.
 */
function resnet18dConvs(size = 224, width = 1, cifar = false) {
  const ch = (c) => Math.max(1, Math.round(c * width));
  const rows = [];
  const add = (name, h, c, k, r, stride, pad, count) => rows.push({ name, h, w: h, c, k, r, s: r, stride, pad, count });
  const st = cifar ? 1 : 2;
  add(`stem 3x3${st > 1 ? '/2' : ''} (1)`, size, 3, ch(32), 3, st, 1, 1);
  const h0 = Math.floor((size + 2 - 3) / st) + 1;
  add('stem 3x3 (2)', h0, ch(32), ch(32), 3, 1, 1, 1);
  add('stem 3x3 (3)', h0, ch(32), ch(64), 3, 1, 1, 1);
  let h = cifar ? h0 : Math.floor((h0 + 2 - 3) / 2) + 1; // the 3×3/2 max pool
  let cin = ch(64);
  for (let i = 0; i < 4; i++) {
    const c = ch(64 * 2 ** i);
    const L = `layer${i + 1}`;
    if (i === 0) {
      add(`${L} 3x3`, h, cin, c, 3, 1, 1, 4);
    } else {
      const ho = Math.floor((h + 2 - 3) / 2) + 1;
      add(`${L} 3x3/2 (first)`, h, cin, c, 3, 2, 1, 1);
      add(`${L} downsample 1x1 (after the pool)`, ho, cin, c, 1, 1, 0, 1);
      add(`${L} 3x3`, ho, c, c, 3, 1, 1, 3);
      h = ho;
    }
    cin = c;
  }
  return rows;
}

/**
 * The distinct convolutions of MobileNetV1 (Howard et al. 2017, Table 1) at `width`, NHWC,
 * as lib/models/mobilenet.ts builds it: the 3×3/2 stem, then per block a 3×3 depthwise
 * conv (`groups` = channels; names start with "dw") and a 1×1 pointwise conv ("pw").
 * Channels are rounded as timm's make_divisible (multiples of 8). With the CIFAR stem the
 * stem and the first stride-2 block have stride 1.
 */
function mobilenetv1Convs(size = 224, width = 1, cifar = false) {
  const ch = (v) => {
    let c = Math.max(8, Math.floor((v * width + 4) / 8) * 8);
    if (c < 0.9 * v * width) c += 8;
    return c;
  };
  const blocks = [[64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2], [512, 1], [512, 1], [512, 1], [512, 1], [512, 1], [1024, 2], [1024, 1]];
  const rows = [];
  const add = (name, h, c, k, r, stride, pad, groups) => {
    const same = rows.find((x) => x.h === h && x.c === c && x.k === k && x.r === r && x.stride === stride && x.groups === groups);
    if (same) same.count++;
    else rows.push({ name, h, w: h, c, k, r, s: r, stride, pad, groups, count: 1 });
  };
  const st = cifar ? 1 : 2;
  add(`stem 3x3${st > 1 ? '/2' : ''}`, size, 3, ch(32), 3, st, 1, 1);
  let h = Math.floor((size + 2 - 3) / st) + 1;
  let c = ch(32);
  blocks.forEach(([out, stride], i) => {
    const s = cifar && i === 1 ? 1 : stride;
    add(`dw 3x3${s > 1 ? '/2' : ''} ${h}² ×${c}`, h, c, c, 3, s, 1, c);
    h = Math.floor((h + 2 - 3) / s) + 1;
    add(`pw 1x1 ${h}² ${c}→${ch(out)}`, h, c, ch(out), 1, 1, 0, 1);
    c = ch(out);
  });
  return rows;
}

module.exports = { resnet50Convs, resnet18dConvs, mobilenetv1Convs, convFlops };
