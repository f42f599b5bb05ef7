import pytest
import torch
from torch import nn

from wgan_repro.config import TrainConfig
from wgan_repro.models import build_models


@pytest.mark.parametrize("arch,size,channels,dataset", [
    ("dcgan", 32, 3, "cifar10"), ("dcgan", 64, 3, "lsun-bedroom"), ("dcgan", 32, 1, "mnist"),
    ("mlp", 28, 1, "mnist"), ("mlp", 64, 3, "cifar10")])
def test_image_model_shapes(arch, size, channels, dataset):
    cfg = TrainConfig(dataset=dataset, arch=arch, image_size=size, dim=16 if arch == "dcgan" else 64)
    g, d = build_models(cfg)
    x = g(torch.randn(5, cfg.noise_dim))
    assert x.shape == (5, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert d(x).shape == (5,)


def test_toy_models_follow_the_wgan_gp_toy_code():
    g, d = build_models(TrainConfig())
    linears = [m for m in g.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2, 512), (512, 512), (512, 512), (512, 2)]
    assert d(g(torch.randn(3, 2))).shape == (3,)


def test_mlp_has_four_hidden_layers_of_512():
    g, d = build_models(TrainConfig(dataset="cifar10", arch="mlp", image_size=32))
    assert [m.out_features for m in g.modules() if isinstance(m, nn.Linear)][:4] == [512] * 4
    assert [m.out_features for m in d.modules() if isinstance(m, nn.Linear)] == [512] * 4 + [1]


def count(module, kind):
    return sum(isinstance(m, kind) for m in module.modules())


def test_batchnorm_switches_separately_in_g_and_d():
    base = dict(dataset="cifar10", arch="dcgan", dim=8)
    g, d = build_models(TrainConfig(**base, g_batchnorm=False, d_norm="batch"))
    assert count(g, nn.BatchNorm2d) == 0 and count(d, nn.BatchNorm2d) > 0
    g, d = build_models(TrainConfig(**base, g_batchnorm=True, d_norm="none"))
    assert count(g, nn.BatchNorm2d) > 0 and count(d, nn.BatchNorm2d) == 0


def test_gradient_penalty_critic_uses_layer_norm_not_batch_norm():
    _, d = build_models(TrainConfig(dataset="cifar10", arch="dcgan", dim=8, gp_weight=10.0, d_norm="layer"))
    assert count(d, nn.BatchNorm2d) == 0 and count(d, nn.GroupNorm) > 0
    # layer norm keeps examples independent: one example's score ignores the rest of the batch
    x = torch.randn(4, 3, 32, 32)
    assert torch.allclose(d(x)[:1], d(x[:1]), atol=1e-5)
