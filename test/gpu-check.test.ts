/**
 * The one-shot GPU check (benchmarks/gpu/check.sh) in its dry run: every stage that needs
 * no GPU, end to end, writing its report to the folder given in OUT and never into
 * benchmarks/results. The PyTorch peer runs where a Python with torch exists; elsewhere
 * its skip and reason are checked instead.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { bot } from './helpers/lib';

const root = path.join(__dirname, '..', '..');
const results = path.join(root, 'benchmarks', 'results');

interface Skip { what: string; reason: string }
interface Run { who: string; mode: string; model: string; batch: number; imgPerSec: number | null; reason?: string; impl?: string }

test('check.sh --dry-run writes the report and the log, with the reasons for what it skipped', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-gpu-check-test-'));
  const before = fs.existsSync(results) ? fs.readdirSync(results) : [];
  try {
    const r = spawnSync('bash', [path.join(root, 'benchmarks', 'gpu', 'check.sh'), '--dry-run'], {
      cwd: root, encoding: 'utf8', timeout: 120_000, env: { ...process.env, OUT: out, NODE: process.execPath, NO_COLOR: '1' },
    });
    assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
    const files = fs.readdirSync(out).sort();
    assert.is(files.length, 2, files.join(', '));
    assert.match(files[0], /^gpu-\d{4}-\d\d-\d\d\.json$/);
    assert.is(files[1], files[0].replace(/\.json$/, '.log'));
    assert.ok(fs.readFileSync(path.join(out, files[1]), 'utf8').includes('GPU check (dry run)'), 'the log holds the output');
    assert.equal(fs.existsSync(results) ? fs.readdirSync(results) : [], before, 'nothing written to benchmarks/results');

    const j = JSON.parse(fs.readFileSync(path.join(out, files[0]), 'utf8'));
    for (const k of ['device', 'model', 'batchSize', 'precision', 'imgPerSec', 'pytorchImgPerSec', 'ratio', 'testsPassed', 'testsFailed', 'runs', 'skipped', 'environment']) {
      assert.ok(k in j, `report key ${k}`);
    }
    assert.is(j.check, 'gpu');
    assert.is(j.dryRun, true);
    assert.is(j.complete, true);
    assert.equal(j.stages.map((s: { name: string }) => s.name), ['device', 'tests', 'ours', 'torch', 'cifar', 'torch-compile']);
    assert.ok(j.stages.every((s: { status: string }) => s.status === 'done'), JSON.stringify(j.stages));
    assert.type(j.device, 'string');
    assert.ok(j.environment.doctor.cuda, 'the doctor report is embedded');
    assert.ok(j.environment.nvidiaSmi.error || j.environment.nvidiaSmi.gpus, 'nvidia-smi: its GPUs or why there are none');

    // The test stage ran package.test.js with the CUDA backend selected.
    assert.is(j.tests.backend, 'cuda');
    assert.ok(j.testsPassed >= 1, `testsPassed ${j.testsPassed}`);
    assert.is(j.testsFailed, 0);

    // Our CUDA training: no number without a GPU, and the reason is recorded.
    const skipped: Skip[] = j.skipped;
    const ours: Run[] = j.runs.filter((x: Run) => x.who === 'ours');
    if (!bot.runtime.cudaInfo().available) {
      assert.is(j.imgPerSec, null);
      assert.is(j.ratio, null);
      assert.ok(typeof j.imgPerSecReason === 'string' && j.imgPerSecReason.length > 0);
      assert.ok(ours.length > 0 && ours.every((x) => x.imgPerSec === null && x.reason === j.imgPerSecReason));
      assert.ok(skipped.some((s) => s.what.startsWith('ours') && s.reason === j.imgPerSecReason));
      assert.ok(skipped.some((s) => s.what === 'cifar10' && s.reason === 'our CUDA training did not run'), JSON.stringify(skipped));
    }

    const torchMissing = skipped.find((s) => s.what === 'pytorch');
    if (torchMissing) {
      console.log(`  (PyTorch part not checked: ${torchMissing.reason})`);
      assert.is(j.pytorchImgPerSec, null);
    } else {
      const eager = j.runs.find((x: Run) => x.who === 'pytorch' && x.mode === 'eager');
      assert.ok(eager, JSON.stringify(j.runs));
      assert.is(eager.model, j.model);
      assert.is(eager.batch, j.batchSize);
      assert.ok(eager.imgPerSec > 0);
      assert.is(j.pytorchImgPerSec, eager.imgPerSec);
      // torch.compile either ran or says why not.
      assert.ok(j.runs.some((x: Run) => x.who === 'pytorch' && x.mode === 'compile') || skipped.some((s) => s.what.startsWith('pytorch compile')));
    }
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});

test.run();
