import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { expectCode, expectCodeAsync } from './helpers/compare';
import { bot } from './helpers/lib';

const { ops } = bot;

test('every native export survives garbage and answers with a coded error', () => {
  const child = path.join(__dirname, 'helpers', 'fuzz-child.js');
  const r = spawnSync(process.execPath, [child], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const started = lines.filter((l) => l.start).map((l) => l.start);
  const done = lines.filter((l) => l.name);
  assert.is(r.status, 0, `fuzz child died (signal ${r.signal}) during ${started[started.length - 1]}: ${r.stderr.slice(-2000)}`);
  assert.equal(lines[0].missing, [], 'every export has a valid call in the fuzz table');
  assert.ok(done.length >= 30, `only ${done.length} exports fuzzed`);
  assert.is(done.length, started.length, 'every export reported');
  for (const s of done) {
    assert.is(s.validFailed, undefined, `${s.name}: the valid call failed`);
    assert.equal(s.uncoded, [], `${s.name}: errors without a stable code`);
    // Garbage in a position may still be valid (another boolean, a shape that fits), but
    // most of it must be refused.
    assert.ok(s.coded >= s.calls * 0.8, `${s.name}: only ${s.coded} of ${s.calls} garbage calls were rejected`);
  }
});

test('missing arguments and wrong types through the public API give coded errors', async () => {
  const x = { data: new Float32Array(4), shape: [1, 2, 2, 1] };
  const cases: [string, () => unknown, string][] = [
    ['relu()', () => (ops.relu as (...a: unknown[]) => unknown)(), 'ERR_ARGUMENT'],
    ['relu(null)', () => ops.relu(null as never), 'ERR_ARGUMENT'],
    ['relu(array)', () => ops.relu([1, 2] as never), 'ERR_ARGUMENT'],
    ['relu NaN shape', () => ops.relu({ data: new Float32Array(1), shape: [NaN] }), 'ERR_SHAPE'],
    ['relu negative shape', () => ops.relu({ data: new Float32Array(1), shape: [-1] }), 'ERR_SHAPE'],
    ['relu huge shape', () => ops.relu({ data: new Float32Array(1), shape: [2 ** 20, 2 ** 20] }), 'ERR_SHAPE'],
    ['relu empty shape', () => ops.relu({ data: new Float32Array(0), shape: [] }), 'ERR_SHAPE'],
    ['relu zero dim', () => ops.relu({ data: new Float32Array(0), shape: [0] }), 'ERR_SHAPE'],
    ['gemm strings', () => ops.gemm('a' as never, 'b' as never), 'ERR_ARGUMENT'],
    ['gemm inner', () => ops.gemm({ data: new Float32Array(6), shape: [2, 3] }, { data: new Float32Array(6), shape: [2, 3] }), 'ERR_SHAPE'],
    ['gemm beta without c', () => ops.gemm({ data: new Float32Array(4), shape: [2, 2] }, { data: new Float32Array(4), shape: [2, 2] }, { beta: 1 }), 'ERR_ARGUMENT'],
    ['gemm option typo', () => ops.gemm({ data: new Float32Array(4), shape: [2, 2] }, { data: new Float32Array(4), shape: [2, 2] }, { transpose: true } as never), 'ERR_ARGUMENT'],
    ['linear 4-D', () => ops.linear(x, x), 'ERR_SHAPE'],
    ['toFloat16 number', () => ops.toFloat16(3 as never), 'ERR_ARGUMENT'],
    ['setThreads 0', () => bot.runtime.setThreads(0), 'ERR_ARGUMENT'],
    ['setThreads 1.5', () => bot.runtime.setThreads(1.5), 'ERR_ARGUMENT'],
  ];
  for (const [what, fn, code] of cases) expectCode(fn, code, what);
  await expectCodeAsync(() => ops.gemmAsync({ data: new Float32Array(6), shape: [2, 3] }, { data: new Float32Array(6), shape: [2, 3] }), 'ERR_SHAPE', 'gemmAsync');
});

test('an async rejection keeps the caller in its stack trace', async () => {
  async function callerFunctionName() {
    return ops.linearAsync({ data: new Float32Array(6), shape: [2, 3] }, { data: new Float32Array(8), shape: [2, 4] });
  }
  try {
    await callerFunctionName();
    assert.unreachable('should reject');
  } catch (e) {
    assert.instance(e, bot.BagOfTricksError);
    assert.is((e as { code: string }).code, 'ERR_SHAPE');
  }
  // A rejection that comes from the core (not from TS validation) also carries the caller.
  const native = require(path.join(__dirname, '..', '..', 'dist', 'native')).native();
  const errors = require(path.join(__dirname, '..', '..', 'dist', 'errors'));
  async function anotherCaller() {
    return errors.callNativeAsync(() => native.ops.gemmAsync(new Float32Array(4), new Float32Array(4), 2, 2, 3, false, false, 1, 0));
  }
  try {
    await anotherCaller();
    assert.unreachable('should reject');
  } catch (e) {
    assert.is((e as { code: string }).code, 'ERR_SHAPE');
    assert.match(String((e as Error).stack), 'anotherCaller');
  }
});

test.run();
