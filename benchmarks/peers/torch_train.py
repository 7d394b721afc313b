"""PyTorch peer of benchmarks/train.js: the same ResNet variant (peers/resnet.py) trained
with the same batch, input size, loss (label smoothing 0.1) and optimizer (SGD, Nesterov
momentum 0.9, weight decay 1e-4) on the CPU, in both memory formats; reports the faster.

Reads a JSON job on stdin: {"model": "resnet50d", "batch": 32, "size": 224, "steps": 3,
"classes": 1000, "width": 1, "stem": "imagenet", "threads": 2, "formats": ["channels_last", "contiguous"]};
prints one JSON object. The caller limits oneDNN's instruction set with the environment
variable ONEDNN_MAX_CPU_ISA (e.g. AVX2) when it wants an AVX2-only peer."""
import json
import sys
import time

import torch
import torch.nn as nn

from resnet import ResNet  # benchmarks/peers/resnet.py: the same variants as lib/models/resnet.ts


def run(job, fmt):
    torch.manual_seed(0)
    model = ResNet(job["model"], job["classes"], job.get("width", 1.0), job.get("stem", "imagenet")).to(memory_format=fmt)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    x = torch.randn(job["batch"], 3, job["size"], job["size"]).to(memory_format=fmt)
    y = torch.arange(job["batch"]) % job["classes"]
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    step()  # warm-up
    times = []
    for _ in range(job["steps"]):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return params, times


job = json.load(sys.stdin)
torch.set_num_threads(job["threads"])
results = {}
FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
for name in job.get("formats", list(FORMATS)):
    params, times = run(job, FORMATS[name])
    results[name] = {"msPerStep": 1000 * sum(times) / len(times), "imgPerSec": job["batch"] * len(times) / sum(times)}
best = max(results, key=lambda k: results[k]["imgPerSec"])
print(json.dumps({
    "torch": torch.__version__, "mkldnn": bool(torch.backends.mkldnn.is_available()),
    "threads": torch.get_num_threads(), "params": params, "bestFormat": best,
    "imgPerSec": results[best]["imgPerSec"], "msPerStep": results[best]["msPerStep"], "formats": results,
}))
