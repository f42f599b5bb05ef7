"""Nothing on disk is trusted: weights-only loading, verified caches, no stale scores, bounded
work checked up front, one line instead of a traceback (issue 17)."""
import json
import os
from pathlib import Path

import pytest
import torch

from tests.conftest import tiny_toy_config
from wgan_repro import files, grid, rundir
from wgan_repro.cli import main
from wgan_repro.config import ConfigError, TrainConfig
from wgan_repro.train import train


class _Evil:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def _evil_file(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"iteration": 1, "config": {}, "generator": _Evil(marker), "critic": {}}, path)
    return path


def _cfg(tmp_path, **kw):
    return tiny_toy_config(tmp_path, iterations=4, checkpoint_every=2, dvclive=False, **kw)


# ---------------------------------------------------------------------- code execution from a file
def test_a_malicious_checkpoint_runs_no_code_through_any_entry_point(tmp_path, capsys):
    marker = tmp_path / "marker"
    cfg = _cfg(tmp_path, resume=True)
    evil = _evil_file(Path(cfg.out_dir) / "checkpoints" / "last.pt", marker)
    assert not rundir.finished(cfg)                                   # every grid asks this of every run
    with pytest.raises(ConfigError, match="not a wgan-repro checkpoint"):
        rundir.load_run(cfg)
    with pytest.raises(ConfigError, match="not a wgan-repro checkpoint"):
        train(cfg)                                                    # resume=true
    assert main(["evaluate", str(evil), "--n-samples", "4", "--n-reference", "4"]) == 2
    assert "not a wgan-repro checkpoint" in capsys.readouterr().err
    assert not marker.exists()


def test_malicious_cache_entries_are_rebuilt_never_unpickled(tmp_path, monkeypatch):
    monkeypatch.setenv("WGAN_REPRO_CACHE", str(tmp_path / "cache"))
    marker = tmp_path / "marker"
    entry = tmp_path / "cache" / "x.pt"
    _evil_file(entry, marker)
    files.seal(entry)  # even with a hash that matches, the file is loaded weights-only
    assert files.cached_tensor(entry, lambda: torch.arange(3), "test") .tolist() == [0, 1, 2]
    assert not marker.exists() and files.load_verified(entry, "test").tolist() == [0, 1, 2]


def test_the_inception_weights_are_loaded_weights_only(tmp_path, monkeypatch):
    from wgan_repro import inception

    monkeypatch.setenv("WGAN_REPRO_CACHE", str(tmp_path / "cache"))
    marker = tmp_path / "marker"
    evil = _evil_file(tmp_path / "weights.pth", marker)
    with pytest.raises(Exception) as err:
        inception.make_extractor.__wrapped__(evil)
    assert "weights_only" in str(err.value) or "Unpickl" in type(err.value).__name__
    assert not marker.exists()


# ---------------------------------------------------------------------- verified caches
@pytest.mark.parametrize("damage", ["flip", "truncate", "no-hash"])
def test_a_damaged_cache_entry_is_rebuilt_once_with_one_line(tmp_path, capsys, damage):
    entry = tmp_path / "features.pt"
    files.save_verified(torch.arange(1000.0), entry)
    raw = bytearray(entry.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0xFF
        entry.write_bytes(bytes(raw))
    elif damage == "truncate":
        entry.write_bytes(bytes(raw[:100]))
    else:
        (tmp_path / "features.pt.sha256").unlink()
    built = []
    out = files.cached_tensor(entry, lambda: built.append(1) or torch.arange(1000.0), "reference features")
    assert built == [1] and torch.equal(out, torch.arange(1000.0))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "reference features cache" in err[0] and "rebuilding" in err[0]
    assert files.cached_tensor(entry, lambda: pytest.fail("rebuilt twice"), "reference features").shape == (1000,)


def test_a_damaged_data_tensor_is_rebuilt_to_the_same_images(tmp_path, monkeypatch):
    from wgan_repro import data

    monkeypatch.setenv("WGAN_REPRO_CACHE", str(tmp_path / "cache"))
    data._LOADED.clear()
    first = data.load_image_tensor("mnist", 28).clone()
    (cached,) = (tmp_path / "cache" / "tensors").glob("mnist-*.pt")
    raw = bytearray(cached.read_bytes())
    raw[-5000] ^= 0x01
    cached.write_bytes(bytes(raw))
    data._LOADED.clear()
    assert torch.equal(data.load_image_tensor("mnist", 28), first)
    data._LOADED.clear()


def test_a_torn_extraction_is_redone(tmp_path, monkeypatch):
    from wgan_repro import data

    monkeypatch.setenv("WGAN_REPRO_CACHE", str(tmp_path / "cache"))
    data._LOADED.clear()
    first = data.load_image_tensor("mnist", 28).clone()
    (extracted,) = (tmp_path / "cache" / "torchvision").glob("*/MNIST/raw/train-images-idx3-ubyte")
    extracted.write_bytes(extracted.read_bytes()[:1000])  # a kill during extraction
    for t in (tmp_path / "cache" / "tensors").glob("*"):
        t.unlink()
    data._LOADED.clear()
    assert torch.equal(data.load_image_tensor("mnist", 28), first)
    data._LOADED.clear()


def test_a_damaged_mnist_archive_is_one_line_without_a_download(tmp_path, monkeypatch):
    import gzip

    from wgan_repro import data

    root = tmp_path / "root" / "MNIST" / "raw"
    root.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        (root / name).write_bytes(gzip.compress(b"not mnist"))
    monkeypatch.setenv("WGAN_REPRO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("tried the internet"))
    with pytest.raises(data.DataNotFoundError, match="damaged: its MD5"):
        data.load_image_tensor("mnist", 28, data_root=tmp_path / "root")


def test_a_cifar_folder_with_a_missing_and_an_extra_image_is_refused(tmp_path):
    import shutil

    from tests.conftest import make_tiny_datasets
    from wgan_repro import data

    root = make_tiny_datasets(tmp_path / "d", n_mnist=2, n_cifar_per_class=3)
    train_dir = root / "cifar10" / "train"
    (train_dir / "bird" / "00007.png").unlink()
    shutil.copy(train_dir / "cat" / "00009.png", train_dir / "cat" / "00030.png")
    with pytest.raises(data.DataNotFoundError, match="expected 00007.png"):
        data._load_cifar10_folder(train_dir)
    (train_dir / "cat" / "00030.png").unlink()
    (train_dir / "bird" / "00007.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(data.DataNotFoundError, match="00007.png cannot be read"):
        data._load_cifar10_folder(train_dir)


# ---------------------------------------------------------------------- stale scores
IMG = dict(dataset="mnist", image_size=28, arch="gp-dcgan", dim=4, loss="wgan", gp_weight=10.0, d_norm="none",
           g_batchnorm=False, optimizer="adam", lr_g=1e-4, lr_d=1e-4, batch_size=8, n_critic=1,
           sample_every=0, checkpoint_every=0, log_every=1, dvclive=False, progress=False)


@pytest.mark.system
def test_a_resumed_run_is_scored_again_not_read_from_the_old_cache(tmp_path, monkeypatch):
    from wgan_repro.fidelity import ScoringSpec

    monkeypatch.setenv("WGAN_REPRO_OFFLINE", "1")
    spec = ScoringSpec("mnist-train", 28, 6, 6, isc=False)
    short = TrainConfig(**IMG, iterations=2, out_dir=str(tmp_path / "run"))
    train(short)
    (at2,) = grid.score_run(short, spec)
    longer = TrainConfig(**{**IMG, "iterations": 6, "resume": True, "out_dir": str(tmp_path / "run")})
    train(longer)
    (at6,) = grid.score_run(longer, spec)
    assert at6["iteration"] == 6 and at6["fid"] != at2["fid"]
    # and the same run read twice is one score
    assert grid.score_run(longer, spec) == [at6]


def test_a_damaged_score_file_is_recomputed(tmp_path, monkeypatch):
    from wgan_repro.fidelity import ScoringSpec

    monkeypatch.setenv("WGAN_REPRO_OFFLINE", "1")
    spec = ScoringSpec("mnist-train", 28, 6, 6, isc=False)
    cfg = TrainConfig(**IMG, iterations=2, out_dir=str(tmp_path / "run"))
    train(cfg)
    (first,) = grid.score_run(cfg, spec)
    (cached,) = (tmp_path / "run" / "scores").glob("*.json")
    cached.write_text(cached.read_text().replace('"fid": ', '"fid": 1'))
    assert grid.score_run(cfg, spec) == [first]


# ---------------------------------------------------------------------- seeds, bounds, one line
@pytest.mark.parametrize("seeds", [[0, 0], [], [0, True]])
def test_seeds_must_be_distinct_and_present(tmp_path, seeds):
    with pytest.raises(ConfigError, match="seeds="):
        grid.grid_configs({**IMG, "iterations": 2}, {"a": {}}, seeds, tmp_path)


def test_notebook_seeds_and_unknown_keys_fail_before_a_kernel_starts():
    from wgan_repro.pipeline import notebook_parameters

    for seeds in ([0, 0], []):
        with pytest.raises(ConfigError, match="clipping_vs_gp.seeds"):
            notebook_parameters("03_clipping_vs_gp", "quick", {"seeds": seeds})
    with pytest.raises(ConfigError, match="divergences.dataset"):
        notebook_parameters("00_divergences", "quick", {"dataset": "mnist"})


def test_a_torn_history_line_is_dropped_and_the_run_resumes(tmp_path):
    cfg = _cfg(tmp_path)
    full = train(cfg)
    hist = Path(cfg.out_dir) / "history.jsonl"
    rows = hist.read_text().splitlines()
    hist.write_text("\n".join(rows[:-1]) + "\n" + rows[-1][: len(rows[-1]) // 2])  # a full disk's torn write
    assert [r["iteration"] for r in rundir.read_history(cfg.out_dir)] == [r["iteration"] for r in full.history[:-1]]
    again = train(TrainConfig(**{**cfg.to_dict(), "iterations": 6, "resume": True}))
    # the torn row (iteration 3) is lost; the run continues from its checkpoint at 4
    assert [r["iteration"] for r in again.history] == [0, 1, 2, 4, 5]
    hist.write_text("{broken\n" + hist.read_text())
    with pytest.raises(ConfigError, match="line 1 is not JSON"):
        rundir.read_history(cfg.out_dir)


@pytest.mark.parametrize("args, field", [
    (["--n-samples", "0"], "n_samples=0"), (["--n-samples", "1"], "n_samples=1"),
    (["--n-reference", "-5"], "n_reference=-5"), (["--n-samples", "10000000000"], "GiB"),
    (["--out", "/nonexistent-folder/x.json"], "does not exist"),
])
def test_evaluate_refuses_bad_counts_and_outputs_before_any_work(tmp_path, capsys, args, field):
    assert main(["evaluate", str(tmp_path / "missing.pt"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and field in err[0]


def test_one_line_for_a_binary_config_and_a_batch_larger_than_the_data(tmp_path, capsys):
    binary = tmp_path / "c.yaml"
    binary.write_bytes(bytes(range(256)))
    assert main(["train", "--config", str(binary)]) == 2
    assert "not a UTF-8 text file" in capsys.readouterr().err
    out = tmp_path / "r"
    assert main(["train", "--config", "configs/mnist_wgan_gp.yaml", "batch_size=100000", f"out_dir={out}",
                 "progress=false", "dim=4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "batch_size=100000" in err[0]


def test_a_full_disk_is_one_line_exit_1(tmp_path, capsys, monkeypatch):
    import errno

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "r" / "checkpoints"))

    monkeypatch.setattr(files.os, "fsync", full)
    assert main(["train", "--config", "configs/toy_8gaussians_wgan_gp.yaml", "iterations=2", "dim=8",
                 f"out_dir={tmp_path / 'r'}", "progress=false", "dvclive=false"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left" in err[0] and "free some space" in err[0]


@pytest.mark.system
def test_sigterm_checkpoints_and_resume_continues_the_same_curve(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    cfg = tiny_toy_config(tmp_path / "full", iterations=3000, checkpoint_every=0, dvclive=False, log_every=50)
    script = (f"import sys; sys.path.insert(0, {str(REPO)!r}); from tests.conftest import tiny_toy_config; "
              f"from pathlib import Path; from wgan_repro.train import train; "
              f"train(tiny_toy_config(Path({str(tmp_path / 'stopped')!r}), iterations=3000, checkpoint_every=0, "
              f"dvclive=False, log_every=50))")
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    hist = tmp_path / "stopped" / "run" / "history.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (hist.is_file() and len(hist.read_text().splitlines()) >= 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM and "checkpoint saved" in err
    stopped = rundir.read_checkpoint(tmp_path / "stopped" / "run" / "checkpoints" / "last.pt")["iteration"]
    assert 0 < stopped < 3000
    resumed = train(TrainConfig(**{**cfg.to_dict(), "out_dir": str(tmp_path / "stopped" / "run"), "resume": True}))
    full = train(cfg)
    assert [r["wasserstein_estimate"] for r in resumed.history] == [r["wasserstein_estimate"] for r in full.history]
    assert os.path.exists(tmp_path / "stopped" / "run" / "checkpoints" / "last.pt")
    json.dumps(stopped)


def test_a_step_that_cannot_fit_in_memory_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["train", "--config", "configs/toy_8gaussians_wgan_gp.yaml", "batch_size=100000000",
                 f"out_dir={out}", "progress=false"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "batch_size=100000000" in err[0] and "GiB" in err[0]
    assert not out.exists()


def test_a_second_render_into_the_same_folder_gets_one_line_at_once(tmp_path):
    from filelock import FileLock

    from wgan_repro.pipeline import RenderBusy, run_notebook

    results = tmp_path / "results"
    results.mkdir()
    with FileLock(str(results / ".00_divergences.lock")):  # a first render holds it
        with pytest.raises(RenderBusy, match="another process is rendering 00_divergences"):
            run_notebook("00_divergences", profile="tiny", results_root=results, runs_root=tmp_path / "runs")


def test_only_staging_folders_of_dead_renders_are_removed(tmp_path):
    import subprocess
    import sys

    from wgan_repro.pipeline import _remove_dead_staging

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    live = tmp_path / f".render-03_clipping_vs_gp-{os.getpid()}-abc"
    gone = tmp_path / f".render-03_clipping_vs_gp-{dead.stdout.strip()}-def"
    other = tmp_path / f".render-04_rmsprop_vs_adam-{dead.stdout.strip()}-ghi"
    for d in (live, gone, other):
        d.mkdir()
    _remove_dead_staging(tmp_path, "03_clipping_vs_gp")
    assert live.is_dir() and not gone.exists() and other.is_dir()


def test_damaged_inception_weights_are_rebuilt_to_the_same_network(tmp_path, monkeypatch, capsys):
    from wgan_repro import inception

    monkeypatch.setenv("WGAN_REPRO_CACHE", str(tmp_path / "cache"))
    path, digest = inception.offline_weights()
    good = files.load_weights_only(path)["Conv2d_1a_3x3.conv.weight"].clone()
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 4096] = bytes(4096)  # 4 kB changed
    path.write_bytes(bytes(raw))
    again, digest2 = inception.offline_weights()
    assert again == path and digest2 == digest and "Inception weights cache" in capsys.readouterr().err
    assert torch.equal(files.load_weights_only(path)["Conv2d_1a_3x3.conv.weight"], good)


@pytest.mark.system
def test_damaged_reference_features_are_recomputed_and_a_non_finite_score_is_an_error(tmp_path, monkeypatch):
    from wgan_repro import fidelity

    monkeypatch.setenv("WGAN_REPRO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WGAN_REPRO_OFFLINE", "1")
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    first = fidelity.score(images, reference="cifar10-train", n_reference=6, kid_subset_size=3, isc=False)
    (cached,) = (tmp_path / "cache" / "fidelity").glob("ref-*.pt")
    raw = bytearray(cached.read_bytes())
    raw[-400:] = bytes(400)  # 400 changed bytes
    cached.write_bytes(bytes(raw))
    assert fidelity.score(images, reference="cifar10-train", n_reference=6, kid_subset_size=3, isc=False) == first
    # features that are not finite, even in a file whose hash matches, give an error, never a number
    feats = files.load_weights_only(cached)
    feats[0, 0] = float("nan")
    files.save_verified(feats, cached)
    with pytest.raises(fidelity.ScoreNotFinite, match="reference features are not finite"):
        fidelity.score(images, reference="cifar10-train", n_reference=6, kid_subset_size=3, isc=False)


# ---------------------------------------------------------------- a run's folder is this run's, by its own record
def test_a_folder_holding_another_configs_checkpoint_is_not_this_run(tmp_path):
    import shutil

    a = tiny_toy_config(tmp_path, iterations=4, checkpoint_every=0, dvclive=False, out_dir=str(tmp_path / "a"))
    train(a)
    b = tiny_toy_config(tmp_path, iterations=4, checkpoint_every=0, dvclive=False, lr_d=3e-4,
                        out_dir=str(tmp_path / "b"))
    shutil.copytree(a.out_dir, b.out_dir)  # b's folder now holds a's run: finished at b's iteration count
    assert rundir.finished(a) and not rundir.finished(b)
    with pytest.raises(ConfigError, match=r"lr_d=0.0003 \(checkpoint: 0.0001\)\): not this run"):
        rundir.load_run(b)


def test_reused_runs_trained_by_other_training_code_are_named(tmp_path, monkeypatch):
    cfg = tiny_toy_config(tmp_path, iterations=3, checkpoint_every=0, dvclive=False)
    train(cfg)
    run = rundir.load_run(cfg)
    assert run.code == rundir.code_hash() and grid.stale_code_note([run]) is None  # the checkpoint records it
    monkeypatch.setattr(grid, "code_hash", lambda: "0123456789abcdef")  # this checkout's training code changed
    note = grid.stale_code_note([run, run], "01")
    assert note.startswith("01: 2 of 2 runs were trained by other training code") and "another runs folder" in note


# ---------------------------------------------------------------- memory: the models' size counted, the cgroup's limit
def test_a_toy_run_too_big_for_memory_is_refused_before_anything_is_written(tmp_path):
    cfg = tiny_toy_config(tmp_path, dim=100000)
    with pytest.raises(ConfigError, match=r"dim=100000 with batch_size=32 is not allowed here: its models"):
        train(cfg)
    assert not Path(cfg.out_dir).exists() or not any(Path(cfg.out_dir).iterdir())
    with pytest.raises(ConfigError, match="dim=100000"):  # the grid checks every run before any trains
        grid.run_grid({}, {"big": {k: v for k, v in cfg.to_dict().items() if k != "out_dir"}}, [0],
                      tmp_path / "grid", executor="inprocess", progress=False)
    assert not (tmp_path / "grid").exists() or not list((tmp_path / "grid").rglob("*.pt"))


@pytest.mark.parametrize("files, room", [({"memory.max": "1000", "memory.current": "400"}, 600),
                                         ({"memory.max": "max", "memory.current": "400"}, None),
                                         ({"memory/memory.limit_in_bytes": "2000",
                                           "memory/memory.usage_in_bytes": "500"}, 1500),
                                         ({"memory/memory.limit_in_bytes": str(2**63 - 4096),
                                           "memory/memory.usage_in_bytes": "5"}, None),
                                         ({}, None)])
def test_the_cgroup_limit_bounds_the_memory_a_run_may_use(tmp_path, files, room):
    from wgan_repro.device import _cgroup_room

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    assert _cgroup_room(tmp_path) == room


def test_a_crafted_checkpoint_with_huge_models_is_refused_not_built(tmp_path):
    cfg = tiny_toy_config(tmp_path, dim=1_000_000)
    path = tmp_path / "crafted.pt"
    torch.save({"iteration": 1, "config": cfg.to_dict(), "generator": {}, "critic": {}}, path)  # a few hundred bytes
    with pytest.raises(ConfigError, match=r"crafted.pt.*is not allowed: its generator \(dim=1000000\) needs"):
        rundir.load_generator(path)


# ---------------------------------------------------------------- derived data keyed by what it was made from
def test_derived_data_follows_the_source_files_not_the_folder_path(tmp_path, monkeypatch):
    """Other digits under the same data root (or the same digits under another root) are never served the
    first extraction's or tensor's images; features of a named reference carry their data's identity."""
    import numpy as np

    from tests.conftest import _write_idx
    from wgan_repro import data

    monkeypatch.setenv("WGAN_REPRO_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "data" / "MNIST" / "raw"
    root.mkdir(parents=True)

    def write(value):
        _write_idx(root / "train-images-idx3-ubyte", np.full((20, 28, 28), value, np.uint8))
        _write_idx(root / "train-labels-idx1-ubyte", np.arange(20, dtype=np.uint8) % 10)
        _write_idx(root / "t10k-images-idx3-ubyte", np.full((10, 28, 28), value, np.uint8))
        _write_idx(root / "t10k-labels-idx1-ubyte", np.arange(10, dtype=np.uint8))
        os.utime(root / "train-images-idx3-ubyte", ns=(value * 10**9, value * 10**9))

    write(7)
    data._LOADED.clear()
    key7 = data.source_key("mnist", tmp_path / "data")
    assert int(data.load_image_tensor("mnist", 28, tmp_path / "data").max()) == 7
    write(9)  # the PNGs/archives under the same root change
    data._LOADED.clear()
    assert data.source_key("mnist", tmp_path / "data") != key7
    assert int(data.load_image_tensor("mnist", 28, tmp_path / "data").max()) == 9
    assert int(data.labelled_digits("mnist", data_root=tmp_path / "data")[0].max()) == 9
    assert data.source_key("mnist", tmp_path / "empty") == "none"
    data._LOADED.clear()


def test_a_reader_between_a_cache_entrys_rename_and_its_hash_never_discards_it(tmp_path, monkeypatch):
    """Its hash is written before the entry takes its name: a concurrent reader right after the rename finds a
    whole, verified entry (the writer used to seal after the rename: the reader discarded a live entry and the
    writer crashed reading it back)."""
    entry, seen = tmp_path / "t.pt", []
    real = os.replace

    def replace_then_read(src, dst):
        real(src, dst)
        if Path(dst) == entry:  # another process looks at the entry the moment it appears
            seen.append(files.verified(entry, "test tensor"))

    monkeypatch.setattr(files.os, "replace", replace_then_read)
    out = files.cached_tensor(entry, lambda: torch.arange(5), "test tensor")
    assert seen == [True] and torch.equal(out, torch.arange(5))
    assert torch.equal(files.load_verified(entry, "test tensor"), torch.arange(5))


def test_compact_png_keeps_every_pixel_and_drops_bytes(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    few = rng.integers(0, 4, (64, 64)) * 60  # a figure-like image: few colours, opaque alpha
    rgba = np.dstack([few, few, 255 - few, np.full_like(few, 255)]).astype(np.uint8)
    noisy = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)  # > 256 colours and a real alpha: kept as it is
    for name, pixels in (("few.png", rgba), ("noisy.png", noisy)):
        Image.fromarray(pixels, "RGBA").save(tmp_path / name)
        before = (tmp_path / name).stat().st_size
        files.compact_png(tmp_path / name)
        with Image.open(tmp_path / name) as im:
            assert np.array_equal(np.asarray(im.convert("RGBA")), pixels), name
        assert (tmp_path / name).stat().st_size <= before
    assert Image.open(tmp_path / "few.png").mode == "P"


def test_a_cached_score_is_keyed_by_the_reference_data_it_was_scored_against(tmp_path, monkeypatch):
    """Change a reference image (or point at another data root): the score cache key changes (issue 32)."""
    from tests.conftest import make_tiny_datasets
    from wgan_repro.fidelity import ScoringSpec, score_key

    root = make_tiny_datasets(tmp_path / "data", n_mnist=16, n_cifar_per_class=1)
    monkeypatch.setenv("WGAN_REPRO_DATA", str(root))
    monkeypatch.setenv("WGAN_REPRO_OFFLINE", "1")
    spec = ScoringSpec("cifar10-train", 32, 10, 10, False, False)
    before = score_key(spec, [{"iteration": 1, "sha256": "x"}])
    assert score_key(spec, [{"iteration": 1, "sha256": "x"}]) == before
    png = sorted((root / "cifar10" / "train").glob("*/*.png"))[0]
    png.write_bytes(png.read_bytes() + b"\0")  # another file content (size): other reference data
    assert score_key(spec, [{"iteration": 1, "sha256": "x"}]) != before
