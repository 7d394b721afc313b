"""PyTorch side of benchmarks/mobilenet-check.js: builds the MobileNetV1 of mobilenet.py,
loads a bagoftricks safetensors state dict strictly (every key, every shape), and runs the
eval-mode NCHW forward of the given images. Reads a JSON job on stdin ({"weights", "input",
"shape", "model": {"multiplier", "width", "stem", "numClasses"}}) and prints one JSON
object: torch version, threads, and the logits as base64 float32."""
import base64
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mobilenet import MobileNetV1  # noqa: E402

DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for k, v in header.items():
            if k == "__metadata__":
                continue
            s, e = v["data_offsets"]
            f.seek(base + s)
            out[k] = torch.from_numpy(np.frombuffer(f.read(e - s), dtype=DTYPES[v["dtype"]]).reshape(v["shape"]).copy())
        return out


job = json.load(sys.stdin)
m = job["model"]
model = MobileNetV1(m["multiplier"], m["width"], m["numClasses"], m["stem"]).eval()
# Strict but for BN's num_batches_tracked counters, which a bagoftricks file does not hold.
r = model.load_state_dict(read_safetensors(job["weights"]), strict=False)
missing = [k for k in r.missing_keys if not k.endswith("num_batches_tracked")]
if missing or r.unexpected_keys:
    raise SystemExit(f"state dict does not fit: missing {missing[:8]}, unexpected {r.unexpected_keys[:8]}")
x = torch.from_numpy(np.fromfile(job["input"], dtype=np.float32).reshape(job["shape"]))
with torch.no_grad():
    y = model(x).numpy().astype(np.float32)
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "logits": base64.b64encode(y.tobytes()).decode()}))
