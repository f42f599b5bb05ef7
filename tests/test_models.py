import pytest
import torch
from torch import nn

from wgan_repro.config import TrainConfig
from wgan_repro.models import build_models


@pytest.mark.parametrize("arch,size,channels,dataset", [
    ("dcgan", 32, 3, "cifar10"), ("dcgan", 64, 3, "lsun-bedroom"), ("dcgan", 32, 1, "mnist"),
    ("mlp", 28, 1, "mnist"), ("mlp", 64, 3, "cifar10"), ("gp-dcgan", 28, 1, "mnist"),
    ("gp-dcgan", 32, 3, "cifar10"), ("gp-dcgan", 64, 3, "lsun-bedroom")])
def test_image_model_shapes(arch, size, channels, dataset):
    cfg = TrainConfig(dataset=dataset, arch=arch, image_size=size, dim=16 if "dcgan" in arch else 64, clip_value=0.01)
    g, d = build_models(cfg)
    x = g(torch.randn(5, cfg.noise_dim))
    assert x.shape == (5, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert d(x).shape == (5,)


def test_toy_models_follow_the_wgan_gp_toy_code():
    g, d = build_models(TrainConfig(clip_value=0.01))
    linears = [m for m in g.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2, 512), (512, 512), (512, 512), (512, 2)]
    assert d(g(torch.randn(3, 2))).shape == (3,)


def test_mlp_has_four_hidden_layers_of_512():
    g, d = build_models(TrainConfig(dataset="cifar10", arch="mlp", image_size=32, clip_value=0.01))
    assert [m.out_features for m in g.modules() if isinstance(m, nn.Linear)][:4] == [512] * 4
    assert [m.out_features for m in d.modules() if isinstance(m, nn.Linear)] == [512] * 4 + [1]


def count(module, kind):
    return sum(isinstance(m, kind) for m in module.modules())


def test_batchnorm_switches_separately_in_g_and_d():
    base = dict(dataset="cifar10", arch="dcgan", dim=8, clip_value=0.01)
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


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_wgan_gp_cifar_architecture_follows_gan_cifar_py():
    # gan_cifar.py: z=128 -> Linear(4*4*4*DIM) + BN -> 5x5 deconvs 4D->2D->D->3, tanh;
    # critic 5x5 stride-2 convs 3->D->2D->4D without normalisation, Linear(4*4*4*D -> 1)
    cfg = TrainConfig(dataset="cifar10", arch="gp-dcgan", image_size=32, dim=8, gp_weight=10.0, d_norm="none")
    g, d = build_models(cfg)
    assert cfg.noise_dim == 128
    assert isinstance(g.input, nn.Linear) and (g.input.in_features, g.input.out_features) == (128, 4 * 4 * 4 * 8)
    deconvs = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size) for m in deconvs] == [
        (32, 16, (5, 5)), (16, 8, (5, 5)), (8, 3, (5, 5))]
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size, m.stride) for m in convs] == [
        (3, 8, (5, 5), (2, 2)), (8, 16, (5, 5), (2, 2)), (16, 32, (5, 5), (2, 2))]
    assert count(d, nn.BatchNorm2d) == count(d, nn.GroupNorm) == 0
    assert d.output.in_features == 4 * 4 * 4 * 8


def test_constant_filter_generator_is_the_wgan_paper_fig6_generator():
    # gan_64x64.py WGANPaper_CrippledDCGANGenerator: no batch norm, DIM filters in every layer
    base = dict(dataset="lsun-bedroom", arch="gp-dcgan", image_size=64, dim=16, clip_value=0.01, d_norm="batch")
    crippled, d = build_models(TrainConfig(**base, g_arch="gp-constant"))
    assert count(crippled, nn.BatchNorm2d) + count(crippled, nn.BatchNorm1d) == 0
    assert {m.out_channels for m in crippled.modules() if isinstance(m, nn.ConvTranspose2d)} == {16, 3}
    assert crippled.input.out_features == 4 * 4 * 16
    assert count(d, nn.BatchNorm2d) > 0  # the critic keeps its batch norm
    # the WGAN code's --noBN generator keeps the halving pyramid: ~8x the parameters at 64 px
    nobn, _ = build_models(TrainConfig(**{**base, "arch": "dcgan"}, g_batchnorm=False))
    assert n_params(nobn) > 5 * n_params(crippled)


def test_generator_and_critic_are_chosen_separately():
    # WGAN Fig. 7: the MLP generator against a DCGAN critic
    cfg = TrainConfig(dataset="mnist", arch="gp-dcgan", image_size=28, dim=8, g_arch="mlp", g_dim=64,
                      clip_value=0.01, d_norm="batch")
    g, d = build_models(cfg)
    assert type(g).__name__ == "MLPGenerator" and type(d).__name__ == "ConvCritic"
    assert [m.out_features for m in g.modules() if isinstance(m, nn.Linear)][:4] == [64] * 4
    assert d(g(torch.randn(3, cfg.noise_dim))).shape == (3,)


def test_tflib_initialisation():
    # He-uniform before a ReLU, Glorot-uniform otherwise, zero biases (gan_toy.py, tflib linear.py)
    torch.manual_seed(0)
    g, d = build_models(TrainConfig(dim=512, gp_weight=0.1, d_norm="none"))
    hidden, out = d.net[2], d.net[-1]
    assert hidden.weight.std().item() == pytest.approx((2 / 512) ** 0.5, rel=0.02)
    assert hidden.weight.abs().max().item() <= (2 / 512) ** 0.5 * 3 ** 0.5
    assert out.weight.std().item() == pytest.approx((2 / 513) ** 0.5, rel=0.15)
    linears = [m for m in [*g.modules(), *d.modules()] if isinstance(m, nn.Linear)]
    assert all(float(m.bias.detach().abs().max()) == 0 for m in linears)
    # tflib Conv2D: std sqrt(4 / (fan_in + fan_out)), fan_out = c_out k^2 / stride^2
    _, c = build_models(TrainConfig(dataset="cifar10", arch="gp-dcgan", dim=64, gp_weight=10.0, d_norm="none"))
    conv = c.net[3]
    expected = (4 / (64 * 25 + 128 * 25 / 4)) ** 0.5
    assert conv.weight.std().item() == pytest.approx(expected, rel=0.02)


def test_sampling_uses_batch_statistics_and_leaves_running_statistics_alone():
    from wgan_repro.models import sampling

    cfg = TrainConfig(dataset="cifar10", arch="gp-dcgan", dim=8, clip_value=0.01, d_norm="batch")
    g, _ = build_models(cfg)
    g.train()
    for _ in range(3):  # give the running statistics values of their own
        g(torch.randn(16, cfg.noise_dim))
    g.eval()
    before = {k: v.clone() for k, v in g.state_dict().items()}
    rng = torch.get_rng_state()
    z = torch.randn(32, cfg.noise_dim, generator=torch.Generator().manual_seed(1))
    with sampling(g):
        batch_stats = g(z)
        assert g.training
    assert not g.training  # the mode is restored
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)
    with sampling(g, batch_stats=False):
        running = g(z)
    assert not torch.allclose(batch_stats, running)  # the two modes really differ for a BN generator


def test_table1_architectures_are_seeded_draws_from_the_papers_set_and_build_at_28_and_32_px():
    from wgan_repro.config import ConfigError, TrainConfig
    from wgan_repro.models import TABLE1, build_models, table1_architecture

    draws = [table1_architecture(k) for k in range(40)]
    assert draws[:5] == [table1_architecture(k) for k in range(5)]          # the same k, the same architecture
    for net in ("generator", "critic"):
        for key, values in TABLE1.items():
            seen = {d[net][key] for d in draws}
            assert seen <= set(values) and len(seen) == len(values), (net, key)   # every value of the range occurs
    for k in range(6):
        for dataset, size in (("mnist", 28), ("cifar10", 32)):
            cfg = TrainConfig(dataset=dataset, image_size=size, arch=f"gp-random-{k}", dim=4, loss="wgan",
                              gp_weight=10.0, d_norm="layer", out_dir="unused")
            g, d = build_models(cfg)
            x = g(torch.randn(3, cfg.noise_dim))
            assert x.shape == (3, cfg.channels, size, size) and d(x).shape == (3,)
            depth = table1_architecture(k)["critic"]["depth"]
            assert sum(isinstance(m, torch.nn.Conv2d) for m in d.modules()) + 1 == depth   # + the Linear output
    with pytest.raises(ConfigError, match=r"^arch='gp-random-x' is not allowed"):
        TrainConfig(dataset="mnist", image_size=28, arch="gp-random-x", out_dir="unused")
    with pytest.raises(ConfigError, match=r"^image_size=64 is not allowed"):
        TrainConfig(dataset="cifar10", image_size=64, arch="gp-random-1", gp_weight=10.0, d_norm="layer",
                    out_dir="unused")
