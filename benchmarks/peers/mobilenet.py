"""MobileNetV1 as lib/models/mobilenet.ts builds it, written in PyTorch (NCHW), for the
checks and peers of the benchmarks (mobilenet_check.py).

Howard et al. 2017, Table 1: a 3×3 stride-2 stem conv to 32 channels, BN, ReLU; 13
depthwise-separable blocks (3×3 depthwise conv with the block's stride, BN, ReLU, then a
1×1 conv, BN, ReLU) to 64, 128, 128, 256, 256, 512 ×6, 1024, 1024 channels; global average
pool; linear classifier. Module names are timm's `mobilenetv1_100` (`conv_stem`, `bn1`,
`blocks.{stage}.{i}.conv_dw` / `bn1` / `conv_pw` / `bn2` in stages of 1, 2, 2, 6, 2 blocks,
`classifier`), the keys of our parameters, so a state dict exported by bagoftricks loads
by key. Channels are `make_divisible(c · multiplier · width)` (timm's rounding, divisor 8).
`stem='cifar'` gives the stem conv and the first block of stage 1 stride 1, for 32×32."""
import torch.nn as nn

STAGES = [[(64, 1)], [(128, 2), (128, 1)], [(256, 2), (256, 1)], [(512, 2)] + [(512, 1)] * 5, [(1024, 2), (1024, 1)]]


def make_divisible(v, divisor=8):
    """timm's rounding: the nearest multiple of the divisor, half up, at least the divisor, never below 0.9 v."""
    c = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return c + divisor if c < 0.9 * v else c


class DepthwiseSeparable(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv_dw = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv_pw = nn.Conv2d(cin, cout, 1, 1, 0, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.act(self.bn1(self.conv_dw(x)))
        return self.act(self.bn2(self.conv_pw(x)))


class MobileNetV1(nn.Module):
    def __init__(self, multiplier=1.0, width=1.0, num_classes=1000, stem="imagenet", in_chans=3):
        super().__init__()
        ch = lambda c: make_divisible(c * multiplier * width)
        cifar = stem == "cifar"
        c = ch(32)
        self.conv_stem = nn.Conv2d(in_chans, c, 3, 1 if cifar else 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.act = nn.ReLU(inplace=True)
        stages = []
        for s, blocks in enumerate(STAGES):
            layers = []
            for i, (out, stride) in enumerate(blocks):
                layers.append(DepthwiseSeparable(c, ch(out), 1 if cifar and s == 1 and i == 0 else stride))
                c = ch(out)
            stages.append(nn.Sequential(*layers))
        self.blocks = nn.Sequential(*stages)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.blocks(self.act(self.bn1(self.conv_stem(x))))
        return self.classifier(self.global_pool(x).flatten(1))
