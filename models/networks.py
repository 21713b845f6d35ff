"""The paper's networks in PyTorch, written for small images (no torchvision).

Every network maps a float image batch ``x[B, C, H, W]`` (values in [0, 1]) to *logits*
``[B, classes]``; the softmax is taken by whoever serves the model (the protected API), so the
same module can be trained with hard or soft targets.

* ``fmnist_cnn`` — the paper's Fashion-MNIST CNN: two 5x5 convolutions with 16 and 32 kernels,
  each followed by ReLU and 2x2 max pooling, then one fully-connected layer.
* ``cifar_cnn`` — the paper's CIFAR-10 CNN: six 3x3 convolutions (32-64-128-128-256-256) in
  pairs, 2x2 max pooling after each pair, then three fully-connected layers.
* ``resnet18`` — ResNet-18 (He et al.: 4 stages of 2 basic blocks, 64-128-256-512 channels
  times ``width/64``). For inputs up to 64 pixels the stem is the usual small-image stem (one
  3x3 convolution, stride 1, no max pooling), otherwise the ImageNet stem (7x7 stride 2 + pool).
* ``mlp`` — a two-hidden-layer perceptron (``hidden`` units): the surrogate architecture
  that is neither the victims' CNN nor ResNet, and a fast model for tests.
* ``vgg11`` — VGG-11 (configuration "A": 8 convolutions, 3 fully-connected layers), channels
  times ``width/64``; a max pooling is skipped when the feature map is already 1 pixel wide,
  so 28x28 and 32x32 inputs work.

``build(arch, ...)`` is the one constructor; it records ``(arch, kwargs)`` on the module
(``model.dynamarks_spec``) so a checkpoint can rebuild the exact network.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class FashionCNN(nn.Module):
    """conv(16, 5x5) → ReLU → pool → conv(32, 5x5) → ReLU → pool → FC(classes)."""

    def __init__(self, in_channels: int = 1, classes: int = 10, image_size: int = 28) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 5, padding=2)
        self.conv2 = nn.Conv2d(16, 32, 5, padding=2)
        side = image_size // 4
        self.fc = nn.Linear(32 * side * side, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(x.flatten(1))


class CifarCNN(nn.Module):
    """Six 3x3 convolutions 32-64-128-128-256-256 (pool after every pair), FC 512-256-classes."""

    def __init__(self, in_channels: int = 3, classes: int = 10, image_size: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for pair in ((32, 64), (128, 128), (256, 256)):
            for out in pair:
                layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(inplace=True)]
                c = out
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        side = image_size // 8
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(256 * side * side, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(0.3),
            nn.Linear(512, 256),
            nn.ReLU(inplace=True),
            nn.Linear(256, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18: stem, 4 stages x 2 basic blocks (strides 1, 2, 2, 2), global pool, FC."""

    def __init__(
        self, in_channels: int = 1, classes: int = 10, image_size: int = 28, width: int = 64
    ) -> None:
        super().__init__()
        if image_size <= 64:  # small-image stem: keep the resolution
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width, 3, 1, 1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            )
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width, 7, 2, 3, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            )
        blocks: list[nn.Module] = []
        c = width
        for mult, stride in ((1, 1), (2, 2), (4, 2), (8, 2)):
            c_out = width * mult
            blocks += [BasicBlock(c, c_out, stride), BasicBlock(c_out, c_out, 1)]
            c = c_out
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


VGG11_CFG: tuple[int | str, ...] = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG11(nn.Module):
    """VGG-11 (configuration A) with batch norm; channels scaled by width/64."""

    def __init__(
        self, in_channels: int = 3, classes: int = 10, image_size: int = 32, width: int = 64
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c, side = in_channels, image_size
        for item in VGG11_CFG:
            if item == "M":
                if side >= 2:  # skip pooling once the map is 1 pixel wide
                    layers.append(nn.MaxPool2d(2))
                    side //= 2
                continue
            out = int(item) * width // 64
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            c = out
        self.features = nn.Sequential(*layers)
        hidden = 8 * width
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c * side * side, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(hidden, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class MLP(nn.Module):
    """Flatten → FC(hidden) → ReLU → FC(hidden) → ReLU → FC(classes): a surrogate that is
    neither convolutional like the victims nor residual like ResNet-18 (and a fast test model)."""

    def __init__(
        self, in_channels: int = 1, classes: int = 10, image_size: int = 28, hidden: int = 256
    ) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * image_size * image_size, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


ARCHS: dict[str, type[nn.Module]] = {
    "fmnist_cnn": FashionCNN,
    "cifar_cnn": CifarCNN,
    "resnet18": ResNet18,
    "vgg11": VGG11,
    "mlp": MLP,
}


def build(
    arch: str, in_channels: int, classes: int, image_size: int, seed: int | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Construct network ``arch`` for the given input shape; the spec is kept on the module.

    With ``seed`` the initial weights come from ``torch.manual_seed(seed)`` inside a forked
    RNG state, so they are reproducible and the caller's global generator is left alone.
    """
    try:
        cls = ARCHS[arch]
    except KeyError:
        from dynamarks.host.errors import DynamarksError

        raise DynamarksError(
            f"unknown architecture {arch!r} (known: {', '.join(sorted(ARCHS))})"
        ) from None
    spec = {"in_channels": in_channels, "classes": classes, "image_size": image_size, **kwargs}
    if seed is None:
        model = cls(**spec)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = cls(**spec)
    model.dynamarks_spec = (arch, spec)  # type: ignore[assignment]
    return model


def spec_of(model: nn.Module) -> tuple[str, dict[str, Any]]:
    """The ``(arch, kwargs)`` a network was built with (ValueError if not built by ``build``)."""
    spec = getattr(model, "dynamarks_spec", None)
    if spec is None:
        raise ValueError("this network was not made by dynamarks.models.networks.build")
    return spec
