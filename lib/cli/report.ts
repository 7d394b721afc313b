/**
 * The run folder's metrics and its HTML report.
 *
 * metrics.csv has one header line and one row per sampled step and per epoch:
 *
 *   kind,epoch,step,time_s,loss,acc,lr,img_per_s,val_loss,val_top1,val_top5,loss_scale,skipped
 *
 *   kind        'step' (every --log-every steps) or 'epoch' (after each epoch's validation)
 *   epoch       1-based epoch the row belongs to
 *   step        optimizer steps taken so far (the x axis of every chart)
 *   time_s      seconds of training so far (summed over resumes)
 *   loss, acc   step rows: that batch's training loss and accuracy; epoch rows: the epoch's mean
 *   lr          learning rate of the step (epoch rows: of the epoch's last step)
 *   img_per_s   training throughput of the epoch so far (validation excluded)
 *   val_*       epoch rows only: validation loss, top-1 and top-5 (fractions in [0, 1])
 *   loss_scale  the FP16 loss scale (1 in FP32)
 *   skipped     steps skipped by the loss scaler (step rows: 0 or 1; epoch rows: in the epoch)
 *
 * report.html is self-contained: inline SVG charts drawn here, thumbnails as data: URIs (no
 * scripts, no external resources), so it opens anywhere and can be mailed as one file. The
 * charts share the page's width (two or more side by side on a wide screen, one per row on a
 * phone); their x axis is the epoch, fractional for step rows, so that a run of one to three
 * epochs reads as well as a long one. When training has finished, the report adds the
 * validation set's confusion matrix, per-class accuracy and the most confident mistakes
 * (report-validation.ts).
 */
import type { ValidationDetails } from './report-validation';

export const METRICS_COLUMNS = [
  'kind', 'epoch', 'step', 'time_s', 'loss', 'acc', 'lr', 'img_per_s', 'val_loss', 'val_top1', 'val_top5', 'loss_scale', 'skipped',
] as const;

export type MetricsColumn = (typeof METRICS_COLUMNS)[number];

/** One row of metrics.csv; absent numeric fields are empty cells. */
export interface MetricsRow {
  kind: 'step' | 'epoch';
  epoch: number;
  step: number;
  time_s: number;
  loss: number;
  acc: number;
  lr: number;
  img_per_s: number;
  val_loss?: number;
  val_top1?: number;
  val_top5?: number;
  loss_scale: number;
  skipped: number;
}

export const METRICS_HEADER = METRICS_COLUMNS.join(',');

/** A CSV line for a row (numbers with up to 6 significant digits; empty when absent). */
export function metricsLine(r: MetricsRow): string {
  return METRICS_COLUMNS.map((c) => {
    const v = r[c];
    if (v === undefined) return '';
    if (typeof v === 'string') return v;
    if (!Number.isFinite(v)) return String(v);
    return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  }).join(',');
}

/** Parses metrics.csv (rows with another column count are ignored). */
export function parseMetrics(text: string): MetricsRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines.length === 0 || lines[0] !== METRICS_HEADER) return [];
  const rows: MetricsRow[] = [];
  for (const line of lines.slice(1)) {
    const cells = line.split(',');
    if (cells.length !== METRICS_COLUMNS.length || (cells[0] !== 'step' && cells[0] !== 'epoch')) continue;
    const row: Record<string, unknown> = { kind: cells[0] };
    METRICS_COLUMNS.forEach((c, i) => {
      if (i > 0 && cells[i] !== '') row[c] = Number(cells[i]);
    });
    rows.push(row as unknown as MetricsRow);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------
// SVG line charts

interface Series {
  name: string;
  points: [number, number][];
  colour: string;
  /** Draw markers at the points (for sparse series such as per-epoch values). */
  dots?: boolean;
}

interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Formats a y tick label. */
  yFormat?: (v: number) => string;
  /** Include 0 in the y range. */
  zero?: boolean;
  /** The x range (default: the points'). */
  xRange?: [number, number];
  /** The x ticks (default: niceTicks over the x range). */
  xTicks?: number[];
}

const W = 640; // chart width in px
const H = 300; // chart height in px
const M = { left: 64, right: 16, top: 36, bottom: 48 }; // margins: room for tick labels, title, legend
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 × 10^k). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function short(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e4) return `${Number((v / 1000).toPrecision(3))}k`;
  if (a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(3)));
}

/** Width of a legend entry in chart units: swatch, name at up to 17 units per em (~9.5 per character), gap. */
const legendWidth = (name: string) => 16 + name.length * 9.5 + 12;

/** An inline SVG line chart; series without finite points are left out. */
export function lineChart(o: ChartOptions): string {
  const series = o.series.map((s) => ({ ...s, points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)) })).filter((s) => s.points.length > 0);
  const title = `<text x="${M.left}" y="20" font-size="15" font-weight="600">${escapeHtml(o.title)}</text>`;
  if (series.length === 0) {
    return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(o.title)}">${title}` +
      `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#888">no data yet</text></svg>`;
  }
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  let [x0, x1] = o.xRange ?? [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (o.zero) y0 = Math.min(0, y0);
  if (x1 === x0) [x0, x1] = [x0 - 1, x1 + 1];
  if (y1 === y0) [y0, y1] = [y0 - (Math.abs(y0) || 1) * 0.1, y1 + (Math.abs(y1) || 1) * 0.1];
  const pad = (y1 - y0) * 0.05; // headroom so lines do not run along the frame
  y1 += pad;
  if (!(o.zero && y0 === 0)) y0 -= pad;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) => M.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => M.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const f = (v: number) => v.toFixed(1);
  const fmt = o.yFormat ?? short;
  const parts: string[] = [title];
  for (const t of niceTicks(y0, y1)) {
    parts.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${f(sy(t))}" y2="${f(sy(t))}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${M.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end" font-size="11">${escapeHtml(fmt(t))}</text>`);
  }
  for (const t of o.xTicks ?? niceTicks(x0, x1, 6)) {
    parts.push(`<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${M.top + ph}" y2="${M.top + ph + 4}" stroke="#444"/>`);
    parts.push(`<text x="${f(sx(t))}" y="${M.top + ph + 16}" text-anchor="middle" font-size="11">${escapeHtml(short(t))}</text>`);
  }
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${escapeHtml(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="12">${escapeHtml(o.yLabel)}</text>`);
  series.forEach((s, i) => {
    const d = s.points.map(([x, y], k) => `${k ? 'L' : 'M'}${f(sx(x))} ${f(sy(y))}`).join('');
    parts.push(`<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="1.6"><title>${escapeHtml(s.name)}</title></path>`);
    if (s.dots || s.points.length === 1) {
      for (const [x, y] of s.points) parts.push(`<circle cx="${f(sx(x))}" cy="${f(sy(y))}" r="3" fill="${s.colour}"><title>${escapeHtml(`${s.name}: ${fmt(y)}`)}</title></circle>`);
    }
    // Legend, right-aligned in the title row; each entry as wide as its name at the phone's larger text.
    const lx = W - M.right - series.slice(i).reduce((w, t) => w + legendWidth(t.name), 0);
    parts.push(`<rect x="${lx}" y="12" width="12" height="3" fill="${s.colour}"/><text x="${lx + 16}" y="17" font-size="11">${escapeHtml(s.name)}</text>`);
  });
  return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(o.title)}">${parts.join('')}</svg>`;
}

// ---------------------------------------------------------------------------------------
// The report

export interface ReportInput {
  title: string;
  /** Lines of key facts shown above the charts (model, data, recipe, backend, …). */
  facts: [string, string][];
  rows: MetricsRow[];
  /** The resolved configuration, shown as JSON at the end. */
  config: unknown;
  /** Optimizer steps per epoch (default: from the epoch rows; without any, the x axis is the step). */
  stepsPerEpoch?: number;
  /** Epochs the run is asked to train: the x axis spans them from the first report on. */
  epochs?: number;
  /** The validation set's predictions, once training has finished. */
  validation?: ValidationDetails;
}

const pct = (v: number) => `${Number((v * 100).toPrecision(4))}%`;

/** Epoch-axis ticks: whole epochs for short runs (2 to 12), round fractions for one epoch, nice steps beyond. */
export function epochTicks(epochs: number): number[] {
  if (epochs >= 2 && epochs <= 12 && Number.isInteger(epochs)) return Array.from({ length: epochs + 1 }, (_, i) => i);
  return niceTicks(0, epochs, 5);
}

/** The self-contained HTML report of a run. */
export function renderReport(input: ReportInput): string {
  const steps = input.rows.filter((r) => r.kind === 'step');
  const epochs = input.rows.filter((r) => r.kind === 'epoch');
  const lastEpoch = epochs[epochs.length - 1];
  const spe = input.stepsPerEpoch ?? (lastEpoch && lastEpoch.epoch > 0 ? lastEpoch.step / lastEpoch.epoch : undefined);
  // x: the epoch (step rows at fractions of it); without a steps-per-epoch, the step.
  const x = (r: MetricsRow) => (spe ? (r.kind === 'epoch' ? r.epoch : r.step / spe) : r.step);
  const xMax = spe ? Math.max(input.epochs ?? 0, ...input.rows.map(x), 1) : undefined;
  const axis = spe ? { xLabel: 'epoch', xRange: [0, xMax!] as [number, number], xTicks: epochTicks(xMax!) } : { xLabel: 'step' };
  const pts = (rows: MetricsRow[], key: keyof MetricsRow): [number, number][] => rows.map((r) => [x(r), r[key] as number]);
  // Top-5 is left out where it says nothing (5 classes or fewer: metrics.csv leaves it empty).
  const hasTop5 = epochs.some((r) => r.val_top5 !== undefined && Number.isFinite(r.val_top5));
  const charts = [
    lineChart({
      title: 'Loss', ...axis, yLabel: 'loss', zero: true,
      series: [
        { name: 'train (step)', points: pts(steps, 'loss'), colour: PALETTE[0] },
        { name: 'train (epoch)', points: pts(epochs, 'loss'), colour: PALETTE[2], dots: true },
        { name: 'validation', points: pts(epochs, 'val_loss'), colour: PALETTE[1], dots: true },
      ],
    }),
    lineChart({
      title: 'Accuracy', ...axis, yLabel: 'accuracy', yFormat: pct,
      series: [
        { name: 'train (epoch)', points: pts(epochs, 'acc'), colour: PALETTE[2], dots: true },
        { name: 'val top-1', points: pts(epochs, 'val_top1'), colour: PALETTE[1], dots: true },
        ...(hasTop5 ? [{ name: 'val top-5', points: pts(epochs, 'val_top5'), colour: PALETTE[3], dots: true }] : []),
      ],
    }),
    lineChart({ title: 'Learning rate', ...axis, yLabel: 'lr', zero: true, series: [{ name: 'lr', points: pts(steps, 'lr'), colour: PALETTE[0] }] }),
    lineChart({
      title: 'Throughput', ...axis, yLabel: 'images / s', zero: true,
      series: [
        { name: 'img/s (step)', points: pts(steps, 'img_per_s'), colour: PALETTE[4] },
        { name: 'img/s (epoch)', points: pts(epochs, 'img_per_s'), colour: PALETTE[2], dots: true },
      ],
    }),
  ];
  const cell = (v: number | undefined, f: (x: number) => string) => (v === undefined || !Number.isFinite(v) ? '' : f(v));
  // time_s is cumulative: an epoch's time is the difference to the epoch row before it.
  const epochSeconds = epochs.map((r, i) => r.time_s - (i > 0 ? epochs[i - 1].time_s : 0));
  const table = epochs.length === 0 ? '<p>No epoch completed yet.</p>' : [
    `<div class="scroll"><table><thead><tr><th>epoch</th><th>step</th><th>train loss</th><th>train acc</th><th>val loss</th><th>val top-1</th>${hasTop5 ? '<th>val top-5</th>' : ''}<th>img/s</th><th>epoch time</th><th>total time</th></tr></thead><tbody>`,
    ...epochs.map((r, i) => `<tr><td>${r.epoch}</td><td>${r.step}</td><td>${cell(r.loss, (v) => v.toFixed(4))}</td><td>${cell(r.acc, pct)}</td>` +
      `<td>${cell(r.val_loss, (v) => v.toFixed(4))}</td><td>${cell(r.val_top1, pct)}</td>${hasTop5 ? `<td>${cell(r.val_top5, pct)}</td>` : ''}` +
      `<td>${cell(r.img_per_s, (v) => v.toFixed(1))}</td><td>${cell(epochSeconds[i], (v) => `${v.toFixed(1)} s`)}</td><td>${cell(r.time_s, (v) => `${v.toFixed(1)} s`)}</td></tr>`),
    '</tbody></table></div>',
  ].join('\n');
  // A value that repeats its label ("backend: CPU, …" under "backend") is shown without it.
  const facts = input.facts.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v.startsWith(`${k}: `) ? v.slice(k.length + 2) : v)}</td></tr>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px clamp(8px, 3vw, 32px); color: #222; max-width: 1800px; }
h1 { font-size: 20px; overflow-wrap: anywhere; }
h2 { font-size: 17px; margin-top: 28px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 520px), 1fr)); gap: 12px; }
.charts svg { display: block; width: 100%; height: auto; background: #fff; border: 1px solid #ddd; font-family: system-ui, sans-serif; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 12px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td { font-variant-numeric: tabular-nums; }
table.facts td { overflow-wrap: anywhere; }
table.cm td, table.cm th { text-align: right; padding: 2px 6px; }
table.cm th.corner { text-align: left; font-weight: normal; color: #555; }
table.cm td.diag { font-weight: 600; }
.note { color: #555; }
.gallery { display: flex; flex-wrap: wrap; gap: 10px; }
.gallery figure { margin: 0; width: 96px; font-size: 12px; }
.gallery img { display: block; width: 64px; height: 64px; image-rendering: pixelated; border: 1px solid #ccc; background: #eee; }
.gallery figcaption { overflow-wrap: anywhere; }
.bad { color: #b00020; }
pre { background: #f6f6f6; padding: 12px; overflow: auto; }
/* A phone shows a chart at about half its drawn size: larger text in the chart's units, tighter tables. */
@media (max-width: 600px) {
  .charts svg text { font-size: 17px; }
  .charts svg text[font-weight] { font-size: 22px; }
  th, td { padding: 2px 4px; }
  table.cm td, table.cm th { padding: 2px 3px; }
}
</style>
</head>
<body>
<h1>${escapeHtml(input.title)}</h1>
<table class="facts">${facts}</table>
<div class="charts">
${charts.join('\n')}
</div>
<h2>Epochs</h2>
${table}
${renderValidation(input.validation)}
<h2>Configuration</h2>
<pre>${escapeHtml(JSON.stringify(input.config, null, 2))}</pre>
</body>
</html>
`;
}

/** Matrices with more classes than this are left out (per-class accuracy stays). */
const MATRIX_MAX_CLASSES = 40;

/** The confusion matrix with per-class counts and accuracy, and the gallery of confident mistakes. */
function renderValidation(v: ValidationDetails | undefined): string {
  if (!v) return '<h2>Validation details</h2>\n<p class="note">The confusion matrix, per-class accuracy and the most confident mistakes appear here when training has finished.</p>';
  const k = v.classes.length;
  const name = (c: number) => escapeHtml(v.classes[c]);
  const rowTotal = v.confusion.map((r) => r.reduce((a, b) => a + b, 0));
  const colTotal = v.classes.map((_, p) => v.confusion.reduce((a, r) => a + r[p], 0));
  const n = rowTotal.reduce((a, b) => a + b, 0);
  const correct = v.confusion.reduce((a, r, t) => a + r[t], 0);
  const acc = (t: number) => (rowTotal[t] ? v.confusion[t][t] / rowTotal[t] : NaN);
  const accCell = (t: number) => (Number.isFinite(acc(t)) ? pct(acc(t)) : '-');
  const parts = [
    '<h2>Validation: confusion matrix</h2>',
    `<p class="note">${n} validation images, predicted with the ${escapeHtml(v.weights)}: top-1 ${n ? pct(correct / n) : '-'}. Rows: true class; columns: predicted class; shading: share of the row.</p>`,
  ];
  if (k <= MATRIX_MAX_CLASSES) {
    const head = `<tr><th class="corner">true \\ predicted</th>${v.classes.map((_, p) => `<th scope="col">${name(p)}</th>`).join('')}<th scope="col">images</th><th scope="col">accuracy</th></tr>`;
    const body = v.confusion.map((r, t) => {
      const cells = r.map((count, p) => {
        const share = rowTotal[t] ? count / rowTotal[t] : 0;
        const colour = t === p ? `rgba(44,160,44,${(share * 0.6).toFixed(2)})` : `rgba(214,39,40,${Math.min(0.7, share * 1.5).toFixed(2)})`;
        const style = count ? ` style="background:${colour}"` : '';
        return `<td class="${t === p ? 'diag' : 'off'}" title="true ${name(t)}, predicted ${name(p)}: ${count}"${style}>${count}</td>`;
      }).join('');
      return `<tr><th scope="row">${name(t)}</th>${cells}<td>${rowTotal[t]}</td><td>${accCell(t)}</td></tr>`;
    });
    const foot = `<tr><th scope="row">predicted</th>${colTotal.map((c) => `<td>${c}</td>`).join('')}<td>${n}</td><td>${n ? pct(correct / n) : '-'}</td></tr>`;
    parts.push(`<div class="scroll"><table class="cm"><thead>${head}</thead><tbody>\n${body.join('\n')}\n</tbody><tfoot>${foot}</tfoot></table></div>`);
  } else {
    parts.push(`<p class="note">The matrix of ${k} classes is left out; per-class accuracy:</p>`);
    parts.push(`<div class="scroll"><table class="per-class"><thead><tr><th>class</th><th>images</th><th>correct</th><th>accuracy</th></tr></thead><tbody>\n${
      v.classes.map((_, t) => `<tr><th scope="row">${name(t)}</th><td>${rowTotal[t]}</td><td>${v.confusion[t][t]}</td><td>${accCell(t)}</td></tr>`).join('\n')}\n</tbody></table></div>`);
  }
  parts.push('<h2>Most confident mistakes</h2>');
  if (v.mistakes.length === 0) {
    parts.push('<p class="note">No validation image was misclassified.</p>');
  } else {
    parts.push(`<p class="note">The ${v.mistakes.length} misclassified validation images the model was surest of (score: its probability for the predicted class).</p>`);
    parts.push('<div class="gallery">');
    for (const m of v.mistakes) {
      const img = m.thumbnail ? `<img src="${m.thumbnail}" width="64" height="64" alt="${escapeHtml(m.name)}">` : '<div class="img-missing">(unreadable)</div>';
      parts.push(`<figure class="mistake" title="${escapeHtml(m.name)}">${img}<figcaption>true <b>${name(m.label)}</b><br>pred <b class="bad">${name(m.pred)}</b><br>${pct(m.score)}</figcaption></figure>`);
    }
    parts.push('</div>');
  }
  return parts.join('\n');
}
