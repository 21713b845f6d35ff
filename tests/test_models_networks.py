"""The paper's networks: output shapes, parameter counts that pin the architecture, seeding."""

from __future__ import annotations

import pytest
import torch

from dynamarks.host.errors import DynamarksError
from dynamarks.models.networks import build, spec_of


@pytest.mark.parametrize(
    ("arch", "channels", "size", "kwargs"),
    [
        ("fmnist_cnn", 1, 28, {}),
        ("cifar_cnn", 3, 32, {}),
        ("resnet18", 1, 28, {"width": 8}),
        ("resnet18", 3, 32, {"width": 8}),
        ("resnet18", 3, 96, {"width": 8}),  # ImageNet-style stem for large inputs
        ("vgg11", 1, 28, {"width": 8}),
        ("vgg11", 3, 32, {"width": 8}),
    ],
)
def test_logits_shape(arch, channels, size, kwargs):
    model = build(arch, channels, 10, size, seed=0, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.rand(3, channels, size, size))
    assert out.shape == (3, 10)
    assert torch.isfinite(out).all()
    assert spec_of(model)[0] == arch


def test_fmnist_cnn_is_the_papers():
    """conv 1→16 5x5, conv 16→32 5x5, one FC 32·7·7→10: exactly these parameters."""
    model = build("fmnist_cnn", 1, 10, 28)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    fcs = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(16, (5, 5)), (32, (5, 5))]
    assert len(fcs) == 1 and fcs[0].in_features == 32 * 7 * 7
    n = sum(p.numel() for p in model.parameters())
    assert n == (16 * 25 + 16) + (32 * 16 * 25 + 32) + (32 * 49 * 10 + 10)


def test_cifar_cnn_layers():
    model = build("cifar_cnn", 3, 10, 32)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    fcs = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 128, 256, 256]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert len(fcs) == 3


def test_resnet18_depth():
    """ResNet-18: 1 stem conv + 16 block convs + 3 projection shortcuts, one FC."""
    model = build("resnet18", 1, 10, 28, width=8)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 1 + 16 + 3
    assert convs[-1].out_channels == 8 * 8


def test_seeded_build_is_reproducible_and_leaves_global_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build("fmnist_cnn", 1, 10, 28, seed=5)
    after = torch.rand(1)
    b = build("fmnist_cnn", 1, 10, 28, seed=5)
    c = build("fmnist_cnn", 1, 10, 28, seed=6)
    assert torch.equal(before, after)  # the global generator was not consumed
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(),
                                                          strict=True))


def test_unknown_arch():
    with pytest.raises(DynamarksError, match="unknown architecture"):
        build("alexnet", 1, 10, 28)
