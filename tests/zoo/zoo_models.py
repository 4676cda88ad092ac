"""The zoo's architectures: torchvision networks at MCU widths and TinyML-style models.

Used only by ``export_zoo.py`` (needs torch and torchvision; never imported by the tests).
Every builder returns an ``nn.Module`` with 10 outputs per sample (the U-Net: 10 classes
per pixel; the ArgMax model: the class index). ``MODELS`` lists them with their input shape
and a line on where the architecture comes from.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision.models as tvm
from torch import nn
from torchvision.models import efficientnet, regnet, squeezenet

CLASSES = 10


@dataclass(frozen=True)
class ZooModel:
    name: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, ...]
    source: str


def conv_bn_relu(cin, cout, k, stride=1, padding=0, groups=1, dims=2, dilation=1):
    conv, bn = (nn.Conv1d, nn.BatchNorm1d) if dims == 1 else (nn.Conv2d, nn.BatchNorm2d)
    layer = conv(cin, cout, k, stride, padding, dilation=dilation, groups=groups, bias=False)
    return nn.Sequential(layer, bn(cout), nn.ReLU())


# ---- torchvision at MCU widths ----------------------------------------------------------------
def mobilenet_v2() -> nn.Module:
    # Width 0.35; the last 1x1 conv cut from 1280 to 512 channels to keep the file <= 1.5 MB.
    model = tvm.mobilenet_v2(width_mult=0.35, num_classes=CLASSES)
    last_in = model.features[-1][0].in_channels
    model.features[-1] = tvm.mobilenetv2.Conv2dNormActivation(
        last_in, 512, kernel_size=1, activation_layer=nn.ReLU6
    )
    model.classifier[-1] = nn.Linear(512, CLASSES)
    return model


def mobilenet_v3_small() -> nn.Module:
    return tvm.mobilenet_v3_small(num_classes=CLASSES, width_mult=0.5, reduced_tail=True)


def shufflenet_v2() -> nn.Module:
    # The x0.5 stages; conv5 512 channels instead of 1024 (file size).
    return tvm.ShuffleNetV2([4, 8, 4], [24, 48, 96, 192, 512], num_classes=CLASSES)


def squeezenet_1_1() -> nn.Module:
    """SqueezeNet 1.1's layer sequence (torchvision's Fire modules) at half its channels."""
    model = tvm.squeezenet1_1(num_classes=CLASSES)
    fire = squeezenet.Fire
    model.features = nn.Sequential(
        nn.Conv2d(3, 32, kernel_size=3, stride=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        fire(32, 8, 32, 32),
        fire(64, 8, 32, 32),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        fire(64, 16, 64, 64),
        fire(128, 16, 64, 64),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        fire(128, 24, 96, 96),
        fire(192, 24, 96, 96),
        fire(192, 32, 128, 128),
        fire(256, 32, 128, 128),
    )
    model.classifier[1] = nn.Conv2d(256, CLASSES, kernel_size=1)
    return model


def mnasnet() -> nn.Module:
    return tvm.MNASNet(0.2, num_classes=CLASSES)


def efficientnet_b0() -> nn.Module:
    setting, last = efficientnet._efficientnet_conf(
        "efficientnet_b0", width_mult=0.25, depth_mult=0.5
    )
    return efficientnet.EfficientNet(setting, 0.2, num_classes=CLASSES, last_channel=last)


def regnet_tiny() -> nn.Module:
    params = regnet.BlockParams.from_init_params(depth=10, w_0=16, w_a=8.0, w_m=2.0, group_width=8)
    return regnet.RegNet(params, num_classes=CLASSES)


# ---- TinyML-style convolutional models --------------------------------------------------------
class HarCnn1d(nn.Module):
    """Human activity recognition: 9 IMU channels x 128 steps (UCI HAR windows), Conv1d."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_bn_relu(9, 32, 5, padding=2, dims=1),
            conv_bn_relu(32, 32, 5, padding=2, dims=1),
            nn.MaxPool1d(2),
            conv_bn_relu(32, 64, 3, padding=1, dims=1),
            nn.MaxPool1d(2),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(64, CLASSES)

    def forward(self, x):
        return self.head(self.body(x))


class TcnDilated(nn.Module):
    """Temporal convolutions with dilations 1, 2, 4, 8 and residual adds (time series)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn_relu(6, 24, 1, dims=1)
        self.blocks = nn.ModuleList(
            conv_bn_relu(24, 24, 3, padding=d, dims=1, dilation=d) for d in (1, 2, 4, 8)
        )
        self.head = nn.Linear(24, CLASSES)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = x + block(x)
        return self.head(x.mean(2))


class DsCnnKws(nn.Module):
    """Keyword spotting DS-CNN over 49x10 MFCC (MLPerf Tiny's layout, 64 channels)."""

    def __init__(self) -> None:
        super().__init__()
        layers = [conv_bn_relu(1, 64, (10, 4), stride=2, padding=(5, 1))]
        for _ in range(4):
            layers += [conv_bn_relu(64, 64, 3, padding=1, groups=64), conv_bn_relu(64, 64, 1)]
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(64, CLASSES)

    def forward(self, x):
        return self.head(self.body(x))


class UNetLite(nn.Module):
    """Segmentation: two encoder levels, a ConvTranspose up-step and a bilinear up-step."""

    def __init__(self) -> None:
        super().__init__()
        self.enc1 = conv_bn_relu(3, 8, 3, padding=1)
        self.enc2 = conv_bn_relu(8, 16, 3, padding=1)
        self.mid = conv_bn_relu(16, 32, 3, padding=1)
        self.up1 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.dec1 = conv_bn_relu(32, 16, 3, padding=1)
        self.reduce = nn.Conv2d(16, 8, 1)
        self.dec2 = conv_bn_relu(16, 8, 3, padding=1)
        self.head = nn.Conv2d(8, CLASSES, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        m = self.mid(F.max_pool2d(e2, 2))
        d1 = self.dec1(torch.cat([self.up1(m), e2], 1))
        up = F.interpolate(d1, scale_factor=2.0, mode="bilinear", align_corners=False)
        d2 = self.dec2(torch.cat([self.reduce(up), e1], 1))
        return self.head(d2)


class ActivationMix(nn.Module):
    """PReLU (per channel), ELU, HardSigmoid, LeakyReLU and SiLU between convolutions."""

    def __init__(self) -> None:
        super().__init__()
        self.c1, self.b1, self.a1 = nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.PReLU(16)
        self.c2, self.b2, self.a2 = nn.Conv2d(16, 24, 3, 1, 1), nn.BatchNorm2d(24), nn.ELU()
        self.c3, self.b3 = nn.Conv2d(24, 24, 3, 2, 1), nn.BatchNorm2d(24)
        self.c4, self.a4 = nn.Conv2d(24, 32, 1), nn.LeakyReLU(0.1)
        self.head = nn.Linear(32, CLASSES)

    def forward(self, x):
        x = self.a1(self.b1(self.c1(x)))
        x = self.a2(self.b2(self.c2(x)))
        y = self.b3(self.c3(x))
        x = y * F.hardsigmoid(y) + F.silu(y)
        x = self.a4(self.c4(x))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


class AvgPoolCeil(nn.Module):
    """AveragePool with ceil_mode overhang, with and without padding counted."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = conv_bn_relu(3, 16, 3, padding=1)
        self.p1 = nn.AvgPool2d(3, stride=2, ceil_mode=True)
        self.c2 = conv_bn_relu(16, 32, 3, padding=1)
        self.p2 = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        self.c3 = conv_bn_relu(32, 32, 3, padding=1)
        self.p3 = nn.AvgPool2d(2, stride=2, padding=1, ceil_mode=True, count_include_pad=True)
        self.head = nn.Linear(32, CLASSES)

    def forward(self, x):
        x = self.p3(self.c3(self.p2(self.c2(self.p1(self.c1(x))))))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


class SamePadStride2(nn.Module):
    """TensorFlow-style SAME padding: asymmetric F.pad before stride-2 convs, and
    ``padding='same'`` with an even kernel (asymmetric as well)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = conv_bn_relu(3, 16, 3, stride=2)
        self.c2 = conv_bn_relu(16, 16, 3, stride=2, groups=16)
        self.c3 = nn.Conv2d(16, 32, 4, padding="same")
        self.c4 = conv_bn_relu(32, 32, 5, stride=2)
        self.head = nn.Linear(32, CLASSES)

    def forward(self, x):
        x = self.c1(F.pad(x, (0, 1, 0, 1)))
        x = self.c2(F.pad(x, (0, 1, 0, 1)))
        x = F.relu(self.c3(x))
        x = self.c4(F.pad(x, (1, 2, 1, 2)))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


class PerTimestepLinear(nn.Module):
    """nn.Linear on [batch, time, features] (MatMul on a 3-D input), mean over time."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(20, 48)
        self.fc2 = nn.Linear(48, 32)
        self.head = nn.Linear(32, CLASSES)

    def forward(self, x):
        x = F.relu(self.fc2(F.relu(self.fc1(x))))
        return self.head(x.mean(1))


class SmallCnn(nn.Module):
    """A plain CNN on 32x32 images; ``tail`` picks mean pooling, or an ArgMax after it."""

    def __init__(self, tail: str) -> None:
        super().__init__()
        self.tail = tail
        self.body = nn.Sequential(
            conv_bn_relu(3, 16, 3, padding=1),
            nn.MaxPool2d(2),
            conv_bn_relu(16, 32, 3, padding=1),
            nn.MaxPool2d(2),
            conv_bn_relu(32, 64, 3, padding=1),
        )
        self.head = nn.Linear(64, CLASSES)

    def forward(self, x):
        logits = self.head(self.body(x).mean((2, 3)))
        return logits.argmax(1) if self.tail == "argmax" else logits


class FcAutoencoder(nn.Module):
    """Anomaly detection: Linear + BatchNorm1d + ReLU layers, 320 -> 8 -> 320."""

    def __init__(self) -> None:
        super().__init__()
        sizes = [320, 64, 64, 8, 64, 64]
        layers = []
        for a, b in itertools.pairwise(sizes):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
        self.body = nn.Sequential(*layers, nn.Linear(64, 320))

    def forward(self, x):
        return self.body(x)


# ---- sequence models (issue 14) ---------------------------------------------------------------
class RnnClassifier(nn.Module):
    """LSTM or GRU over [batch, time, features]; the last step (or final state) to a Linear."""

    def __init__(self, cell: str, features: int, hidden: int, bidirectional=False, use_state=False):
        super().__init__()
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(features, hidden, batch_first=True, bidirectional=bidirectional)
        self.use_state = use_state
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), CLASSES)

    def forward(self, x):
        y, state = self.rnn(x)
        if self.use_state:
            h = state[0] if isinstance(state, tuple) else state
            return self.head(h[-1])
        return self.head(y[:, -1])


class SelfAttention(nn.Module):
    """Multi-head self-attention written out (one QKV projection, scaled dot product), as
    TinyML code often has it: nn.MultiheadAttention's export needs opset 14 or later."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attention = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(c // self.heads), dim=-1)
        return self.out((attention @ v).transpose(1, 2).reshape(b, t, c))


class TransformerBlock(nn.Module):
    """Pre-norm block: LayerNorm, attention, residual; LayerNorm, GELU MLP, residual."""

    def __init__(self, width: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1, self.attention = nn.LayerNorm(width), SelfAttention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class SensorTransformer(nn.Module):
    """Two transformer blocks (4 heads, width 32) over 16 sensor tokens of 12 values."""

    def __init__(self, tokens: int = 16, patch: int = 12, width: int = 32) -> None:
        super().__init__()
        self.embed = nn.Linear(patch, width)
        self.position = nn.Parameter(torch.randn(1, tokens, width) * 0.1)
        self.blocks = nn.Sequential(*(TransformerBlock(width, 4, 64) for _ in range(2)))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, CLASSES)

    def forward(self, x):
        x = self.blocks(self.embed(x) + self.position)
        return self.head(self.norm(x).mean(1))


def _m(name, build, shape, source) -> ZooModel:
    return ZooModel(name, build, shape, source)


MODELS: list[ZooModel] = [
    _m(
        "mobilenet_v2",
        mobilenet_v2,
        (1, 3, 96, 96),
        "torchvision MobileNetV2, width 0.35, last conv 512",
    ),
    _m(
        "mobilenet_v3_small",
        mobilenet_v3_small,
        (1, 3, 96, 96),
        "torchvision MobileNetV3-small, width 0.5, reduced tail",
    ),
    _m("shufflenet_v2", shufflenet_v2, (1, 3, 96, 96), "torchvision ShuffleNetV2 x0.5, conv5 512"),
    _m("squeezenet_1_1", squeezenet_1_1, (1, 3, 96, 96), "torchvision SqueezeNet 1.1, half width"),
    _m("mnasnet", mnasnet, (1, 3, 96, 96), "torchvision MNASNet, alpha 0.2"),
    _m(
        "efficientnet_b0",
        efficientnet_b0,
        (1, 3, 64, 64),
        "torchvision EfficientNet-B0, width 0.25, depth 0.5",
    ),
    _m("regnet_tiny", regnet_tiny, (1, 3, 64, 64), "torchvision RegNet (X-type), 10 blocks"),
    _m("har_cnn1d", HarCnn1d, (1, 9, 128), "Conv1d activity recognition (UCI HAR windows)"),
    _m("tcn_dilated", TcnDilated, (1, 6, 128), "dilated Conv1d with residuals (time series)"),
    _m("ds_cnn_kws", DsCnnKws, (1, 1, 49, 10), "DS-CNN keyword spotting (MLPerf Tiny layout)"),
    _m("unet_lite", UNetLite, (1, 3, 64, 64), "U-Net-lite: ConvTranspose and bilinear Resize"),
    _m("activation_mix", ActivationMix, (1, 3, 32, 32), "PReLU, ELU, HardSigmoid, SiLU"),
    _m("avgpool_ceil", AvgPoolCeil, (1, 3, 33, 33), "AvgPool2d ceil_mode, count_include_pad"),
    _m("same_pad_s2", SamePadStride2, (1, 3, 64, 64), "TF-style SAME padding, stride 2"),
    _m("per_timestep_linear", PerTimestepLinear, (1, 32, 20), "nn.Linear on 3-D (MatMul)"),
    _m("argmax_tail", lambda: SmallCnn("argmax"), (1, 3, 32, 32), "CNN with an ArgMax output"),
    _m("mean_pool", lambda: SmallCnn("mean"), (1, 3, 32, 32), "CNN pooled by x.mean((2, 3))"),
    _m("fc_autoencoder", FcAutoencoder, (1, 320), "Linear + BatchNorm1d autoencoder (AD)"),
    _m("kws_lstm", lambda: RnnClassifier("lstm", 10, 64), (1, 49, 10), "KWS LSTM, 49x10 MFCC"),
    _m("kws_gru", lambda: RnnClassifier("gru", 10, 64), (1, 49, 10), "KWS GRU, 49x10 MFCC"),
    _m(
        "imu_gru",
        lambda: RnnClassifier("gru", 6, 32, use_state=True),
        (1, 128, 6),
        "IMU GRU over 128 steps, final state",
    ),
    _m(
        "kws_bilstm",
        lambda: RnnClassifier("lstm", 10, 32, bidirectional=True),
        (1, 49, 10),
        "bidirectional KWS LSTM",
    ),
    _m(
        "sensor_transformer",
        SensorTransformer,
        (1, 16, 12),
        "2 transformer blocks (LayerNorm, GELU, 4-head attention) over sensor tokens",
    ),
]
