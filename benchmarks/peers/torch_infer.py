"""PyTorch peer of benchmarks/infer.js: forward throughput (eval mode, inference_mode) of
the same ResNet variant (peers/resnet.py) with the same weights and input as ours, in
both memory formats, per batch size; reports the faster format of each.

Reads a JSON job on stdin:
  {"model": "resnet50d", "classes": 1000, "width": 1, "size": 224, "batches": [1, 32],
   "threads": 2, "warmup": 3, "iters": 10, "formats": ["channels_last", "contiguous"],
   "manifest": [{"name": "conv1.0.weight", "shape": [32, 3, 3, 3]}, ...],
   "params": "/tmp/…/params.bin",   # float32, the manifest's tensors end to end
   "input": "/tmp/…/input.bin",     # float32 NHWC images, max(batches) of them
   "logits": "/tmp/…"}              # where to write logits-<batch>.bin (optional)
and prints one JSON object. Logits come from the first format of the list, on the first
`batch` images. The caller limits oneDNN's instruction set with the environment variable
ONEDNN_MAX_CPU_ISA (e.g. AVX2) when it wants an AVX2-only peer."""
import json
import os
import sys
import time

import torch

from resnet import ResNet, load_flat  # benchmarks/peers/resnet.py

FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}


def images(job):
    """The first max(batches) images of the input file, NCHW."""
    n, s = max(job["batches"]), job["size"]
    flat = torch.frombuffer(bytearray(open(job["input"], "rb").read()), dtype=torch.float32)
    return flat[: n * s * s * 3].view(n, s, s, 3).permute(0, 3, 1, 2).contiguous()


def time_forward(model, x, warmup, iters):
    """Seconds of each of `iters` forward passes after `warmup` untimed ones."""
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        times = []
        for _ in range(iters):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return times


job = json.load(sys.stdin)
torch.set_num_threads(job["threads"])
model = ResNet(job["model"], job["classes"], job.get("width", 1.0))
load_flat(model, job["manifest"], job["params"])
model.eval()
params = sum(p.numel() for p in model.parameters())
x_all = images(job)
formats = job.get("formats", list(FORMATS))
rows = []
for batch in job["batches"]:
    results = {}
    for i, name in enumerate(formats):
        m = model.to(memory_format=FORMATS[name])
        x = x_all[:batch].contiguous().to(memory_format=FORMATS[name])
        if i == 0 and job.get("logits"):
            with torch.inference_mode():
                logits = m(x).contiguous()
            with open(os.path.join(job["logits"], f"logits-{batch}.bin"), "wb") as f:
                f.write(logits.numpy().tobytes())
        times = time_forward(m, x, job["warmup"], job["iters"])
        results[name] = {"msPerBatch": 1000 * sum(times) / len(times), "imgPerSec": batch * len(times) / sum(times)}
    best = max(results, key=lambda k: results[k]["imgPerSec"])
    rows.append({"batch": batch, "bestFormat": best, "imgPerSec": results[best]["imgPerSec"],
                 "msPerBatch": results[best]["msPerBatch"], "formats": results})
print(json.dumps({
    "torch": torch.__version__, "mkldnn": bool(torch.backends.mkldnn.is_available()),
    "threads": torch.get_num_threads(), "params": params, "rows": rows,
}))
