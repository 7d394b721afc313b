"""PyTorch peer of benchmarks/train.js: the same ResNet variant trained with the same
batch, input size, loss (label smoothing 0.1) and optimizer (SGD, Nesterov momentum 0.9,
weight decay 1e-4) on the CPU, in both memory formats; reports the faster.

Reads a JSON job on stdin: {"model": "resnet50d", "batch": 32, "size": 224, "steps": 3,
"classes": 1000, "width": 1, "threads": 2, "formats": ["channels_last", "contiguous"]};
prints one JSON object. The caller limits oneDNN's instruction set with the environment
variable ONEDNN_MAX_CPU_ISA (e.g. AVX2) when it wants an AVX2-only peer."""
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ROWS = {  # depth: (block, layers)
    18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]), 50: ("bottleneck", [3, 4, 6, 3]),
    101: ("bottleneck", [3, 4, 23, 3]), 152: ("bottleneck", [3, 8, 36, 3]),
}


def parse(name):
    variant = name[-1] if name[-1] in "abcd" else "b"
    depth = int(name[6:-1] if name[-1] in "abcd" else name[6:])
    return depth, variant


class Block(nn.Module):
    def __init__(self, kind, cin, mid, stride, variant, width):
        super().__init__()
        out = mid * (4 if kind == "bottleneck" else 1)
        self.kind = kind
        if kind == "basic":
            self.c1 = nn.Conv2d(cin, mid, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(mid)
            self.c2 = nn.Conv2d(mid, mid, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(mid)
        else:
            s1, s3 = (stride, 1) if variant == "a" else (1, stride)
            self.c1 = nn.Conv2d(cin, mid, 1, s1, 0, bias=False)
            self.b1 = nn.BatchNorm2d(mid)
            self.c2 = nn.Conv2d(mid, mid, 3, s3, 1, bias=False)
            self.b2 = nn.BatchNorm2d(mid)
            self.c3 = nn.Conv2d(mid, out, 1, 1, 0, bias=False)
            self.b3 = nn.BatchNorm2d(out)
        self.down = None
        if stride != 1 or cin != out:
            if variant == "d":
                pool = [nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)] if stride != 1 else []
                self.down = nn.Sequential(*pool, nn.Conv2d(cin, out, 1, 1, bias=False), nn.BatchNorm2d(out))
            else:
                self.down = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        if self.kind == "bottleneck":
            y = self.b3(self.c3(F.relu(y)))
        return F.relu(y + (self.down(x) if self.down is not None else x))


class ResNet(nn.Module):
    def __init__(self, name, classes, width=1.0):
        super().__init__()
        depth, variant = parse(name)
        kind, layers = ROWS[depth]
        w = lambda c: max(1, round(c * width))
        if variant in "cd":
            s = [w(32), w(32), w(64)]
            self.stem = nn.Sequential(
                nn.Conv2d(3, s[0], 3, 2, 1, bias=False), nn.BatchNorm2d(s[0]), nn.ReLU(),
                nn.Conv2d(s[0], s[1], 3, 1, 1, bias=False), nn.BatchNorm2d(s[1]), nn.ReLU(),
                nn.Conv2d(s[1], s[2], 3, 1, 1, bias=False), nn.BatchNorm2d(s[2]), nn.ReLU())
        else:
            self.stem = nn.Sequential(nn.Conv2d(3, w(64), 7, 2, 3, bias=False), nn.BatchNorm2d(w(64)), nn.ReLU())
        self.pool = nn.MaxPool2d(3, 2, 1)
        blocks, cin = [], w(64)
        for i, n in enumerate(layers):
            mid = w(64 * 2 ** i)
            for j in range(n):
                blocks.append(Block(kind, cin, mid, 2 if (j == 0 and i > 0) else 1, variant, width))
                cin = mid * (4 if kind == "bottleneck" else 1)
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.blocks(self.pool(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def run(job, fmt):
    torch.manual_seed(0)
    model = ResNet(job["model"], job["classes"], job.get("width", 1.0)).to(memory_format=fmt)
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
