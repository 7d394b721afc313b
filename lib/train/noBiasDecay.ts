/**
 * No bias decay (§3.1 of the paper; Jia et al. 2018): L2 weight decay only on the weights
 * of convolution and fully-connected layers; biases and BN γ and β are not decayed. gluon-cv
 * sets `wd_mult = 0` on the parameters matching `.*beta|.*gamma|.*bias` (--no-wd).
 *
 * The model marks these parameters (`decay: false` on biases and BN γ/β in its
 * ParameterSpec list, and the Net's ParameterInfo repeats it); this function turns that
 * marking into the Net's `noDecay` list. It is the one place the trick is switched: the
 * baseline recipe (weight decay on everything) passes `enabled: false` and gets [] (note
 * that `Net.fromModel` always exempts the marked parameters; a trainer that wants the
 * baseline builds the Net with `new Net(graph, { noDecay: noBiasDecay(…, { enabled: false }) })`).
 */
import type { ParameterSpec } from '../models/graph';
import type { ParameterInfo } from '../net';
import { expectBool, expectKeys, expectObject, fail } from '../validate';

const NO_DECAY_KINDS = new Set(['bias', 'gamma', 'beta']);

/**
 * Names of the trainable parameters exempt from weight decay: those the model marks
 * `decay: false` (biases, BN γ and β). With `enabled: false`, none.
 */
export function noBiasDecay(parameters: readonly (ParameterSpec | ParameterInfo)[], options: { enabled?: boolean } = {}): string[] {
  if (!Array.isArray(parameters)) fail('ERR_ARGUMENT', 'array of parameter specs (model.parameters() or net.parameterInfo())', 'parameters', parameters);
  const o = expectObject('options', options);
  expectKeys('options', o, ['enabled']);
  const enabled = o.enabled === undefined ? true : expectBool('options.enabled', o.enabled);
  const out: string[] = [];
  parameters.forEach((p, i) => {
    if (typeof p !== 'object' || p === null || typeof p.name !== 'string' || typeof p.decay !== 'boolean' || typeof p.trainable !== 'boolean') {
      fail('ERR_ARGUMENT', 'parameter spec { name, kind, trainable, decay }', `parameters[${i}]`, p);
    }
    // The model's marking must agree with the kinds the trick names; a disagreement is a model bug.
    if (p.trainable && p.decay === NO_DECAY_KINDS.has(p.kind)) {
      fail('ERR_ARGUMENT', `decay ${!NO_DECAY_KINDS.has(p.kind)} for a ${p.kind}`, `parameters[${i}].decay (${p.name})`, p.decay);
    }
    if (enabled && p.trainable && !p.decay) out.push(p.name);
  });
  return out;
}
