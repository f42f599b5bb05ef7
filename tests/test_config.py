import re
import pytest
import yaml

from tests.conftest import REPO
from wgan_repro.config import ConfigError, TrainConfig
from wgan_repro.presets import config_from_dict, load_config

IMG = dict(dataset="cifar10", arch="dcgan")

BAD = [
    (dict(lr_g=0), "lr_g"),
    (dict(lr_d=-1e-4), "lr_d"),
    (dict(n_critic=0), "n_critic"),
    (dict(clip_value=0), "clip_value"),
    (dict(clip_value=-0.01), "clip_value"),
    (dict(dataset="imagenet"), "dataset"),
    (dict(arch="resnet"), "arch"),
    (dict(loss="hinge"), "loss"),
    (dict(optimizer="sgd"), "optimizer"),
    (dict(IMG, image_size=28), "image_size"),
    (dict(IMG, image_size=128), "image_size"),
    (dict(dataset="mnist", arch="mlp", image_size=48), "image_size"),
    (dict(clip_value=0.01, gp_weight=10.0, d_norm="none"), "clip_value"),
    (dict(IMG, gp_weight=10.0, d_norm="batch"), "d_norm"),
    (dict(n_critic="five"), "n_critic"),
    (dict(lr_g="fast"), "lr_g"),
    (dict(g_batchnorm="yes"), "g_batchnorm"),
    (dict(batch_size=0), "batch_size"),
    (dict(beta1=1.0), "beta1"),
    (dict(dataset="cifar10", arch="toy"), "arch"),
    (dict(dataset="8gaussians", arch="dcgan"), "arch"),
    (dict(dataset="folder", arch="dcgan"), "data_dir"),
    (dict(critic_schedule="sometimes"), "critic_schedule"),
    (dict(learning_rate=1e-4), "learning_rate"),
    # issue 9.6: each of these used to be accepted or to end in a traceback
    (dict(seed=-1), "seed"),
    (dict(seed=2**70), "seed"),
    (dict(lr_g=1e39), "lr_g"),
    (dict(gp_weight=1e39, d_norm="none"), "gp_weight"),
    (dict(device="tpu"), "device"),
    (dict(loss="wgan", gp_weight=0.0, clip_value=None), "gp_weight"),  # an unconstrained critic
    (dict(dataset="mnist", arch="gp-dcgan", g_arch="resnet", image_size=28), "g_arch"),
    (dict(dataset="mnist", arch="dcgan", g_arch="gp-constant", image_size=28), "image_size"),
]


@pytest.mark.parametrize("values,field", BAD, ids=[f for _, f in BAD])
def test_bad_config_gives_one_line_naming_field(values, field):
    with pytest.raises(ConfigError) as err:
        config_from_dict(values)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{field}=")
    assert "not allowed" in msg


def test_allowed_messages_list_choices():
    with pytest.raises(ConfigError, match="one of rmsprop, adam"):
        config_from_dict({"optimizer": "sgd"})
    with pytest.raises(ConfigError, match="supports 32, 64"):
        config_from_dict(dict(IMG, image_size=28))


def test_explicit_opt_ins_are_accepted():
    cfg = config_from_dict(dict(clip_value=0.01, gp_weight=10.0, allow_clip_with_gp=True, d_norm="none"))
    assert cfg.clip_value == 0.01 and cfg.gp_weight == 10.0
    cfg = config_from_dict(dict(IMG, gp_weight=10.0, d_norm="batch", allow_batchnorm_with_gp=True))
    assert cfg.d_norm == "batch"


def test_yaml_1e_4_string_becomes_float(tmp_path):
    # YAML 1.1 reads 1e-4 (no dot) as the string '1e-4'
    assert yaml.safe_load("lr_g: 1e-4")["lr_g"] == "1e-4"
    p = tmp_path / "c.yaml"
    p.write_text("lr_g: 1e-4\nlr_d: 2e-4\ngp_weight: 10\nd_norm: none\n")
    cfg = load_config(p)
    assert cfg.lr_g == pytest.approx(1e-4) and isinstance(cfg.lr_g, float)
    assert cfg.lr_d == pytest.approx(2e-4)


def test_overrides_parse_yaml_values():
    cfg = config_from_dict({}, ["n_critic=3", "clip_value=0.05", "g_batchnorm=false", "z_dim=null"])
    assert (cfg.n_critic, cfg.clip_value, cfg.g_batchnorm, cfg.z_dim) == (3, 0.05, False, None)
    with pytest.raises(ConfigError, match="key=value"):
        config_from_dict({}, ["n_critic"])


def test_missing_config_file():
    with pytest.raises(ConfigError, match="no such file"):
        load_config("configs/nope.yaml")


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_presets_are_valid(path):
    cfg = load_config(path)
    assert isinstance(cfg, TrainConfig)


def test_paper_presets_hold_paper_values():
    wgan = load_config(REPO / "configs" / "cifar10_dcgan_wgan.yaml")
    assert (wgan.optimizer, wgan.lr_d, wgan.clip_value, wgan.n_critic, wgan.batch_size) == (
        "rmsprop", 5e-5, 0.01, 5, 64)
    gp = load_config(REPO / "configs" / "cifar10_wgan_gp.yaml")  # gan_cifar.py MODE='wgan-gp'
    assert (gp.optimizer, gp.lr_d, gp.gp_weight, gp.n_critic, gp.beta2, gp.d_norm, gp.arch, gp.noise_dim) == (
        "adam", 1e-4, 10.0, 5, 0.9, "none", "gp-dcgan", 128)


def test_every_preset_cites_the_official_file_it_follows():
    for path in sorted((REPO / "configs").glob("*.yaml")):
        head = path.read_text().split("\n")[:6]
        assert any(re.search(r"gan_(toy|mnist|cifar|64x64)\.py|WassersteinGAN", line) for line in head), path.name


@pytest.mark.parametrize("text,expect", [
    ("", r"^config=.* is not allowed: it is empty"),
    ("lr_g: [1\n", r"^config=.* is not allowed: not valid YAML at line"),
    ("- a\n- b\n", r"^config=.* is not allowed: must hold a mapping"),
])
def test_bad_yaml_files_give_one_line(tmp_path, text, expect):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=expect) as err:
        load_config(p)
    assert "\n" not in str(err.value)


def test_malformed_override_gives_one_line():
    with pytest.raises(ConfigError, match=r"^seeds='\[1' is not allowed: not valid YAML") as err:
        load_config(None, ["seeds=[1"])
    assert "\n" not in str(err.value)
