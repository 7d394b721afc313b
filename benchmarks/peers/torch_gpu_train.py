"""PyTorch peer of the GPU check (benchmarks/gpu/check.js): training throughput of ResNet-50-D
and ResNet-50 with automatic mixed precision, as a PyTorch user trains them on one GPU.

    python3 benchmarks/peers/torch_gpu_train.py --models resnet50d,resnet50 --batches 256,128
        [--size 224] [--steps 30] [--warmup 10] [--precision fp16] [--device cuda]
        [--compile] [--compile-budget 150] [--deadline EPOCH_SECONDS] [--impl auto|timm|local]
    python3 benchmarks/peers/torch_gpu_train.py --info

The step: channels-last activations and weights; autocast to FP16 with a GradScaler
(bf16 and fp32 autocast-free steps for checks on the CPU); cross-entropy with label
smoothing 0.1; SGD, Nesterov momentum 0.9, weight decay 1e-4, lr 0.1 x batch / 256;
synthetic random images and labels already on the device (the input pipeline is not
timed). cudnn.benchmark is on, as in any fixed-shape training script.

Models: timm's `resnet50d` / `resnet50` when `import timm` works (the implementation
PyTorch users train), else benchmarks/peers/resnet.py (the same variants, same module
names). --compile wraps the model in torch.compile (mode "default"); compilation happens
in the first warm-up step, whose time is reported as compileSeconds, and is abandoned
after --compile-budget seconds (SIGALRM), reported as a skip.

Timing: `--warmup` untimed steps, then `--steps` steps, each between two CUDA events on
the current stream (perf_counter on the CPU); img/s = batch x steps / the events' total.

Output: one JSON object per line on stdout as each configuration finishes, either
{"kind": "run", ...numbers...} or {"kind": "skip", "reason": ...}, so a caller that stops
this process keeps what was measured; progress goes to stderr. --info prints one object
with the versions and the device. --deadline: no configuration starts after that time."""
import argparse
import json
import os
import platform
import signal
import statistics
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

OutOfMemory = getattr(torch.cuda, "OutOfMemoryError", MemoryError)  # torch.cuda.OutOfMemoryError since 1.13


def log(msg):
    print(f"[torch_gpu_train] {msg}", file=sys.stderr, flush=True)


def emit(obj):
    print(json.dumps(obj), flush=True)


def timm_version():
    try:
        import timm
        return timm.__version__
    except Exception:  # timm missing or broken: the local models are used
        return None


def info():
    cuda = torch.cuda.is_available()
    out = {
        "python": platform.python_version(), "torch": torch.__version__,
        "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if cuda else None,
        "timm": timm_version(), "cudaAvailable": cuda,
        "deviceCount": torch.cuda.device_count() if cuda else 0,
        "hasCompile": hasattr(torch, "compile"),
    }
    if cuda:
        p = torch.cuda.get_device_properties(0)
        out.update(deviceName=torch.cuda.get_device_name(0),
                   capability=".".join(map(str, torch.cuda.get_device_capability(0))),
                   totalMemory=p.total_memory, multiprocessors=p.multi_processor_count)
    return out


def build(name, impl):
    """The model and the name of the implementation that built it."""
    if impl in ("auto", "timm"):
        try:
            import timm
            return timm.create_model(name, num_classes=1000), f"timm {timm.__version__}"
        except Exception as e:
            if impl == "timm":
                raise
            log(f"timm unavailable ({type(e).__name__}: {e}); using benchmarks/peers/resnet.py")
    from resnet import ResNet
    return ResNet(name, 1000), "benchmarks/peers/resnet.py"


class CompileTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise CompileTimeout()


def measure(a, name, batch):
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    torch.manual_seed(0)
    model, impl = build(name, a.impl)
    params = sum(p.numel() for p in model.parameters())
    model = model.to(dev, memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1 * batch / 256, momentum=0.9, nesterov=True, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.randn(batch, 3, a.size, a.size, device=dev).to(memory_format=torch.channels_last)
    y = torch.randint(0, 1000, (batch,), device=dev)
    amp_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": None}[a.precision]
    scaler_cls = getattr(torch.amp, "GradScaler", None) if hasattr(torch, "amp") else None
    use_scaler = cuda and a.precision == "fp16"
    scaler = (scaler_cls("cuda", enabled=use_scaler) if scaler_cls is not None
              else torch.cuda.amp.GradScaler(enabled=use_scaler))
    net = torch.compile(model) if a.compile else model

    def step():
        opt.zero_grad(set_to_none=True)
        if amp_dtype is None:
            loss = loss_fn(net(x), y)
        else:
            with torch.autocast(device_type=dev.type, dtype=amp_dtype):
                loss = loss_fn(net(x), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    compile_s = None
    if a.compile:
        # The first step compiles forward and backward; cap it.
        signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(int(a.compile_budget))
        t0 = time.perf_counter()
        try:
            step()
            sync()
        finally:
            signal.alarm(0)
        compile_s = time.perf_counter() - t0
        log(f"{name} batch {batch}: compiled in {compile_s:.1f} s")
    for _ in range(a.warmup):
        loss = step()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    ms = []
    if cuda:
        ev = [torch.cuda.Event(enable_timing=True) for _ in range(a.steps + 1)]
        ev[0].record()
        for i in range(a.steps):
            loss = step()
            ev[i + 1].record()
        sync()
        ms = [ev[i].elapsed_time(ev[i + 1]) for i in range(a.steps)]
    else:
        for _ in range(a.steps):
            t0 = time.perf_counter()
            loss = step()
            ms.append(1000 * (time.perf_counter() - t0))
    total_s = sum(ms) / 1000
    return {
        "kind": "run", "model": name, "impl": impl, "batch": batch, "size": a.size,
        "precision": a.precision, "device": a.device, "mode": "compile" if a.compile else "eager",
        "channelsLast": True, "steps": a.steps, "warmup": a.warmup, "params": params,
        "imgPerSec": batch * a.steps / total_s, "msPerStep": 1000 * total_s / a.steps,
        "msPerStepMedian": statistics.median(ms), "msPerStepMin": min(ms),
        "compileSeconds": compile_s, "lossScale": scaler.get_scale() if use_scaler else None,
        "finalLoss": float(loss), "peakMemoryBytes": torch.cuda.max_memory_allocated() if cuda else None,
        "cudnnBenchmark": torch.backends.cudnn.benchmark,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--info", action="store_true")
    p.add_argument("--models", default="resnet50d,resnet50")
    p.add_argument("--batches", default="256,128")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--precision", choices=["fp16", "bf16", "fp32"], default="fp16")
    p.add_argument("--device", default="cuda")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--compile-budget", type=float, default=150)
    p.add_argument("--deadline", type=float, default=0, help="epoch seconds; 0: none")
    p.add_argument("--impl", choices=["auto", "timm", "local"], default="auto")
    a = p.parse_args()
    if a.info:
        emit(info())
        return 0
    if a.steps < 1 or a.warmup < 0 or a.size < 32:
        p.error("expected --steps >= 1, --warmup >= 0, --size >= 32")
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        p.error("--device cuda but torch.cuda.is_available() is False")
    if not a.device.startswith("cuda") and a.precision == "fp16":
        p.error("fp16 autocast needs --device cuda; use --precision fp32 or bf16 on the CPU")
    torch.backends.cudnn.benchmark = True
    versions = info()
    log(f"torch {versions['torch']} (CUDA {versions['cuda']}, cuDNN {versions['cudnn']}), timm {versions['timm']}, "
        f"device {versions.get('deviceName', a.device)}")
    for name in a.models.split(","):
        for batch in map(int, a.batches.split(",")):
            what = {"model": name, "batch": batch, "size": a.size, "precision": a.precision,
                    "mode": "compile" if a.compile else "eager"}
            if a.deadline and time.time() > a.deadline:
                emit({"kind": "skip", **what, "reason": "the check's time budget was spent before this run"})
                continue
            if a.compile and not versions["hasCompile"]:
                emit({"kind": "skip", **what, "reason": f"torch.compile needs PyTorch >= 2.0 (found {torch.__version__})"})
                continue
            try:
                r = measure(a, name, batch)
            except CompileTimeout:
                emit({"kind": "skip", **what, "reason": f"torch.compile did not finish within {a.compile_budget:g} s"})
                return 0  # the process state after an interrupted compile is not worth reusing
            except OutOfMemory as e:
                emit({"kind": "skip", **what, "reason": f"out of GPU memory: {str(e).splitlines()[0]}"})
                torch.cuda.empty_cache()
                continue
            except Exception as e:  # report and go on with the next configuration
                emit({"kind": "skip", **what, "reason": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"})
                continue
            r.update(torch=versions["torch"], cuda=versions["cuda"], cudnn=versions["cudnn"],
                     deviceName=versions.get("deviceName"))
            log(f"{name} batch {batch} {a.precision} {r['mode']}: {r['imgPerSec']:.1f} img/s "
                f"({r['msPerStep']:.1f} ms/step, median {r['msPerStepMedian']:.1f})")
            emit(r)
            if a.device.startswith("cuda"):
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
