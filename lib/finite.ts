/**
 * Checks that loaded weights are finite. A NaN or ±Inf weight does not fail loudly on its
 * own: one NaN in a conv weight can vanish in a max pool and leave finite-looking logits, or
 * turn every score into null. So weights are checked when they come in (checkpoints, state
 * dicts, Net.setParameters) and refused with ERR_NON_FINITE listing each tensor and its
 * counts, unless the caller opts out (`allowNonFinite`).
 */
import { BagOfTricksError } from './errors';

/** A tensor with non-finite values: its name and how many NaN, +Inf and −Inf values it holds. */
export interface NonFiniteTensor {
  name: string;
  nan: number;
  posInf: number;
  negInf: number;
}

/** The tensors (Float32Array values) holding NaN or ±Inf, with their counts, in the given order. */
export function findNonFinite(entries: Iterable<readonly [string, ArrayLike<number> | { data: unknown }]>): NonFiniteTensor[] {
  const out: NonFiniteTensor[] = [];
  for (const [name, v] of entries) {
    const data = ArrayBuffer.isView(v) ? (v as unknown as Float32Array) : (v as { data: unknown }).data;
    if (!(data instanceof Float32Array)) continue;
    let nan = 0;
    let posInf = 0;
    let negInf = 0;
    for (let i = 0; i < data.length; i++) {
      const x = data[i];
      if (x - x !== 0) {
        if (x !== x) nan++;
        else if (x > 0) posInf++;
        else negInf++;
      }
    }
    if (nan + posInf + negInf > 0) out.push({ name, nan, posInf, negInf });
  }
  return out;
}

const LISTED = 8;

/** "conv1.weight: 1 NaN; fc.bias: 2 +Inf, 1 −Inf" (the first 8 tensors, then a count). */
export function describeNonFinite(bad: NonFiniteTensor[]): string {
  const one = (t: NonFiniteTensor) => {
    const parts = [t.nan ? `${t.nan} NaN` : '', t.posInf ? `${t.posInf} +Inf` : '', t.negInf ? `${t.negInf} -Inf` : ''].filter(Boolean);
    return `${t.name}: ${parts.join(', ')}`;
  };
  const shown = bad.slice(0, LISTED).map(one).join('; ');
  return bad.length > LISTED ? `${shown}; and ${bad.length - LISTED} more tensors` : shown;
}

/** ERR_NON_FINITE with the tensors that hold NaN or Inf in `tensors`. */
export class NonFiniteWeightsError extends BagOfTricksError {
  constructor(
    /** Each tensor holding non-finite values, with its counts. */
    readonly tensors: NonFiniteTensor[],
    what: string,
  ) {
    super('ERR_NON_FINITE', `${what} holds non-finite values in ${tensors.length} tensor${tensors.length === 1 ? '' : 's'} (${describeNonFinite(tensors)}); the weights are unusable (pass allowNonFinite: true to load them anyway)`);
  }
}

/** Throws NonFiniteWeightsError (ERR_NON_FINITE) when a tensor of `entries` holds NaN or ±Inf. */
export function expectFiniteWeights(what: string, entries: Iterable<readonly [string, ArrayLike<number> | { data: unknown }]>): void {
  const bad = findNonFinite(entries);
  if (bad.length) throw new NonFiniteWeightsError(bad, what);
}
