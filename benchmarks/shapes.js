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

function convFlops(sh, n) {
  const p = Math.floor((sh.h + 2 * sh.pad - sh.r) / sh.stride) + 1;
  const q = Math.floor((sh.w + 2 * sh.pad - sh.s) / sh.stride) + 1;
  return 2 * n * p * q * sh.k * sh.r * sh.s * sh.c;
}

module.exports = { resnet50Convs, convFlops };
