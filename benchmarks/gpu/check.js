#!/usr/bin/env node
'use strict';
/**
 * The one-shot GPU check, run by benchmarks/gpu/check.sh (which sets up the log, the
 * output folder and the clock); see benchmarks/gpu/README.md.
 *
 *   node benchmarks/gpu/check.js --out DIR --date YYYY-MM-DD --start EPOCH_S [--dry-run]
 *   node benchmarks/gpu/check.js --write-manifest FILE --manifest-archs ARCHS   (pack.sh)
 *
 * Stages, in order of what matters most, each recorded in the report as it ends:
 *   device  nvidia-smi, `bagoftricks doctor --json`, PyTorch's view of the device, and
 *           whether the packed build matches these sources and this GPU;
 *   tests   the CUDA tests (BAGOFTRICKS_BACKEND=cuda) of the compiled test suite;
 *   ours    `bagoftricks bench train --backend cuda --precision fp16` per model and batch,
 *           or the reason our CUDA training backend cannot run (imgPerSec: null); then
 *           one --profile run of the headline configuration (time per op kind; each op
 *           is waited for, so it runs slower than the timed runs);
 *   torch   benchmarks/peers/torch_gpu_train.py: eager AMP;
 *   cifar   CIFAR-10 end to end with our CUDA backend (the archive pack.sh carries);
 *   torch-compile  the peer under torch.compile, with what is left of the budget.
 * No stage starts after the deadline (start + GPU_CHECK_BUDGET_S); a running one is
 * stopped shortly after it. The report, $OUT/gpu-DATE.json, is rewritten after every
 * stage and on exit, so an interrupted check still leaves what it measured.
 */
const { spawn, spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..');
const PEER = path.join(ROOT, 'benchmarks', 'peers', 'torch_gpu_train.py');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const TESTS = path.join(ROOT, '.test-dist', 'test');
const env = process.env;
const num = (name, dflt) => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : dflt);

/** What each mode measures. The first model and batch are the headline numbers. */
const PLANS = {
  gpu: {
    device: 'cuda', models: ['resnet50d', 'resnet50'], batches: [256, 128], size: 224, precision: 'fp16',
    steps: num('GPU_CHECK_STEPS', 30), warmup: num('GPU_CHECK_WARMUP', 10),
    compileModels: ['resnet50d', 'resnet50'], compileBatch: 256, compileBudgetS: num('GPU_CHECK_COMPILE_BUDGET_S', 150),
    testTimeoutS: num('GPU_CHECK_TEST_TIMEOUT_S', 120),
  },
  // Everything that needs no GPU, small enough to finish in seconds on two cores.
  dry: {
    device: 'cpu', models: ['resnet18d'], batches: [2], size: 64, precision: 'fp32', steps: 2, warmup: 1,
    compileModels: ['resnet18d'], compileBatch: 2, compileBudgetS: num('GPU_CHECK_COMPILE_BUDGET_S', 20),
    testTimeoutS: 60, testPattern: '^package\\.test\\.js$',
  },
};

// ---------------------------------------------------------------------------------------
// Small helpers

function arg(argv, name, dflt) {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
}

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');

/** sha256 over the sources a build is made from (paths and contents, sorted). */
function sourceHash() {
  const files = [];
  const walk = (rel) => {
    const abs = path.join(ROOT, rel);
    if (!fs.existsSync(abs)) return;
    const st = fs.statSync(abs);
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(abs)) if (e !== 'node_modules' && !e.startsWith('.')) walk(path.join(rel, e));
    } else if (st.isFile() && !rel.endsWith('.node')) files.push(rel);
  };
  ['lib', 'native', 'bindings', 'test', 'CMakeLists.txt', 'tsconfig.json', 'package.json'].forEach(walk);
  const h = crypto.createHash('sha256');
  for (const f of files.sort()) h.update(`${f}\0`).update(fs.readFileSync(path.join(ROOT, f))).update('\0');
  return { files: files.length, sha256: h.digest('hex') };
}

/**
 * Runs a command, echoing its output lines (prefixed) as they come, and resolves with
 * { code, signal, stdout, stderr, timedOut, seconds }. The child gets its own process
 * group so that a timeout also stops its children (torch.compile's workers).
 */
const live = new Set();
function runCmd(cmd, args, { timeoutS = 600, extraEnv = {}, echo = '  | ', input } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let child;
    try {
      child = spawn(cmd, args, { cwd: ROOT, env: { ...env, ...extraEnv }, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      resolve({ code: null, signal: null, stdout, stderr: String(e.message), timedOut, seconds: 0, error: e.message });
      return;
    }
    live.add(child);
    const lines = (chunk, sink) => {
      const s = chunk.toString();
      if (echo !== null) for (const l of s.split('\n')) if (l.trim()) process.stdout.write(`${echo}${stripAnsi(l)}\n`);
      return sink + s;
    };
    child.stdout.on('data', (c) => (stdout = lines(c, stdout)));
    child.stderr.on('data', (c) => (stderr = lines(c, stderr)));
    const kill = (sig) => {
      try { process.kill(-child.pid, sig); } catch { /* already gone */ }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill('SIGTERM');
      setTimeout(() => kill('SIGKILL'), 5000).unref();
    }, Math.max(1, timeoutS) * 1000);
    child.on('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code: null, signal: null, stdout, stderr: stderr + e.message, timedOut, seconds: (Date.now() - t0) / 1000, error: e.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      resolve({ code, signal, stdout, stderr, timedOut, seconds: (Date.now() - t0) / 1000 });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

const jsonLines = (s) => s.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{')).flatMap((l) => {
  try { return [JSON.parse(l)]; } catch { return []; }
});
const lastLine = (s) => stripAnsi(s).trim().split('\n').filter(Boolean).pop() || '';

// ---------------------------------------------------------------------------------------
// The report

class Report {
  constructor(o) {
    this.file = path.join(o.out, `gpu-${o.date}.json`);
    this.data = {
      check: 'gpu', date: o.date, startedAt: new Date(o.start * 1000).toISOString(), finishedAt: null,
      complete: false, dryRun: o.dry, device: null,
      model: o.plan.models[0], batchSize: o.plan.batches[0], size: o.plan.size, precision: o.plan.precision,
      imgPerSec: null, imgPerSecReason: null, pytorchImgPerSec: null, pytorchCompiledImgPerSec: null,
      ratio: null, ratioCompiled: null,
      testsPassed: null, testsFailed: null, testsSkipped: null, testsTotal: null,
      table: [], runs: [], skipped: [], warnings: [], stages: [],
      environment: {}, tests: null,
      budget: { seconds: o.budgetS, deadline: new Date(o.deadline * 1000).toISOString(), stoppedEarly: false },
    };
  }

  skip(what, reason) {
    this.data.skipped.push({ what, reason });
    console.log(`  skipped ${what}: ${reason}`);
  }

  warn(msg) {
    this.data.warnings.push(msg);
    console.log(`  WARNING: ${msg}`);
  }

  /** Headline numbers and the per-configuration table from the runs so far. */
  summarize() {
    const d = this.data;
    const find = (who, mode, model, batch) => d.runs.find((r) => r.who === who && r.mode === mode && r.model === model && r.batch === batch && r.imgPerSec != null);
    const configs = [];
    for (const r of d.runs) if (!configs.some((c) => c.model === r.model && c.batch === r.batch)) configs.push({ model: r.model, batch: r.batch });
    d.table = configs.map(({ model, batch }) => {
      const ours = find('ours', 'cuda', model, batch) || null;
      const eager = find('pytorch', 'eager', model, batch) || null;
      const comp = find('pytorch', 'compile', model, batch) || null;
      return {
        model, batch,
        imgPerSec: ours ? ours.imgPerSec : null,
        pytorchImgPerSec: eager ? eager.imgPerSec : null,
        pytorchCompiledImgPerSec: comp ? comp.imgPerSec : null,
        ratio: ours && eager ? ours.imgPerSec / eager.imgPerSec : null,
        ratioCompiled: ours && comp ? ours.imgPerSec / comp.imgPerSec : null,
      };
    });
    const head = d.table.find((t) => t.model === d.model && t.batch === d.batchSize);
    if (head) Object.assign(d, { imgPerSec: head.imgPerSec, pytorchImgPerSec: head.pytorchImgPerSec, pytorchCompiledImgPerSec: head.pytorchCompiledImgPerSec, ratio: head.ratio, ratioCompiled: head.ratioCompiled });
  }

  /** Atomic write (a reader never sees half a file); synchronous so it also runs on exit. */
  write() {
    this.summarize();
    this.data.finishedAt = new Date().toISOString();
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(this.data, null, 1)}\n`);
    fs.renameSync(tmp, this.file);
  }
}

// ---------------------------------------------------------------------------------------
// Stages

async function deviceStage(c) {
  const { report: R } = c;
  const envInfo = R.data.environment;
  envInfo.host = { hostname: os.hostname(), cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryBytes: os.totalmem(), kernel: os.release() };
  envInfo.node = { version: process.version, execPath: process.execPath };

  const query = (fields) => spawnSync('nvidia-smi', [`--query-gpu=${fields}`, '--format=csv,noheader'], { encoding: 'utf8', timeout: 30000 });
  let smi = query('name,memory.total,driver_version,pci.bus_id,clocks.max.sm,power.limit');
  if (!smi.error && smi.status !== 0) smi = query('name,memory.total,driver_version'); // a field this driver lacks
  if (smi.error || smi.status !== 0) {
    envInfo.nvidiaSmi = { error: smi.error ? `nvidia-smi: ${smi.error.code || smi.error.message}` : lastLine(smi.stderr || smi.stdout) };
    console.log(`nvidia-smi: ${envInfo.nvidiaSmi.error}`);
  } else {
    const list = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 30000 });
    const gpus = smi.stdout.trim().split('\n').map((l) => {
      const [name, memory, driver, bus, maxSmClock, powerLimit] = l.split(',').map((s) => s.trim());
      return { name, memory, driver, bus, maxSmClock, powerLimit };
    });
    envInfo.nvidiaSmi = { list: (list.stdout || '').trim(), gpus };
    console.log((list.stdout || '').trim());
    for (const g of gpus) console.log(`  ${g.name}, ${g.memory}, driver ${g.driver}, max SM clock ${g.maxSmClock}, power limit ${g.powerLimit}`);
  }

  const doc = await runCmd(c.node, [CLI, 'doctor', '--json'], { timeoutS: 60, echo: null });
  const docJson = jsonLines(doc.stdout).pop();
  envInfo.doctor = docJson || { error: `doctor failed (exit ${doc.code}): ${lastLine(doc.stderr) || lastLine(doc.stdout)}` };
  if (docJson) {
    const cu = docJson.cuda;
    console.log(`doctor: bagoftricks ${docJson.bagoftricks}, Node ${docJson.node}; CUDA built in: ${cu.compiled ? `yes (SM ${cu.archs}, runtime ${cu.runtimeVersion})` : 'no'}; ` +
      `available: ${cu.available ? 'yes' : `no (${cu.reason})`}; driver ${cu.driverVersion}; backend ${docJson.backend}`);
    for (const d of cu.devices || []) console.log(`  device ${d.index}: ${d.name}, compute ${d.computeCapability}, ${(d.totalMemory / 2 ** 30).toFixed(1)} GiB, ${d.multiprocessors} SMs`);
  } else {
    console.log(`doctor: ${envInfo.doctor.error}`);
  }

  if (c.python) {
    const ti = await runCmd(c.python, [PEER, '--info'], { timeoutS: 120, echo: null });
    envInfo.torch = jsonLines(ti.stdout).pop() || { error: `torch --info failed (exit ${ti.code}): ${lastLine(ti.stderr)}` };
    envInfo.torch.executable = c.python;
    const t = envInfo.torch;
    console.log(t.error ? `torch: ${t.error}` : `torch ${t.torch} (python ${t.python}), CUDA ${t.cuda}, cuDNN ${t.cudnn}, timm ${t.timm}; ` +
      (t.cudaAvailable ? `${t.deviceName}, compute ${t.capability}` : 'no CUDA device'));
  } else {
    envInfo.torch = { error: c.pythonReason };
    console.log(`torch: ${c.pythonReason}`);
  }

  R.data.device = envInfo.nvidiaSmi.gpus?.[0]?.name || envInfo.torch.deviceName || docJson?.cuda?.devices?.[0]?.name ||
    `none (CPU: ${envInfo.host.cpu}, ${envInfo.host.cores} cores)`;

  // Does the packed build belong to these sources and this GPU?
  const manifestFile = path.join(ROOT, '.device', 'manifest.json');
  const here = sourceHash();
  let manifest = null;
  try { manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')); } catch { /* not packed: a local run */ }
  envInfo.bundle = { manifest, sourceHash: here.sha256, sourceFiles: here.files, matches: manifest ? manifest.sourceHash === here.sha256 : null };
  if (manifest) {
    console.log(`bundle: packed ${manifest.packedAt} from ${manifest.gitHead?.slice(0, 10)}${manifest.gitDirty ? ' (+ uncommitted changes)' : ''}, addon SM ${manifest.addonArchs}`);
    if (manifest.sourceHash !== here.sha256) R.warn('lib/, native/, bindings/ or test/ changed since the bundle was packed: dist/, .test-dist/ and the addon may be stale (run benchmarks/gpu/pack.sh again)');
  } else if (!c.dry) {
    R.warn('no .device/manifest.json: the build was not packed by benchmarks/gpu/pack.sh');
  }
  const cu = docJson?.cuda;
  const cap = docJson?.cuda?.devices?.[0]?.computeCapability || envInfo.torch.capability;
  if (!c.dry && cu) {
    const sm = cap ? cap.replace('.', '') : null;
    if (!cu.compiled) R.warn('the addon was built without CUDA: see "Rebuilding the addon on the device" in benchmarks/gpu/README.md');
    else if (sm && !String(cu.archs).split(',').some((a) => a.replace(/[^0-9]/g, '') === sm)) {
      R.warn(`the addon holds SM ${cu.archs}, not sm_${sm} for this GPU (only the compute_90 PTX, JIT-compiled at load, if any): see "Rebuilding the addon on the device" in benchmarks/gpu/README.md`);
    }
  }
}

/** The compiled test files that exercise CUDA: named *cuda*, reading BAGOFTRICKS_BACKEND (or through a helper that does), and package.test.js (cudaInfo). */
function cudaTestPattern() {
  if (!fs.existsSync(TESTS)) return null;
  const helpersDir = path.join(TESTS, 'helpers');
  const helpers = fs.existsSync(helpersDir)
    ? fs.readdirSync(helpersDir).filter((f) => f.endsWith('.js') && fs.readFileSync(path.join(helpersDir, f), 'utf8').includes('BAGOFTRICKS_BACKEND')).map((f) => f.replace(/\.js$/, ''))
    : [];
  // gpu-check.test.js runs this check's dry run: never from inside the check.
  const picked = fs.readdirSync(TESTS).filter((f) => f.endsWith('.test.js') && f !== 'gpu-check.test.js').filter((f) => {
    if (/cuda/i.test(f) || f === 'package.test.js') return true;
    const src = fs.readFileSync(path.join(TESTS, f), 'utf8');
    return src.includes('BAGOFTRICKS_BACKEND') || helpers.some((h) => src.includes(`helpers/${h}"`) || src.includes(`helpers/${h}'`));
  });
  return picked.length ? `^(${picked.map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$` : null;
}

/** uvu's summary: the last "Total/Passed/Skipped" block, or the ✘/• marks when it never printed one. */
function parseUvu(text) {
  const s = stripAnsi(text);
  const last = (re) => {
    const all = [...s.matchAll(re)];
    return all.length ? Number(all[all.length - 1][1]) : null;
  };
  const total = last(/^\s*Total:\s+(\d+)/gm);
  const passed = last(/^\s*Passed:\s+(\d+)/gm);
  const skipped = last(/^\s*Skipped:\s+(\d+)/gm);
  const failures = [...s.matchAll(/^\s*FAIL\s+(.*)$/gm)].map((m) => m[1].trim()).slice(0, 20);
  if (total !== null && passed !== null) return { total, passed, failed: Math.max(0, total - passed), skipped: skipped ?? 0, summarized: true, failures };
  const marks = s.replace(/^\s*FAIL.*$/gm, '');
  const p = (marks.match(/•/g) || []).length;
  const f = (marks.match(/✘/g) || []).length;
  return { total: p + f, passed: p, failed: f, skipped: 0, summarized: false, failures };
}

async function testStage(c) {
  const { report: R, plan } = c;
  const pattern = env.GPU_CHECK_TEST_PATTERN || plan.testPattern || cudaTestPattern();
  if (!pattern || !fs.existsSync(TESTS)) {
    R.skip('tests', `no compiled tests in ${path.relative(ROOT, TESTS)} (npm run build:test; pack.sh packs them)`);
    return;
  }
  const timeoutS = Math.min(plan.testTimeoutS, c.remaining() + 20);
  console.log(`tests: BAGOFTRICKS_BACKEND=cuda uvu .test-dist/test '${pattern}' (at most ${timeoutS.toFixed(0)} s)`);
  const r = await runCmd(c.node, [path.join(ROOT, 'node_modules', 'uvu', 'bin.js'), '.test-dist/test', pattern, '--no-color'], {
    timeoutS, extraEnv: { BAGOFTRICKS_BACKEND: 'cuda', BAGOFTRICKS_EXPECT_CUDA: 'device', NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  const u = parseUvu(`${r.stdout}\n${r.stderr}`);
  R.data.tests = { pattern, backend: 'cuda', exitCode: r.code, signal: r.signal, timedOut: r.timedOut, seconds: r.seconds, ...u };
  Object.assign(R.data, { testsPassed: u.passed, testsFailed: u.failed, testsSkipped: u.skipped, testsTotal: u.total });
  if (!u.summarized) {
    R.warn(`the test run ended without uvu's summary (exit ${r.code}${r.signal ? `, ${r.signal}` : ''}${r.timedOut ? ', timed out' : ''}); counts are from its progress marks`);
    if (r.code !== 0 && u.failed === 0) Object.assign(R.data, { testsFailed: 1 });
  }
  console.log(`tests: ${u.passed} passed, ${u.failed} failed, ${u.skipped} skipped of ${u.total} (${r.seconds.toFixed(1)} s)`);
}

/**
 * Our CUDA training throughput through `bench train`. The flags it is given are read off
 * its --help, so the check keeps working as the command grows them. Until our CUDA
 * training backend exists, the first attempt fails and the reason is recorded.
 */
async function oursStage(c) {
  const { report: R, plan } = c;
  const help = spawnSync(c.node, [CLI, 'bench', 'train', '--help'], { encoding: 'utf8', timeout: 60000 }).stdout || '';
  const supports = (flag) => help.includes(`--${flag}`);
  let reason = null;
  for (const model of plan.models) {
    for (const batch of plan.batches) {
      const what = `ours ${model} batch ${batch}`;
      if (reason) { R.data.runs.push({ who: 'ours', mode: 'cuda', model, batch, size: plan.size, precision: plan.precision, imgPerSec: null, reason }); continue; }
      if (c.remaining() <= 0) { c.late(what); continue; }
      const args = [CLI, 'bench', 'train', '--backend', 'cuda', '--model', model, '--batch-size', String(batch), '--size', String(plan.size), '--steps', String(plan.steps), '--json'];
      if (supports('precision')) args.push('--precision', plan.precision);
      if (supports('warmup')) args.push('--warmup', String(plan.warmup));
      console.log(`ours: bagoftricks ${args.slice(1).join(' ')}`);
      const r = await runCmd(c.node, args, { timeoutS: Math.min(300, c.remaining() + 30), echo: null });
      const j = jsonLines(r.stdout).pop();
      if (r.code === 0 && j && j.backend === 'cuda' && Number.isFinite(j.imgPerSec)) {
        R.data.runs.push({ who: 'ours', mode: 'cuda', model, batch, size: plan.size, precision: j.precision ?? (supports('precision') ? plan.precision : 'unknown (bench train has no --precision)'), imgPerSec: j.imgPerSec, msPerStep: j.msPerStep, result: j });
        console.log(`ours: ${model} batch ${batch}: ${j.imgPerSec.toFixed(1)} img/s`);
        continue;
      }
      const why = await oursReason(c, r, j);
      R.data.runs.push({ who: 'ours', mode: 'cuda', model, batch, size: plan.size, precision: plan.precision, imgPerSec: null, reason: why });
      console.log(`ours: ${model} batch ${batch}: imgPerSec null: ${why}`);
      // Without the backend no configuration can run; other failures (memory, say) are per configuration.
      if (/ERR_CUDA_UNAVAILABLE|does not run on CUDA|ran on the /.test(why)) {
        reason = why;
        R.skip('ours (bench train --backend cuda)', reason);
      } else {
        R.skip(what, why);
      }
    }
  }
  const head = R.data.runs.find((x) => x.who === 'ours' && x.model === R.data.model && x.batch === R.data.batchSize);
  if (head && head.imgPerSec == null) R.data.imgPerSecReason = head.reason;
  else if (!head) R.data.imgPerSecReason = 'not measured: the time budget was spent';
  // The headline configuration again under each switch that is off by default, so one run
  // says what each is worth (or that it breaks): CUDA graphs, and FP32 activation storage
  // in mixed precision (the default stores FP16).
  const variants = [
    { mode: 'cuda-graphs', env: { BAGOFTRICKS_CUDA_GRAPHS: '1' } },
    { mode: 'cuda-f32-storage', env: { BAGOFTRICKS_CUDA_F32_STORAGE: '1' } },
  ];
  for (const v of head && head.imgPerSec != null ? variants : []) {
    const what = `ours ${v.mode}`;
    if (c.remaining() < 30) { c.late(what); continue; }
    const args = [CLI, 'bench', 'train', '--backend', 'cuda', '--model', head.model, '--batch-size', String(head.batch), '--size', String(plan.size),
      '--steps', String(plan.steps), '--warmup', String(plan.warmup), '--precision', plan.precision, '--json'];
    console.log(`${what} (${Object.entries(v.env).map(([k, x]) => `${k}=${x}`).join(' ')}): bagoftricks ${args.slice(1).join(' ')}`);
    const r = await runCmd(c.node, args, { timeoutS: Math.min(300, c.remaining() + 30), echo: null, extraEnv: v.env });
    const j = jsonLines(r.stdout).pop();
    if (r.code === 0 && j && Number.isFinite(j.imgPerSec)) {
      R.data.runs.push({ who: 'ours', mode: v.mode, model: head.model, batch: head.batch, size: plan.size, precision: plan.precision, imgPerSec: j.imgPerSec, msPerStep: j.msPerStep, env: v.env, result: j });
      console.log(`${what}: ${j.imgPerSec.toFixed(1)} img/s (default: ${head.imgPerSec.toFixed(1)})`);
    } else {
      R.skip(what, `exit ${r.code}: ${lastLine(r.stderr) || lastLine(r.stdout)}`);
    }
  }
  if (head && head.imgPerSec != null && supports('profile')) {
    if (c.remaining() < 30) { c.late('ours profile'); return; }
    const args = [CLI, 'bench', 'train', '--backend', 'cuda', '--model', head.model, '--batch-size', String(head.batch), '--size', String(plan.size),
      '--steps', '3', '--warmup', '1', '--precision', plan.precision, '--profile', '--json'];
    console.log(`ours profile: bagoftricks ${args.slice(1).join(' ')}`);
    const r = await runCmd(c.node, args, { timeoutS: Math.min(180, c.remaining() + 30), echo: null });
    const j = jsonLines(r.stdout).pop();
    if (r.code === 0 && j && Array.isArray(j.profile)) {
      R.data.profile = { model: head.model, batch: head.batch, msPerStep: j.msPerStep, entries: j.profile };
      for (const e of j.profile.slice(0, 12)) console.log(`  ${e.phase.padEnd(8)} ${e.op.padEnd(14)} ${(e.seconds * 1000 / 3).toFixed(2).padStart(9)} ms/step  ${e.calls} calls`);
    } else {
      R.skip('ours profile', `bench train --profile failed (exit ${r.code}): ${lastLine(r.stderr) || lastLine(r.stdout)}`);
    }
  }
}

/** Why `bench train --backend cuda` gave no number. */
async function oursReason(c, r, j) {
  if (r.timedOut) return `bench train --backend cuda did not finish within its time limit (${r.seconds.toFixed(0)} s)`;
  if (j && j.backend && j.backend !== 'cuda') return `bench train ran on the ${j.backend}, not on CUDA`;
  const err = stripAnsi(r.stderr);
  const m = err.match(/ERR_CUDA_UNAVAILABLE:\s*(.*)/);
  if (m) return `ERR_CUDA_UNAVAILABLE: ${m[1].trim()}`;
  if (r.code === 2) {
    // Usage error: bench train has no CUDA backend yet. `train --backend cuda` says why.
    const t = await runCmd(c.node, [CLI, 'train', '--limit', '64', '--width', '0.125', '--size', '16', '--batch-size', '8', '--epochs', '1',
      '--backend', 'cuda', '--out', path.join(os.tmpdir(), `bot-gpu-check-probe-${process.pid}`, 'run')], { timeoutS: 30, echo: null });
    const tm = stripAnsi(t.stderr).match(/ERR_CUDA_UNAVAILABLE:\s*(.*)/);
    const usage = err.split('\n')[0].replace(/^bagoftricks bench train:\s*/, '');
    return tm ? `ERR_CUDA_UNAVAILABLE: ${tm[1].trim()} (bench train: ${usage})` : `bench train does not run on CUDA: ${usage}`;
  }
  return `bench train --backend cuda failed (exit ${r.code}${r.signal ? `, ${r.signal}` : ''}): ${lastLine(err) || lastLine(r.stdout)}`;
}

/** One peer process over several configurations; its JSON lines become runs or skips. */
async function peerRun(c, args, timeoutS, label) {
  const r = await runCmd(c.python, [PEER, ...args, '--deadline', String(c.deadline)], { timeoutS, extraEnv: { PYTHONUNBUFFERED: '1' } });
  const out = jsonLines(r.stdout);
  for (const o of out) {
    if (o.kind === 'run') c.report.data.runs.push({ who: 'pytorch', ...o, batch: o.batch });
    else if (o.kind === 'skip') c.report.skip(`pytorch ${o.mode} ${o.model} batch ${o.batch}`, o.reason);
  }
  if (r.timedOut) c.report.skip(`pytorch ${label}`, `stopped after ${timeoutS.toFixed(0)} s (time limit of this run)`);
  else if (r.code !== 0) c.report.skip(`pytorch ${label}`, `the peer exited with ${r.code}${r.signal ? ` (${r.signal})` : ''}: ${lastLine(r.stderr)}`);
  return out;
}

async function torchStage(c) {
  const { report: R, plan } = c;
  if (!c.python) {
    R.skip('pytorch', c.pythonReason);
    return;
  }
  const t = R.data.environment.torch || {};
  if (plan.device === 'cuda' && !t.cudaAvailable) {
    R.skip('pytorch', `PyTorch sees no CUDA device${t.error ? ` (${t.error})` : ''}`);
    return;
  }
  if (c.remaining() <= 0) c.late('pytorch eager');
  else {
    console.log(`pytorch eager: ${plan.models.join(',')} x batch ${plan.batches.join(',')}`);
    await peerRun(c, [...peerCommon(plan), '--warmup', String(plan.warmup), '--models', plan.models.join(','), '--batches', plan.batches.join(',')], c.remaining() + 30, 'eager');
  }
}

function peerCommon(plan) {
  return ['--device', plan.device, '--size', String(plan.size), '--precision', plan.precision, '--steps', String(plan.steps)];
}

/** torch.compile per model at the compile batch, each within its budget; last, as it is the least needed. */
async function torchCompileStage(c) {
  const { report: R, plan } = c;
  const t = R.data.environment.torch || {};
  if (!c.python || (plan.device === 'cuda' && !t.cudaAvailable)) {
    R.skip('pytorch compile', c.python ? 'PyTorch sees no CUDA device' : c.pythonReason);
    return;
  }
  const common = peerCommon(plan);
  for (const model of plan.compileModels) {
    const what = `pytorch compile ${model} batch ${plan.compileBatch}`;
    // A compile that cannot finish before the deadline is not started.
    const need = Math.min(plan.compileBudgetS, 60);
    if (c.remaining() < need) { c.late(what, `less than ${need} s of the budget left`); continue; }
    const budget = Math.max(10, Math.min(plan.compileBudgetS, c.remaining() - 15));
    console.log(`${what} (compile budget ${budget.toFixed(0)} s)`);
    const out = await peerRun(c, [...common, '--compile', '--compile-budget', String(Math.floor(budget)), '--warmup', String(Math.min(plan.warmup, 5)),
      '--models', model, '--batches', String(plan.compileBatch)], budget + 60, `compile ${model}`);
    c.report.write();
    if (out.some((o) => o.kind === 'skip' && /torch\.compile needs/.test(o.reason))) break;
  }
}

/**
 * CIFAR-10 end to end with our CUDA backend: accuracy and time of a short run. It needs the
 * data set on the device (GPU_CHECK_CIFAR_DIR, an ImageFolder of the CIFAR-10 JPEGs, which
 * check.sh unpacks from the archive pack.sh carries), since the device has no network.
 */
async function cifarStage(c) {
  const { report: R } = c;
  const ours = R.data.runs.filter((r) => r.who === 'ours');
  if (!ours.some((r) => r.imgPerSec != null)) {
    R.skip('cifar10', ours.some((r) => r.reason) ? 'our CUDA training did not run' : 'our CUDA training was not measured');
    return;
  }
  const dir = env.GPU_CHECK_CIFAR_DIR;
  if (!dir || !fs.existsSync(dir)) {
    R.skip('cifar10', 'no CIFAR-10 folder: set GPU_CHECK_CIFAR_DIR to an ImageFolder carried in the working tree');
    return;
  }
  if (c.remaining() < 60) { c.late('cifar10', 'less than 60 s of the budget left'); return; }
  const out = path.join(os.tmpdir(), `bot-gpu-cifar-${process.pid}`);
  const args = [CLI, 'train', '--data', dir, '--model', 'resnet18d', '--stem', 'cifar', '--size', '32', '--recipe', 'tricks',
    '--epochs', String(num('GPU_CHECK_CIFAR_EPOCHS', 5)), '--batch-size', '256', '--precision', 'fp16', '--backend', 'cuda', '--seed', '0',
    '--out', out, '--json'];
  console.log(`cifar10: bagoftricks ${args.slice(1).join(' ')}`);
  // At most 150 s, so the compile stage after it keeps some budget; a run cut short still
  // reports the epochs it finished.
  const r = await runCmd(c.node, args, { timeoutS: Math.min(150, c.remaining() + 20), echo: null });
  const events = jsonLines(r.stdout);
  const epochs = events.filter((e) => e.event === 'epoch');
  const last = epochs[epochs.length - 1];
  R.data.cifar10 = {
    exitCode: r.code, timedOut: r.timedOut, seconds: r.seconds, epochs: epochs.length,
    valTop1: last ? last.valTop1 ?? null : null, imgPerSec: last ? last.imgPerSec ?? null : null,
    history: epochs, stderrTail: r.code === 0 ? undefined : lastLine(r.stderr),
  };
  console.log(`cifar10: exit ${r.code}, ${epochs.length} epochs in ${r.seconds.toFixed(0)} s, val top-1 ${last ? last.valTop1 : '-'}`);
}

// ---------------------------------------------------------------------------------------
// Main

/** The first Python that imports torch: $PYTHON alone when set, else python3, then /usr/bin/python3. */
function findPython() {
  const tried = [];
  for (const p of env.PYTHON ? [env.PYTHON] : ['python3', '/usr/bin/python3']) {
    if (tried.includes(p)) continue;
    tried.push(p);
    const r = spawnSync(p, ['-c', 'import torch'], { encoding: 'utf8', timeout: 120000 });
    if (r.status === 0) return { python: p };
  }
  return { python: null, reason: `no Python with torch found (tried ${tried.join(', ')})` };
}

function printTable(R) {
  const d = R.data;
  const f = (v, digits = 1) => (v == null ? '-' : v.toFixed(digits));
  console.log(`\n${d.dryRun ? 'DRY RUN on the CPU: ' : ''}${d.device}; ${d.precision}, ${d.size}x${d.size}`);
  console.log('| model | batch | ours img/s | PyTorch eager | PyTorch compile | ours/eager | ours/compile |');
  console.log('|:--|--:|--:|--:|--:|--:|--:|');
  for (const t of d.table) {
    console.log(`| ${t.model} | ${t.batch} | ${f(t.imgPerSec)} | ${f(t.pytorchImgPerSec)} | ${f(t.pytorchCompiledImgPerSec)} | ${f(t.ratio, 2)} | ${f(t.ratioCompiled, 2)} |`);
  }
  console.log(`tests (BAGOFTRICKS_BACKEND=cuda): ${d.testsPassed ?? '-'} passed, ${d.testsFailed ?? '-'} failed`);
  if (d.imgPerSecReason) console.log(`ours: imgPerSec null: ${d.imgPerSecReason}`);
  for (const s of d.skipped) console.log(`skipped: ${s.what}: ${s.reason}`);
  for (const w of d.warnings) console.log(`warning: ${w}`);
}

async function main(argv) {
  if (argv.includes('--write-manifest')) {
    const file = arg(argv, 'write-manifest');
    const git = (...a) => (spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' }).stdout || '').trim();
    const nvcc = spawnSync('nvcc', ['--version'], { encoding: 'utf8' });
    const h = sourceHash();
    const manifest = {
      packedAt: new Date().toISOString(), gitHead: git('rev-parse', 'HEAD'), gitDirty: git('status', '--porcelain').split('\n').filter(Boolean).length,
      sourceHash: h.sha256, sourceFiles: h.files, addonArchs: arg(argv, 'manifest-archs', 'unknown'), node: process.version,
      nvcc: nvcc.status === 0 ? nvcc.stdout.trim().split('\n').pop() : null, packedOn: `${os.hostname()} (${os.cpus()[0]?.model})`,
    };
    fs.writeFileSync(file, `${JSON.stringify(manifest, null, 1)}\n`);
    return 0;
  }
  const dry = argv.includes('--dry-run');
  const plan = dry ? PLANS.dry : PLANS.gpu;
  const start = Number(arg(argv, 'start', String(Date.now() / 1000)));
  const budgetS = Number(arg(argv, 'budget', String(num('GPU_CHECK_BUDGET_S', 420))));
  const out = arg(argv, 'out', null);
  const date = arg(argv, 'date', new Date().toISOString().slice(0, 10));
  if (!out) throw new Error('--out DIR is required');
  fs.mkdirSync(out, { recursive: true });
  const deadline = start + budgetS;
  const report = new Report({ out, date, start, budgetS, deadline, dry, plan });
  const py = findPython();
  const c = {
    dry, plan, report, deadline, node: process.execPath, python: py.python, pythonReason: py.reason,
    remaining: () => deadline - Date.now() / 1000,
    late: (what, why) => {
      report.data.budget.stoppedEarly = true;
      report.skip(what, why || `the check's time budget (${budgetS} s) was spent`);
    },
  };
  let exiting = false;
  const finish = (why) => {
    if (exiting) return;
    exiting = true;
    for (const ch of live) { try { process.kill(-ch.pid, 'SIGKILL'); } catch { /* gone */ } }
    if (why) report.data.interrupted = why;
    try { report.write(); } catch (e) { console.error(`could not write ${report.file}: ${e.message}`); }
  };
  process.on('exit', () => finish(report.data.complete ? null : 'exited before the end'));
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, () => { finish(sig); process.exit(128 + (os.constants.signals[sig] || 0)); });

  console.log(`GPU check${dry ? ' (dry run)' : ''}: budget ${budgetS} s, report ${report.file}`);
  const stages = [
    ['device', deviceStage], ['tests', testStage], ['ours', oursStage], ['torch', torchStage], ['cifar', cifarStage],
    ['torch-compile', torchCompileStage],
  ];
  for (const [name, fn] of stages) {
    const t0 = Date.now();
    console.log(`\n== ${name} (${Math.max(0, c.remaining()).toFixed(0)} s of the budget left)`);
    let status = 'done';
    try {
      await fn(c);
    } catch (e) {
      status = `failed: ${e.message}`;
      report.warn(`stage ${name} failed: ${e.stack || e.message}`);
    }
    report.data.stages.push({ name, seconds: (Date.now() - t0) / 1000, status });
    report.write();
  }
  report.data.complete = true;
  report.write();
  printTable(report);
  console.log(`\nwrote ${report.file}`);
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e) => {
    console.error(e.stack || e.message);
    process.exitCode = 1;
  });
}

module.exports = { parseUvu, cudaTestPattern, sourceHash, runCmd };
