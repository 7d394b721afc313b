"""The ResNet variants of lib/models/resnet.ts written in PyTorch, for the peers of the
benchmarks (torch_train.py, torch_infer.py).

Module names are timm's, as are the keys of our models' parameters, so a state dict
exported by bagoftricks loads by key: the stem is `conv1` (one 7×7 conv, or for C/D the
Sequential conv1.0, conv1.1 (BN), conv1.3, conv1.4 (BN), conv1.6) then `bn1`; blocks are
`layer{1-4}.{i}` with `conv{1,2,3}`/`bn{1,2,3}`; the shortcut is `downsample` (0 conv,
1 BN for A/B/C; 0 pool or Identity, 1 conv, 2 BN for D); the classifier is `fc`.

Variants (He et al. 2019, Figure 2): A strides a bottleneck's first 1×1 conv, B/C/D its
3×3 conv; C/D have the deep 32-32-64 stem; D's strided shortcut is a 2×2 average pool
(ceil_mode, count_include_pad=False) then a stride-1 1×1 conv. `width` multiplies every
channel count c as max(1, round(c · width)), as lib/models/resnet.ts does. `stem='cifar'`
is the stem for 32×32 inputs: every stem conv of stride 1 and no max pool."""
import torch
import torch.nn as nn
import torch.nn.functional as F

ROWS = {  # depth: (block, layers)
    18: ("basic", [2, 2, 2, 2]), 34: ("basic", [3, 4, 6, 3]), 50: ("bottleneck", [3, 4, 6, 3]),
    101: ("bottleneck", [3, 4, 23, 3]), 152: ("bottleneck", [3, 8, 36, 3]),
}


def parse(name):
    """'resnet50d' -> (50, 'd'); a name without a letter is variant B."""
    variant = name[-1] if name[-1] in "abcd" else "b"
    depth = int(name[6:-1] if name[-1] in "abcd" else name[6:])
    return depth, variant


class Block(nn.Module):
    def __init__(self, kind, cin, mid, stride, variant):
        super().__init__()
        out = mid * (4 if kind == "bottleneck" else 1)
        self.kind = kind
        if kind == "basic":
            self.conv1 = nn.Conv2d(cin, mid, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(mid)
            self.conv2 = nn.Conv2d(mid, mid, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(mid)
        else:
            s1, s3 = (stride, 1) if variant == "a" else (1, stride)
            self.conv1 = nn.Conv2d(cin, mid, 1, s1, 0, bias=False)
            self.bn1 = nn.BatchNorm2d(mid)
            self.conv2 = nn.Conv2d(mid, mid, 3, s3, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(mid)
            self.conv3 = nn.Conv2d(mid, out, 1, 1, 0, bias=False)
            self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or cin != out:
            if variant == "d":
                pool = nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) if stride != 1 else nn.Identity()
                self.downsample = nn.Sequential(pool, nn.Conv2d(cin, out, 1, 1, bias=False), nn.BatchNorm2d(out))
            else:
                self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        if self.kind == "bottleneck":
            y = self.bn3(self.conv3(F.relu(y)))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    def __init__(self, name, classes=1000, width=1.0, stem="imagenet"):
        super().__init__()
        depth, variant = parse(name)
        st = 1 if stem == "cifar" else 2
        kind, layers = ROWS[depth]
        w = lambda c: max(1, round(c * width))
        if variant in "cd":
            s = [w(32), w(32), w(64)]
            self.conv1 = nn.Sequential(
                nn.Conv2d(3, s[0], 3, st, 1, bias=False), nn.BatchNorm2d(s[0]), nn.ReLU(),
                nn.Conv2d(s[0], s[1], 3, 1, 1, bias=False), nn.BatchNorm2d(s[1]), nn.ReLU(),
                nn.Conv2d(s[1], s[2], 3, 1, 1, bias=False))
        else:
            self.conv1 = nn.Conv2d(3, w(64), 3, 1, 1, bias=False) if stem == "cifar" else nn.Conv2d(3, w(64), 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(w(64))
        self.maxpool = nn.Identity() if stem == "cifar" else nn.MaxPool2d(3, 2, 1)
        cin = w(64)
        for i, n in enumerate(layers):
            mid = w(64 * 2 ** i)
            blocks = []
            for j in range(n):
                blocks.append(Block(kind, cin, mid, 2 if (j == 0 and i > 0) else 1, variant))
                cin = mid * (4 if kind == "bottleneck" else 1)
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def load_flat(model, manifest, path):
    """Loads parameters from a file of float32 values laid end to end in the order of
    `manifest` ([{"name", "shape"}], PyTorch layout). Every tensor of the model but BN's
    num_batches_tracked must be given, and nothing else."""
    flat = torch.frombuffer(bytearray(open(path, "rb").read()), dtype=torch.float32)
    state, offset = {}, 0
    for entry in manifest:
        n = 1
        for d in entry["shape"]:
            n *= d
        state[entry["name"]] = flat[offset:offset + n].view(entry["shape"])
        offset += n
    if offset != flat.numel():
        raise ValueError(f"{path}: {flat.numel()} values for a manifest of {offset}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"parameters do not match the model: missing {missing[:8]}, unexpected {unexpected[:8]}")
