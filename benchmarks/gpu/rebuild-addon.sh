#!/usr/bin/env bash
# Rebuilds the addon on the lent GPU machine, where the packed one cannot serve: built
# without CUDA, or without this GPU's target (check.sh warns of both). That machine has
# nvcc, CMake and ninja but no npm; the bundle brings Node and the headers that cmake-js
# would otherwise supply (node_modules/node-api-headers, node_modules/node-addon-api), so
# CMake is called directly, with the variables cmake-js passes. The whole core compiles:
# a minute or two on 16 cores, all of it device time.
#
#     tar xJf .device/bundle.tar.xz && export PATH="$PWD/.device/bin:$PATH"
#     bash benchmarks/gpu/rebuild-addon.sh && bash benchmarks/gpu/check.sh
#
# Environment: BAGOFTRICKS_CUDA_ARCHS (default 90a: the H100 and H200),
# REBUILD_DIR (CMake's folder, default build-device), REBUILD_OUT (where the .node goes,
# default build/Release, where the loader looks first).
set -euo pipefail
cd "$(dirname "$0")/../.."
archs=${BAGOFTRICKS_CUDA_ARCHS:-90a}
dir=${REBUILD_DIR:-build-device}
out=${REBUILD_OUT:-$PWD/build/Release}
for tool in node nvcc cmake; do
  command -v "$tool" >/dev/null || { echo "rebuild-addon.sh: $tool is not on PATH" >&2; exit 2; }
done
for hdr in node_modules/node-api-headers/include node_modules/node-addon-api; do
  [ -d "$hdr" ] || { echo "rebuild-addon.sh: $hdr is missing (unpack the bundle first)" >&2; exit 2; }
done
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
mkdir -p "$out"
t0=$SECONDS
BAGOFTRICKS_CUDA=ON BAGOFTRICKS_CUDA_ARCHS="$archs" cmake -S . -B "$dir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_JS_VERSION=8.0.0 "-DCMAKE_JS_INC=$PWD/node_modules/node-api-headers/include;$PWD/node_modules/node-addon-api" \
  "-DCMAKE_LIBRARY_OUTPUT_DIRECTORY=$out"
cmake --build "$dir" -j"$(nproc)"
echo "rebuild-addon.sh: $out/bagoftricks.node for SM $archs in $((SECONDS - t0)) s"
BAGOFTRICKS_ADDON="$out/bagoftricks.node" node -e "const c = require('./dist/runtime').cudaInfo(); console.log('CUDA built in:', c.compiled, 'SM', c.archs, 'available:', c.available, c.reason)"
