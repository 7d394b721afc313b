/**
 * Loss scaler: GradScaler's exact sequence (start 65536, ×0.5 and skip on overflow, ×2
 * after 2000 consecutive clean steps), the floor and the fatal report, growth capped
 * where FP32 would overflow, state round trip mid-run, and the disabled (FP32) mode.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { expectCode } from './helpers/compare';
import { bot } from './helpers/lib';

const { LossScaler } = bot.train;

test('starts at 65536; overflow at steps 3 and 5 halves and skips; 2000 clean steps double', () => {
  const s = new LossScaler();
  assert.is(s.scale, 65536);
  const log: { step: number; skipped: boolean; scale: number }[] = [];
  for (let step = 0; step < 2006 + 2000; step++) {
    const r = s.update(step !== 3 && step !== 5);
    assert.not.ok(r.fatal);
    log.push({ step, skipped: r.skipped, scale: r.scale });
  }
  assert.equal(log.slice(0, 7).map((l) => [l.skipped, l.scale]), [
    [false, 65536], [false, 65536], [false, 65536], [true, 32768], [false, 32768], [true, 16384], [false, 16384],
  ]);
  // The clean run restarts after step 5: steps 6..2005 are 2000 clean steps, the last of which grows.
  assert.is(log[2004].scale, 16384);
  assert.is(log[2005].scale, 32768);
  // And again 2000 steps later, at step 4005 (the last of the loop), which restarts the count.
  assert.is(log[4004].scale, 32768);
  assert.is(log[4005].scale, 65536);
  assert.is(s.growthTracker, 0);
  assert.is(log.filter((l) => l.skipped).length, 2);
});

test('an overflow resets the count of clean steps', () => {
  const s = new LossScaler({ growthInterval: 3 });
  const seq = [true, true, false, true, true, true, true, true, true].map((f) => s.update(f).scale);
  assert.equal(seq, [65536, 65536, 32768, 32768, 32768, 65536, 65536, 65536, 131072]);
});

test('the floor: halving stops at 2^-14, and a non-finite step there is fatal', () => {
  const s = new LossScaler();
  let steps = 0;
  let r = s.update(false);
  while (!r.fatal) {
    steps++;
    assert.ok(r.scale >= 2 ** -14 && r.scale > 0);
    r = s.update(false);
  }
  assert.is(steps, 30); // 2^16 → 2^-14: 30 halvings, then one more overflow at the floor
  assert.is(r.scale, 2 ** -14);
  assert.ok(r.skipped);
  assert.match(r.reason!, /floor/);
  // A clean step after that still works (the trainer decides to stop).
  assert.equal(s.update(true), { skipped: false, scale: 2 ** -14, fatal: false });
  // A floor between powers of two is reached exactly.
  const t = new LossScaler({ initScale: 8, minScale: 3 });
  assert.equal([t.update(false).scale, t.update(false).scale, t.update(false).fatal], [4, 3, true]);
});

test('growth stops where the scale would overflow FP32 (as PyTorch: grow only if finite)', () => {
  const s = new LossScaler({ initScale: 2 ** 126, growthInterval: 1 });
  assert.is(s.update(true).scale, 2 ** 127);
  assert.is(s.update(true).scale, 2 ** 127);
  assert.is(s.growthTracker, 0);
});

test('state() / fromState() resume mid-run exactly, through JSON', () => {
  const a = new LossScaler({ growthInterval: 10 });
  const pattern = (i: number) => i % 17 !== 4 && i % 23 !== 0;
  for (let i = 1; i <= 37; i++) a.update(pattern(i));
  const saved = JSON.parse(JSON.stringify(a.state()));
  assert.equal(Object.keys(saved).sort(), ['backoffFactor', 'enabled', 'growthFactor', 'growthInterval', 'growthTracker', 'minScale', 'scale']);
  const b = LossScaler.fromState(saved);
  for (let i = 38; i <= 200; i++) assert.equal(b.update(pattern(i)), a.update(pattern(i)), `step ${i}`);
  assert.equal(b.state(), a.state());
  expectCode(() => LossScaler.fromState({ ...saved, scale: -1 }), 'ERR_ARGUMENT', 'negative scale');
  expectCode(() => LossScaler.fromState({ ...saved, growthTracker: 10 }), 'ERR_ARGUMENT', 'tracker ≥ interval');
  expectCode(() => LossScaler.fromState({ ...saved, extra: 1 } as never), 'ERR_ARGUMENT', 'unknown key');
  const { scale: _s, ...missing } = saved;
  expectCode(() => LossScaler.fromState(missing as never), 'ERR_ARGUMENT', 'missing scale');
});

test('disabled (FP32): scale 1, a clean step is a no-op, a non-finite step is fatal', () => {
  const s = LossScaler.disabled();
  assert.is(s.scale, 1);
  assert.not.ok(s.enabled);
  for (let i = 0; i < 5000; i++) assert.equal(s.update(true), { skipped: false, scale: 1, fatal: false });
  const r = s.update(false);
  assert.ok(r.fatal && r.skipped);
  assert.is(r.scale, 1);
  assert.match(r.reason!, /FP32/);
  const back = LossScaler.fromState(JSON.parse(JSON.stringify(s.state())));
  assert.not.ok(back.enabled);
  assert.is(back.scale, 1);
  expectCode(() => LossScaler.fromState({ ...s.state(), scale: 2 }), 'ERR_ARGUMENT', 'disabled with scale 2');
});

test('option errors', () => {
  expectCode(() => new LossScaler({ initScale: 0 }), 'ERR_ARGUMENT', 'scale 0');
  expectCode(() => new LossScaler({ growthFactor: 1 }), 'ERR_ARGUMENT', 'growth 1');
  expectCode(() => new LossScaler({ backoffFactor: 1 }), 'ERR_ARGUMENT', 'backoff 1');
  expectCode(() => new LossScaler({ backoffFactor: 0 }), 'ERR_ARGUMENT', 'backoff 0');
  expectCode(() => new LossScaler({ growthInterval: 0 }), 'ERR_ARGUMENT', 'interval 0');
  expectCode(() => new LossScaler({ initScale: 2 ** -20 }), 'ERR_ARGUMENT', 'below the floor');
  expectCode(() => new LossScaler({ init: 1 } as never), 'ERR_ARGUMENT', 'unknown key');
  expectCode(() => new LossScaler().update(1 as never), 'ERR_ARGUMENT', 'non-boolean');
});

test.run();
