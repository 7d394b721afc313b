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
 * report.html is self-contained: inline SVG charts drawn here (no scripts, no external
 * resources), so it opens anywhere and can be mailed as one file.
 */

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

/** An inline SVG line chart; series without finite points are left out. */
export function lineChart(o: ChartOptions): string {
  const series = o.series.map((s) => ({ ...s, points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)) })).filter((s) => s.points.length > 0);
  const title = `<text x="${M.left}" y="20" font-size="15" font-weight="600">${escapeHtml(o.title)}</text>`;
  if (series.length === 0) {
    return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(o.title)}">${title}` +
      `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" fill="#888">no data yet</text></svg>`;
  }
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
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
  for (const t of niceTicks(x0, x1, 6)) {
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
    // Legend, right-aligned in the title row.
    const lx = W - M.right - (series.length - i) * 130;
    parts.push(`<rect x="${lx}" y="12" width="12" height="3" fill="${s.colour}"/><text x="${lx + 16}" y="17" font-size="11">${escapeHtml(s.name)}</text>`);
  });
  return `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escapeHtml(o.title)}">${parts.join('')}</svg>`;
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
}

const pct = (v: number) => `${Number((v * 100).toPrecision(4))}%`;

/** The self-contained HTML report of a run. */
export function renderReport(input: ReportInput): string {
  const steps = input.rows.filter((r) => r.kind === 'step');
  const epochs = input.rows.filter((r) => r.kind === 'epoch');
  const pts = (rows: MetricsRow[], key: keyof MetricsRow): [number, number][] => rows.map((r) => [r.step, r[key] as number]);
  const charts = [
    lineChart({
      title: 'Loss', xLabel: 'step', yLabel: 'loss', zero: true,
      series: [
        { name: 'train (step)', points: pts(steps, 'loss'), colour: PALETTE[0] },
        { name: 'train (epoch)', points: pts(epochs, 'loss'), colour: PALETTE[2], dots: true },
        { name: 'validation', points: pts(epochs, 'val_loss'), colour: PALETTE[1], dots: true },
      ],
    }),
    lineChart({
      title: 'Accuracy', xLabel: 'step', yLabel: 'accuracy', yFormat: pct,
      series: [
        { name: 'train (epoch)', points: pts(epochs, 'acc'), colour: PALETTE[2], dots: true },
        { name: 'val top-1', points: pts(epochs, 'val_top1'), colour: PALETTE[1], dots: true },
        { name: 'val top-5', points: pts(epochs, 'val_top5'), colour: PALETTE[3], dots: true },
      ],
    }),
    lineChart({ title: 'Learning rate', xLabel: 'step', yLabel: 'lr', zero: true, series: [{ name: 'lr', points: pts(steps, 'lr'), colour: PALETTE[0] }] }),
    lineChart({
      title: 'Throughput', xLabel: 'step', yLabel: 'images / s', zero: true,
      series: [
        { name: 'img/s (step)', points: pts(steps, 'img_per_s'), colour: PALETTE[4] },
        { name: 'img/s (epoch)', points: pts(epochs, 'img_per_s'), colour: PALETTE[2], dots: true },
      ],
    }),
  ];
  const cell = (v: number | undefined, f: (x: number) => string) => (v === undefined || !Number.isFinite(v) ? '' : f(v));
  const table = epochs.length === 0 ? '<p>No epoch completed yet.</p>' : [
    '<table><thead><tr><th>epoch</th><th>step</th><th>train loss</th><th>train acc</th><th>val loss</th><th>val top-1</th><th>val top-5</th><th>img/s</th><th>time</th></tr></thead><tbody>',
    ...epochs.map((r) => `<tr><td>${r.epoch}</td><td>${r.step}</td><td>${cell(r.loss, (v) => v.toFixed(4))}</td><td>${cell(r.acc, pct)}</td>` +
      `<td>${cell(r.val_loss, (v) => v.toFixed(4))}</td><td>${cell(r.val_top1, pct)}</td><td>${cell(r.val_top5, pct)}</td>` +
      `<td>${cell(r.img_per_s, (v) => v.toFixed(1))}</td><td>${cell(r.time_s, (v) => `${v.toFixed(1)} s`)}</td></tr>`),
    '</tbody></table>',
  ].join('\n');
  const facts = input.facts.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(input.title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1340px; }
h1 { font-size: 20px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.charts svg { background: #fff; border: 1px solid #ddd; font-family: system-ui, sans-serif; }
table { border-collapse: collapse; margin: 12px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; }
td { font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: 12px; overflow: auto; }
</style>
</head>
<body>
<h1>${escapeHtml(input.title)}</h1>
<table>${facts}</table>
<div class="charts">
${charts.join('\n')}
</div>
<h2>Epochs</h2>
${table}
<h2>Configuration</h2>
<pre>${escapeHtml(JSON.stringify(input.config, null, 2))}</pre>
</body>
</html>
`;
}
