/**
 * Training progress on stderr. On a terminal: one line redrawn in place ("\r", clear to the
 * end of the line, no new line), at most 10 times a second, cut to the terminal's width so
 * that it never wraps (a wrapped line leaves a new line at every redraw). Elsewhere (a pipe,
 * a file): a plain line every --log-every steps.
 */
import type { BatchLogs } from '../train/trainer';

/**
 * A learning rate with 4 significant digits and no trailing zeros: the rate rises by small
 * steps during the warmup (0.4 over 6,250 steps is 6.4e-5 a step), and 4 digits show them.
 */
export function formatLr(lr: number): string {
  return lr === 0 ? '0' : String(Number(lr.toPrecision(4)));
}

/** "42s", "3m05s", "1h02m"; "?" when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** Columns of the terminal behind `stream`, else of stdout, else 80. */
export function terminalColumns(stream: { columns?: number }): number {
  const c = stream.columns ?? process.stdout.columns;
  return typeof c === 'number' && c > 0 ? c : 80;
}

/** The stream Progress writes to: a TTY has `columns`. */
export interface ProgressStream {
  write(text: string): unknown;
  columns?: number;
}

export class Progress {
  private lastDraw = 0;
  private drawn = false;
  private readonly t0 = performance.now();
  private readonly step0: number;
  constructor(
    private readonly stream: ProgressStream,
    private readonly tty: boolean,
    private readonly plain: boolean,
    private readonly totalSteps: number,
    private readonly stepsPerEpoch: number,
    private readonly epochs: number,
    startStep: number,
  ) {
    this.step0 = startStep;
  }

  /** Seconds left at the pace of this process so far (validation included). */
  eta(step: number): number {
    const done = step - this.step0;
    return done > 0 ? ((performance.now() - this.t0) / 1000 / done) * (this.totalSteps - step) : NaN;
  }

  /** The bar and text in at most `columns - 1` characters (the last column would wrap on some terminals). */
  static line(inEpoch: number, stepsPerEpoch: number, text: string, columns: number): string {
    const room = Math.max(1, columns - 1);
    // The bar takes what the text leaves, between 6 and 24 cells; below 6 it is dropped.
    const width = Math.min(24, room - text.length - 3);
    if (width >= 6) {
      const filled = Math.round((width * inEpoch) / stepsPerEpoch);
      return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text}`;
    }
    return text.length <= room ? text : text.slice(0, room);
  }

  update(l: BatchLogs, sampled: boolean): void {
    const inEpoch = l.step - (l.epoch - 1) * this.stepsPerEpoch;
    const text = `epoch ${l.epoch}/${this.epochs} step ${inEpoch}/${this.stepsPerEpoch}  ${l.imgPerSec.toFixed(0)} img/s  loss ${l.loss.toFixed(4)}  lr ${formatLr(l.lr)}  ETA ${formatDuration(this.eta(l.step))}`;
    if (this.tty) {
      const now = performance.now();
      if (now - this.lastDraw < 100 && inEpoch !== this.stepsPerEpoch) return;
      this.lastDraw = now;
      this.stream.write(`\r\x1b[K${Progress.line(inEpoch, this.stepsPerEpoch, text, terminalColumns(this.stream))}`);
      this.drawn = true;
    } else if (this.plain && sampled) {
      this.stream.write(`${text}\n`);
    }
  }

  /** Clears the bar before other output. */
  clear(): void {
    if (this.tty && this.drawn) this.stream.write('\r\x1b[K');
    this.drawn = false;
  }

  note(message: string): void {
    this.clear();
    this.stream.write(`${message}\n`);
  }
}
