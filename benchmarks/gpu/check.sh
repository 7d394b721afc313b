#!/usr/bin/env bash
# The one-shot GPU check (benchmarks/gpu/README.md). On the lent GPU machine, from the
# repository root, after unpacking the bundle that benchmarks/gpu/pack.sh made:
#
#     tar xJf .device/bundle.tar.xz && export PATH="$PWD/.device/bin:$PATH"
#     bash benchmarks/gpu/check.sh
#
# Here, without a GPU, everything that needs none (in seconds, results in a temp folder):
#
#     bash benchmarks/gpu/check.sh --dry-run          # or GPU_CHECK_DRY_RUN=1
#
# Options: --dry-run, --out DIR, --budget SECONDS. Environment:
#   OUT                  results folder (default benchmarks/results; a temp folder for a
#                        dry run); gets gpu-YYYY-MM-DD.json and gpu-YYYY-MM-DD.log
#   NODE                 the node binary (default: node on PATH, else .device/bin/node)
#   PYTHON               the python with torch (default: python3, else /usr/bin/python3)
#   GPU_CHECK_BUDGET_S   no measurement starts later than this after the start (420)
#   GPU_CHECK_STEPS, GPU_CHECK_WARMUP, GPU_CHECK_COMPILE_BUDGET_S (30, 10, 150),
#   GPU_CHECK_TEST_PATTERN, GPU_CHECK_TEST_TIMEOUT_S (120), GPU_CHECK_CIFAR_DIR
# The work is done by benchmarks/gpu/check.js; this script sets up the clock, the output
# folder and the log, and falls back to the PyTorch peer alone when Node cannot run.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
start=$(date +%s)
date_utc=$(date -u +%F)

dry=${GPU_CHECK_DRY_RUN:-0}
[ "$dry" = 0 ] || dry=1
out=${OUT:-}
budget=${GPU_CHECK_BUDGET_S:-420}
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --out) out=${2:?--out needs a folder}; shift ;;
    --budget) budget=${2:?--budget needs seconds}; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$budget" in ''|*[!0-9]*) echo "check.sh: expected whole seconds for the budget, not '$budget'" >&2; exit 2 ;; esac

if [ "$dry" = 1 ]; then
  # A dry run never writes into the results that get committed.
  if [ -z "$out" ] || [ "$(cd "$(dirname "$out")" 2>/dev/null && pwd)/$(basename "$out")" = "$PWD/benchmarks/results" ]; then
    out=$(mktemp -d "${TMPDIR:-/tmp}/bot-gpu-check.XXXXXX")
  fi
else
  out=${out:-benchmarks/results}
fi
mkdir -p "$out" || exit 2
log="$out/gpu-$date_utc.log"
: > "$log"

if [ -z "${NODE:-}" ]; then
  NODE=$(command -v node || true)
  [ -n "$NODE" ] || NODE=.device/bin/node
fi

say() { echo "$*" | tee -a "$log"; }
say "GPU check $(date -u +%FT%TZ) on $(hostname) ($(uname -srm)); dry run: $([ "$dry" = 1 ] && echo yes || echo no)"
say "results: $out/gpu-$date_utc.json and .log; budget ${budget} s; node: $NODE"

if ! node_version=$("$NODE" --version 2>&1); then
  # No usable Node (the bundle not unpacked, or a binary that does not run here): record
  # the device and PyTorch's headline number so the run is not wasted.
  say "check.sh: cannot run node ($NODE): $node_version"
  say "check.sh: did you run: tar xJf .device/bundle.tar.xz && export PATH=\"\$PWD/.device/bin:\$PATH\" ?"
  nvidia-smi -L 2>&1 | tee -a "$log"
  py=
  for cand in ${PYTHON:-python3 /usr/bin/python3}; do
    if "$cand" -c 'import torch' 2>/dev/null; then py=$cand; break; fi
  done
  if [ -z "$py" ]; then say "check.sh: no Python with torch either; nothing to measure"; exit 1; fi
  peer_args=(--models resnet50d --batches 256 --steps 30 --warmup 10 --precision fp16 --device cuda)
  [ "$dry" = 1 ] && peer_args=(--models resnet18d --batches 2 --size 64 --steps 2 --warmup 1 --precision fp32 --device cpu)
  timeout $((budget > 60 ? budget : 60)) "$py" benchmarks/peers/torch_gpu_train.py "${peer_args[@]}" 2>>"$log" | tee -a "$log" > "$out/.peer.jsonl"
  NODE_ERROR="$node_version" DATE="$date_utc" DRY="$dry" "$py" - "$out" <<'EOF' | tee -a "$log"
import json, os, subprocess, sys
out = sys.argv[1]
runs = []
for line in open(os.path.join(out, ".peer.jsonl")):
    if line.startswith("{"):
        runs.append(dict(json.loads(line), who="pytorch"))
os.remove(os.path.join(out, ".peer.jsonl"))
try:
    device = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True).stdout.strip() or None
except OSError:
    device = None
eager = next((r for r in runs if r.get("kind") == "run"), None)
report = {
    "check": "gpu", "date": os.environ["DATE"], "complete": False, "dryRun": os.environ["DRY"] == "1",
    "error": "node could not run: " + os.environ["NODE_ERROR"], "device": device,
    "model": "resnet50d", "batchSize": 256, "precision": "fp16", "imgPerSec": None,
    "imgPerSecReason": "node could not run", "pytorchImgPerSec": eager["imgPerSec"] if eager else None,
    "ratio": None, "testsPassed": None, "testsFailed": None, "runs": runs,
    "skipped": [{"what": "tests, ours, torch.compile", "reason": "node could not run"}],
}
with open(os.path.join(out, "gpu-%s.json" % os.environ["DATE"]), "w") as f:
    json.dump(report, f, indent=1)
print("wrote " + os.path.join(out, "gpu-%s.json" % os.environ["DATE"]))
EOF
  exit 1
fi

# CIFAR-10 carried by pack.sh: unpacked for the cifar10 stage (an ImageFolder, train/<class>/).
if [ -z "${GPU_CHECK_CIFAR_DIR:-}" ] && [ -f .device/cifar10-train.tar.gz ] && [ "$dry" != 1 ]; then
  cifar_tmp=$(mktemp -d "${TMPDIR:-/tmp}/bot-cifar.XXXXXX")
  if tar xzf .device/cifar10-train.tar.gz -C "$cifar_tmp" 2>>"$log"; then
    export GPU_CHECK_CIFAR_DIR="$cifar_tmp/train"
    say "CIFAR-10 unpacked to $GPU_CHECK_CIFAR_DIR"
  fi
fi

args=(--out "$out" --date "$date_utc" --start "$start" --budget "$budget")
[ "$dry" = 1 ] && args+=(--dry-run)
"$NODE" benchmarks/gpu/check.js "${args[@]}" 2>&1 | tee -a "$log"
status=${PIPESTATUS[0]}
say "check.sh: finished in $(( $(date +%s) - start )) s (exit $status); log: $log"
exit "$status"
