"""One run of the accuracy protocol in plain PyTorch, the peer of ours.js.

    /usr/bin/python3 benchmarks/accuracy/torch_run.py --protocol short --seed 0 --split DIR --out run.json

The same model (benchmarks/peers/resnet.py: the ResNet variants of lib/models/resnet.ts
with timm's module names, here with the CIFAR stem), initialisation scheme
(Xavier-uniform convs and linear, zero biases, BN γ 1 and β 0, zero-γ on each block's last
BN), data (the raw arrays data.js wrote), augmentation (zero padding of 4, a random 32×32
crop, flip 0.5, ImageNet mean/std), mixup (one λ ~ Beta(α, α) per batch, a random
permutation), label smoothing (1 − ε on the label, ε/(K − 1) elsewhere), NAG with weight
decay on conv/linear weights only, and learning rate (linear warmup from 0 per step, then
cosine to 0 over the remaining steps) as protocol.json states. Written for the peer as a
PyTorch user would write it; it is never a dependency of the package.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'peers'))
from resnet import Block, ResNet  # noqa: E402  benchmarks/peers/resnet.py

MEAN = (123.68, 116.779, 103.939)
STD = (58.393, 57.12, 57.375)
SIDE = 32


def build(p, classes):
    """The protocol's model: benchmarks/peers/resnet.py, the PyTorch twin of lib/models/resnet.ts with timm's module names."""
    return ResNet(p['model'], classes, p['width'], p['stem'])


def initialise(model, zero_gamma):
    """The paper's scheme (§3.1): Xavier-uniform weights with fans counting the kernel area, zero biases, γ 1, β 0; zero-γ (§4.1)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_gamma:
        for m in model.modules():
            if isinstance(m, Block):
                nn.init.zeros_(m.bn2.weight if m.kind == 'basic' else m.bn3.weight)


def param_groups(model, weight_decay, no_bias_decay):
    """No bias decay (§3.1): decay on conv and linear weights only."""
    decay, exempt = [], []
    for name, p in model.named_parameters():
        (exempt if no_bias_decay and p.ndim == 1 else decay).append(p)
    return [{'params': decay, 'weight_decay': weight_decay}, {'params': exempt, 'weight_decay': 0.0}]


def lr_at(step, p, steps_per_epoch):
    warm = int(math.floor(p['warmupEpochs'] * steps_per_epoch + 0.5))
    total = p['epochs'] * steps_per_epoch - warm
    if step < warm:
        return p['lr'] * step / warm
    t = step - warm
    return 0.5 * p['lr'] * (1 + math.cos(math.pi * t / total)) if t < total else 0.0


def normalise(x_uint8_nhwc):
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x_uint8_nhwc.permute(0, 3, 1, 2).float() - mean) / std


def pad_crop_flip(images, padding, flip, gen):
    """Zero padding on every side, a random SIDE×SIDE crop and a horizontal flip with probability `flip`, per image."""
    n = images.shape[0]
    padded = F.pad(images, (0, 0, padding, padding, padding, padding))  # NHWC: pad W and H
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=gen)
    flips = torch.rand(n, generator=gen) < flip
    out = torch.empty_like(images)
    for i in range(n):
        y, x = int(offsets[i, 0]), int(offsets[i, 1])
        crop = padded[i, y:y + SIDE, x:x + SIDE]
        out[i] = crop.flip(1) if flips[i] else crop
    return out


def smooth(labels, classes, eps):
    t = torch.full((labels.shape[0], classes), eps / (classes - 1) if eps > 0 else 0.0)
    t[torch.arange(labels.shape[0]), labels] = 1 - eps
    return t


def evaluate(model, pixels, labels):
    model.eval()
    correct, loss = 0, 0.0
    with torch.no_grad():
        for s in range(0, len(labels), 250):
            x = normalise(pixels[s:s + 250])
            y = labels[s:s + 250]
            logits = model(x)
            loss += F.cross_entropy(logits, y, reduction='sum').item()
            correct += (logits.argmax(1) == y).sum().item()
    model.train()
    return correct / len(labels), loss / len(labels)


def load_split(d, name):
    pixels = np.fromfile(os.path.join(d, f'{name}.u8'), dtype=np.uint8)
    labels = np.fromfile(os.path.join(d, f'{name}.labels'), dtype=np.uint8)
    return torch.from_numpy(pixels.reshape(-1, SIDE, SIDE, 3)), torch.from_numpy(labels.astype(np.int64))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--protocol', required=True)
    ap.add_argument('--seed', type=int, required=True)
    ap.add_argument('--split', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--set', default='{}', help='fields of the protocol changed for this run, as JSON')
    a = ap.parse_args()
    spec = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'protocol.json')))
    p = dict(spec['protocols'][a.protocol], **json.loads(a.set))
    torch.set_num_threads(spec['threads'])
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    classes = json.load(open(os.path.join(a.split, 'meta.json')))['classes']
    train_x, train_y = load_split(a.split, 'train')
    eval_x, eval_y = load_split(a.split, 'eval')
    k = len(classes)
    model = build(p, k)
    initialise(model, p['zeroGamma'])
    opt = torch.optim.SGD(param_groups(model, p['weightDecay'], p['noBiasDecay']), lr=0.0, momentum=p['momentum'], nesterov=p['nesterov'])
    gen = torch.Generator().manual_seed(a.seed)
    beta = torch.distributions.Beta(torch.tensor([p['mixupAlpha']]), torch.tensor([p['mixupAlpha']])) if p['mixupAlpha'] > 0 else None
    b = p['batchSize']
    steps_per_epoch = len(train_y) // b  # the last partial batch is dropped, as ours.js does
    step, lrs, losses, curve = 0, [], [], []
    t_train = time.perf_counter()
    for epoch in range(p['epochs']):
        te = time.perf_counter()
        order = torch.randperm(len(train_y), generator=gen)
        loss_sum, correct, seen = 0.0, 0, 0
        for i in range(steps_per_epoch):
            idx = order[i * b:(i + 1) * b]
            x = normalise(pad_crop_flip(train_x[idx], p['padding'], p['flip'], gen))
            y = train_y[idx]
            target = smooth(y, k, p['labelSmoothing'])
            if beta is not None:
                lam = float(beta.sample())
                perm = torch.randperm(b, generator=gen)
                x = lam * x + (1 - lam) * x[perm]
                target = lam * target + (1 - lam) * target[perm]
            lr = lr_at(step, p, steps_per_epoch)
            for g in opt.param_groups:
                g['lr'] = lr
            logits = model(x)
            loss = -(target * F.log_softmax(logits, 1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            lrs.append(lr)
            losses.append(loss.item())
            loss_sum += loss.item() * b
            correct += (logits.argmax(1) == target.argmax(1)).sum().item()
            seen += b
        seconds = time.perf_counter() - te
        top1, eval_loss = evaluate(model, eval_x, eval_y)
        curve.append({'epoch': epoch + 1, 'trainLoss': loss_sum / seen, 'trainAcc': correct / seen, 'evalTop1': top1, 'evalLoss': eval_loss, 'seconds': seconds})
        print(f'torch seed {a.seed} epoch {epoch + 1}: loss {loss_sum / seen:.4f} eval top-1 {100 * top1:.2f}% ({seconds:.1f} s)', flush=True)
    result = {'side': 'pytorch', 'version': torch.__version__, 'seed': a.seed, 'protocol': a.protocol, 'threads': torch.get_num_threads(),
              'top1': curve[-1]['evalTop1'], 'curve': curve, 'lrs': lrs, 'losses': losses,
              'trainSeconds': time.perf_counter() - t_train, 'totalSeconds': time.perf_counter() - t0}
    json.dump(result, open(a.out, 'w'))


if __name__ == '__main__':
    main()
