/**
 * Dynamic loss scaling for FP16 training (§3.2 of the paper; Micikevicius et al. 2018),
 * with PyTorch's `torch.cuda.amp.GradScaler` semantics: the loss is multiplied by `scale`
 * before backward so small FP16 gradients do not flush to zero, the gradients are divided
 * by it before the update, and after each step:
 *
 * - gradients not all finite (an FP16 overflow): the update is skipped, scale ×= 0.5
 *   (backoffFactor), and the count of clean steps restarts;
 * - otherwise: the count goes up; when it reaches 2000 (growthInterval), scale ×= 2
 *   (growthFactor) and the count restarts — if the grown scale is still finite in FP32,
 *   as PyTorch requires (so at most 2^127 from a power-of-two start).
 *
 * The scale starts at 65536 = 2^16 (initScale). Every factor is a power of two, so the
 * scale is always an exact power of two and unscaling is exact.
 *
 * Floor (not in PyTorch, whose scale can decay to 0 and turn every gradient into NaN):
 * the scale never goes below minScale = 2^-14 (6.1e-5, the smallest normal FP16; fairseq
 * stops at 1e-4 the same way). A non-finite step while already at the floor means the
 * loss itself is not finite, not an overflow that a smaller scale would fix: update()
 * reports it `fatal` and the trainer stops the run.
 *
 * Disabled (FP32 training): scale is 1 and stays 1; a non-finite step cannot be an
 * overflow, so it is reported `fatal` at once (the trainer stops before writing a
 * checkpoint with NaN in it).
 */
import { expectBool, expectInt, expectKeys, expectNumber, expectObject, fail } from '../validate';

/**
 * Options of `new LossScaler(options)`, PyTorch GradScaler's defaults (LOSS_SCALER_DEFAULTS).
 * Unknown keys and out-of-range values throw ERR_ARGUMENT.
 */
export interface LossScalerOptions {
  /** false: FP32, scale 1, every non-finite step fatal. Default true. */
  enabled?: boolean;
  /** Scale of the first step. Default 65536 (2^16). */
  initScale?: number;
  /** Multiplier of the scale after growthInterval finite steps. Default 2. */
  growthFactor?: number;
  /** Multiplier of the scale after an overflow. Default 0.5. */
  backoffFactor?: number;
  /** Consecutive finite steps before the scale grows. Default 2000. */
  growthInterval?: number;
  /** Floor of the scale. Default 2^-14. */
  minScale?: number;
}

/** Everything needed to resume: JSON-safe (PyTorch's GradScaler.state_dict() holds the same). */
export interface LossScalerState {
  /** False for FP32 training (scale fixed at 1). */
  enabled: boolean;
  /** The current scale. */
  scale: number;
  /** Multiplier of the scale after growthInterval finite steps. */
  growthFactor: number;
  /** Multiplier of the scale after an overflow. */
  backoffFactor: number;
  /** Consecutive finite steps before the scale grows. */
  growthInterval: number;
  /** Floor of the scale. */
  minScale: number;
  /** Consecutive finite steps since the last growth or overflow. */
  growthTracker: number;
}

/** What LossScaler.update() decided after one step. */
export interface ScaleUpdate {
  /** The step's parameter update must be skipped (or was: the Net skips it when told the gradients were not finite). */
  skipped: boolean;
  /** The scale for the next step. */
  scale: number;
  /** The run cannot go on (FP32 non-finite step, or a non-finite step at the floor); `reason` says why. */
  fatal: boolean;
  /** Why the run cannot go on, when `fatal`. */
  reason?: string;
}

/**
 * PyTorch GradScaler's defaults (initial scale 2^16, ×2 every 2000 finite steps, ×0.5 on
 * overflow) plus a floor of 2^-14, the smallest normal FP16.
 */
export const LOSS_SCALER_DEFAULTS: Required<LossScalerOptions> = {
  enabled: true,
  initScale: 65536, // 2^16, PyTorch's GradScaler default
  growthFactor: 2, // PyTorch's default
  backoffFactor: 0.5, // PyTorch's default
  growthInterval: 2000, // PyTorch's default
  minScale: 2 ** -14, // smallest normal FP16: below it the scaled loss loses precision itself
};

const FLOAT32_MAX = 3.4028234663852886e38; // the scale lives in FP32 on the device

/**
 * Dynamic loss scaling for FP16 training with PyTorch GradScaler's semantics: the loss is
 * multiplied by `scale` before backward, the gradients are unscaled in the update; an
 * overflow skips the step and halves the scale, 2000 clean steps double it. Scales are powers
 * of two, so unscaling is exact. A non-finite step at the floor (or any in FP32, when
 * disabled) is reported `fatal`.
 */
export class LossScaler {
  /** False for FP32 training: the scale stays 1 and every non-finite step is fatal. */
  readonly enabled: boolean;
  /** Multiplier of the scale after growthInterval finite steps (default 2). */
  readonly growthFactor: number;
  /** Multiplier of the scale after an overflow (default 0.5). */
  readonly backoffFactor: number;
  /** Consecutive finite steps before the scale grows (default 2000). */
  readonly growthInterval: number;
  /** Floor of the scale (default 2^-14). */
  readonly minScale: number;
  private current: number;
  private tracker = 0;

  /**
   * A scaler starting at `initScale` (default 2^16; 1 when disabled).
   * @param options - Factors, interval, floor, initial scale, or `enabled: false` for FP32.
   * @throws BagOfTricksError ERR_ARGUMENT for an unknown key or a value out of range.
   */
  constructor(options: LossScalerOptions = {}) {
    const o = expectObject('options', options);
    expectKeys('options', o, Object.keys(LOSS_SCALER_DEFAULTS));
    const r = { ...LOSS_SCALER_DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) };
    this.enabled = expectBool('options.enabled', r.enabled);
    this.growthFactor = expectNumber('options.growthFactor', r.growthFactor, 1, 1024, 'number in (1, 1024]');
    if (this.growthFactor === 1) fail('ERR_ARGUMENT', 'number in (1, 1024]', 'options.growthFactor', 1);
    this.backoffFactor = expectNumber('options.backoffFactor', r.backoffFactor, 0, 1, 'number in (0, 1)');
    if (this.backoffFactor === 0 || this.backoffFactor === 1) fail('ERR_ARGUMENT', 'number in (0, 1)', 'options.backoffFactor', this.backoffFactor);
    this.growthInterval = expectInt('options.growthInterval', r.growthInterval, 1);
    this.minScale = expectNumber('options.minScale', r.minScale, Number.MIN_VALUE, FLOAT32_MAX, 'number > 0 (finite in FP32)');
    const init = expectNumber('options.initScale', r.initScale, this.minScale, FLOAT32_MAX, `number in [minScale, 2^128)`);
    this.current = this.enabled ? init : 1;
  }

  /** A scaler for FP32 training: scale 1, non-finite steps fatal. */
  static disabled(): LossScaler {
    return new LossScaler({ enabled: false });
  }

  /** The factor the next step multiplies its loss by. */
  get scale(): number {
    return this.current;
  }

  /** Consecutive finite steps since the last growth or overflow. */
  get growthTracker(): number {
    return this.tracker;
  }

  /** Records one step's outcome: were all gradients (and the loss) finite? */
  update(finite: boolean): ScaleUpdate {
    expectBool('finite', finite);
    if (!this.enabled) {
      if (finite) return { skipped: false, scale: 1, fatal: false };
      return { skipped: true, scale: 1, fatal: true, reason: 'non-finite loss or gradients in FP32 training (no loss scaling to back off)' };
    }
    if (!finite) {
      this.tracker = 0;
      if (this.current <= this.minScale) {
        return {
          skipped: true, scale: this.current, fatal: true,
          reason: `non-finite loss or gradients with the loss scale at its floor (${this.minScale}): the loss is diverging`,
        };
      }
      this.current = Math.max(this.current * this.backoffFactor, this.minScale);
      return { skipped: true, scale: this.current, fatal: false };
    }
    this.tracker++;
    if (this.tracker >= this.growthInterval) {
      const grown = this.current * this.growthFactor;
      if (grown <= FLOAT32_MAX) this.current = grown; // PyTorch: grow only if still finite
      this.tracker = 0;
    }
    return { skipped: false, scale: this.current, fatal: false };
  }

  /** The scaler's state, JSON-safe, for a checkpoint (restore with LossScaler.fromState). */
  state(): LossScalerState {
    return {
      enabled: this.enabled, scale: this.current, growthFactor: this.growthFactor, backoffFactor: this.backoffFactor,
      growthInterval: this.growthInterval, minScale: this.minScale, growthTracker: this.tracker,
    };
  }

  /** A scaler that continues from a saved state() (every field checked; unknown keys rejected). */
  static fromState(state: LossScalerState): LossScaler {
    const o = expectObject('state', state);
    const keys = ['enabled', 'scale', 'growthFactor', 'backoffFactor', 'growthInterval', 'minScale', 'growthTracker'];
    expectKeys('state', o, keys);
    for (const k of keys) if (o[k] === undefined) fail('ERR_ARGUMENT', `a value for ${k}`, `state.${k}`, undefined);
    expectBool('state.enabled', o.enabled);
    expectNumber('state.scale', o.scale, Number.MIN_VALUE, FLOAT32_MAX, 'number > 0 (finite in FP32)');
    const s = new LossScaler({
      enabled: o.enabled as boolean, initScale: o.enabled ? (o.scale as number) : undefined, growthFactor: o.growthFactor as number,
      backoffFactor: o.backoffFactor as number, growthInterval: o.growthInterval as number, minScale: o.minScale as number,
    });
    if (!s.enabled && o.scale !== 1) fail('ERR_ARGUMENT', 'scale 1 when disabled', 'state.scale', o.scale);
    s.tracker = expectInt('state.growthTracker', o.growthTracker, 0, s.growthInterval - 1);
    return s;
  }
}
