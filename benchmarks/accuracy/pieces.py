"""The PyTorch side of pieces.js: reads the job folder it wrote (initial and final weights
of ours as safetensors, the fixed batches, the steps' losses and learning rates) and prints
one JSON object comparing each piece. Uses torch_run.py's model, recipe and augmentation."""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_run as tr  # noqa: E402

DTYPES = {'F32': np.float32, 'F16': np.float16, 'I64': np.int64, 'I32': np.int32}


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for k, v in header.items():
            if k == '__metadata__':
                continue
            s, e = v['data_offsets']
            f.seek(base + s)
            out[k] = torch.from_numpy(np.frombuffer(f.read(e - s), dtype=DTYPES[v['dtype']]).reshape(v['shape']).copy())
        return out


def rel(a, b):
    """‖a − b‖ / ‖b‖ (0 when both are 0)."""
    nb = float(b.double().norm())
    d = float((a.double() - b.double()).norm())
    return d / nb if nb > 0 else d


def compare_state(model, opt, ours):
    """Max relative difference over parameters, BN running statistics and momentum buffers, and the worst tensor of each."""
    worst = {'parameters': (0.0, ''), 'running': (0.0, ''), 'momentum': (0.0, '')}
    sd = model.state_dict()
    for name, t in sd.items():
        if name.endswith('num_batches_tracked'):
            continue
        kind = 'running' if 'running_' in name else 'parameters'
        r = rel(t, ours[name])
        if r > worst[kind][0] or not worst[kind][1]:
            worst[kind] = (r, name)
    for name, prm in model.named_parameters():
        buf = opt.state[prm].get('momentum_buffer') if prm in opt.state else None
        if buf is None:
            continue
        r = rel(buf, ours['optimizer.momentum.' + name])
        if r > worst['momentum'][0] or not worst['momentum'][1]:
            worst['momentum'] = (r, name)
    return {k: {'maxRelDiff': v[0], 'tensor': v[1]} for k, v in worst.items()}


def main():
    work = sys.argv[1]
    job = json.load(open(os.path.join(work, 'job.json')))
    spec = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'protocol.json')))
    p = spec['protocols'][job['protocol']]
    torch.set_num_threads(spec['threads'])
    K, B = job['steps'], job['batch']
    classes = json.load(open(os.path.join(job['split'], 'meta.json')))['classes']
    k = len(classes)
    out = {}

    # 1. Learning rates of the protocol's run.
    torch_lrs = [tr.lr_at(s, p, job['perEpoch']) for s in range(len(job['lrs']))]
    out['learningRate'] = {'steps': len(torch_lrs), 'maxAbsDiff': max(abs(x - y) for x, y in zip(torch_lrs, job['lrs'])),
                           'first': job['lrs'][:3], 'atWarmupEnd': job['lrs'][int(math.floor(p['warmupEpochs'] * job['perEpoch'] + 0.5))], 'last': job['lrs'][-1]}

    # 2. K steps from ours' initial weights on the fixed batches, mixup off.
    images = torch.from_numpy(np.fromfile(os.path.join(work, 'batches.f32'), dtype=np.float32).reshape(-1, tr.SIDE, tr.SIDE, 3)).permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(np.fromfile(os.path.join(work, 'batches.labels'), dtype=np.int32).astype(np.int64))
    init = read_safetensors(os.path.join(work, 'init.safetensors'))

    def fresh():
        model = tr.build(p, k)
        missing, unexpected = model.load_state_dict({n: v for n, v in init.items() if not n.startswith('optimizer.')}, strict=False)
        assert all(m.endswith('num_batches_tracked') for m in missing) and not unexpected, (missing, unexpected)
        model.train()
        return model

    q = dict(p, epochs=2, warmupEpochs=0.5)

    def steps(dtype):
        """The K steps in `dtype`: float32 is the peer; float64 measures how far float32 rounding alone carries."""
        model = fresh().to(dtype)
        opt = torch.optim.SGD(tr.param_groups(model, p['weightDecay'], p['noBiasDecay']), lr=0.0, momentum=p['momentum'], nesterov=p['nesterov'])
        losses, lrs = [], []
        for s in range(K):
            x, y = images[s * B:(s + 1) * B].to(dtype), labels[s * B:(s + 1) * B]
            lr = tr.lr_at(s, q, K)
            for g in opt.param_groups:
                g['lr'] = lr
            loss = -(tr.smooth(y, k, p['labelSmoothing']).to(dtype) * F.log_softmax(model(x), 1)).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            lrs.append(lr)
        return model, opt, losses, lrs

    def loss_diff(a, b):
        return max(abs(x - y) / abs(y) for x, y in zip(a, b))

    model64, opt64, losses64, _ = steps(torch.float64)
    model, opt, losses, lrs = steps(torch.float32)
    after = read_safetensors(os.path.join(work, 'after.safetensors'))
    state64 = {n: v.float() for n, v in model64.state_dict().items()}
    state64.update({'optimizer.momentum.' + n: opt64.state[prm]['momentum_buffer'].float() for n, prm in model64.named_parameters() if prm in opt64.state})
    out['fixedSteps'] = {
        'steps': K, 'oursLosses': job['oursLosses'], 'torchLosses': losses, 'torch64Losses': losses64,
        'lossMaxRelDiff': {'oursVsTorch': loss_diff(job['oursLosses'], losses), 'oursVsTorch64': loss_diff(job['oursLosses'], losses64), 'torchVsTorch64': loss_diff(losses, losses64)},
        'lrMaxAbsDiff': max(abs(a - b) for a, b in zip(job['oursLrs'], lrs)),
        'after': {'oursVsTorch': compare_state(model, opt, after), 'torchVsTorch64': compare_state(model, opt, state64)},
    }

    # 3. One mixup step from the initial weights with ours' pairing and λ.
    m = job['mixup']
    model = fresh()
    opt = torch.optim.SGD(tr.param_groups(model, p['weightDecay'], p['noBiasDecay']), lr=m['lr'], momentum=p['momentum'], nesterov=p['nesterov'])
    perm = torch.tensor(m['perm'], dtype=torch.int64)
    lam = m['lambda']
    x, y = images[:B], labels[:B]
    xm = lam * x + (1 - lam) * x[perm]
    t = tr.smooth(y, k, p['labelSmoothing'])
    t = lam * t + (1 - lam) * t[perm]
    loss = -(t * F.log_softmax(model(xm), 1)).sum(1).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    out['mixupStep'] = {'lambda': lam, 'oursLoss': m['oursLoss'], 'torchLoss': loss.item(), 'lossRelDiff': abs(m['oursLoss'] - loss.item()) / abs(loss.item()),
                        'after': compare_state(model, opt, read_safetensors(os.path.join(work, 'after-mixup.safetensors')))}

    # 4. Weight decay per tensor: (w_with − w_without) / (−lr·(1 + μ)·w) is the decay the first Nesterov step applied.
    lr, mu = 0.1, p['momentum']
    applied = {}
    for side in ('ours', 'torch'):
        if side == 'ours':
            w0, w1 = read_safetensors(os.path.join(work, 'wd-0.safetensors')), read_safetensors(os.path.join(work, f"wd-{p['weightDecay']}.safetensors"))
        else:
            ws = []
            for wd in (0.0, p['weightDecay']):
                mdl = fresh()
                o = torch.optim.SGD(tr.param_groups(mdl, wd, p['noBiasDecay']), lr=lr, momentum=mu, nesterov=p['nesterov'])
                loss = -(tr.smooth(labels[:B], k, p['labelSmoothing']) * F.log_softmax(mdl(images[:B]), 1)).sum(1).mean()
                loss.backward()
                o.step()
                ws.append({n: v.detach().clone() for n, v in mdl.named_parameters()})
            w0, w1 = ws
        for name, _ in fresh().named_parameters():
            w = init[name].double()
            mask = w.abs() > 1e-3
            d = (w1[name].double() - w0[name].double())[mask]
            est = float((-d / (lr * (1 + mu) * w[mask])).median()) if mask.any() else 0.0
            applied.setdefault(name, {})[side] = round(est, 7)
    differ = {n: v for n, v in applied.items() if abs(v['ours'] - v['torch']) > 1e-6}
    decayed = sorted(n for n, v in applied.items() if v['ours'] > 0)
    out['weightDecay'] = {'configured': p['weightDecay'], 'tensors': len(applied), 'decayedOurs': len(decayed),
                          'decayedTorch': sum(1 for v in applied.values() if v['torch'] > 0), 'differ': differ,
                          'example': {n: applied[n] for n in list(applied)[:4]}}

    # 6. PyTorch's augmentation over one epoch of the training images.
    tx, _ = tr.load_split(job['split'], 'train')
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(tx), generator=gen)
    s1, s2, n, pad = torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), 0, 0
    zero = -torch.tensor(tr.MEAN) / torch.tensor(tr.STD)
    for i in range(len(tx) // B):
        xb = tr.normalise(tr.pad_crop_flip(tx[order[i * B:(i + 1) * B]], p['padding'], p['flip'], gen)).double()
        s1 += xb.sum((0, 2, 3))
        s2 += (xb * xb).sum((0, 2, 3))
        n += xb.shape[0] * xb.shape[2] * xb.shape[3]
        pad += int(((xb.permute(0, 2, 3, 1) - zero.double()).abs().max(-1).values < 1e-6).sum())
    mean = s1 / n
    out['augmentation'] = {'mean': mean.tolist(), 'std': (s2 / n - mean * mean).sqrt().tolist(), 'paddingFraction': pad / n}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
