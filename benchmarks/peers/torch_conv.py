"""PyTorch peer of benchmarks/conv.js: the same convolutions (grouped ones too), forward,
backward-data and backward-filter, on the CPU with a given thread count. Reads a JSON job on stdin
({"shapes": [...], "batch": N, "threads": T, "reps": R, "format": "channels_last"}) and
prints one JSON object: torch version, oneDNN use, and seconds per op per shape (best of
reps, after one warm-up)."""
import json
import sys
import time

import torch

job = json.load(sys.stdin)
torch.set_num_threads(job["threads"])
fmt = torch.channels_last if job.get("format", "channels_last") == "channels_last" else torch.contiguous_format
n = job["batch"]
reps = job["reps"]


def best(fn):
    fn()
    t = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


out = []
with torch.no_grad():
    for sh in job["shapes"]:
        x = torch.randn(n, sh["c"], sh["h"], sh["w"]).to(memory_format=fmt)
        g = sh.get("groups", 1)
        w = torch.randn(sh["k"], sh["c"] // g, sh["r"], sh["s"]).to(memory_format=fmt)
        stride, pad = [sh["stride"]] * 2, [sh["pad"]] * 2
        y = torch.nn.functional.conv2d(x, w, None, stride, pad, 1, g)
        dy = torch.randn_like(y).contiguous(memory_format=fmt)

        def fwd():
            torch.nn.functional.conv2d(x, w, None, stride, pad, 1, g)

        def bwd(mask):
            return lambda: torch.ops.aten.convolution_backward(
                dy, x, w, None, stride, pad, [1, 1], False, [0, 0], g, mask)

        out.append({
            "name": sh["name"],
            "forward": best(fwd),
            "backwardData": best(bwd([True, False, False])),
            "backwardFilter": best(bwd([False, True, False])),
        })

print(json.dumps({
    "torch": torch.__version__,
    "mkldnn": bool(torch.backends.mkldnn.is_available()),
    "threads": torch.get_num_threads(),
    "format": job.get("format", "channels_last"),
    "results": out,
}))
