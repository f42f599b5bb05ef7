"""Every notebook runs end to end through papermill on tiny parameters and writes its metrics."""
import json

import pytest

from wgan_repro.config import ConfigError
from wgan_repro.pipeline import NOTEBOOKS, notebook_parameters, run_notebook

EXPECTED_KEYS = {
    "00_divergences": {"emd_example", "gan_grad_on_fakes_rel", "critic_grad_on_fakes_rel", "claims"},
    "01_toy_mode_collapse": {"8gaussians", "claims", "seeds"},
    "02_generator_architectures": {"DCGAN / WGAN", "constant filters, no BN / GAN", "MLP / WGAN", "claims"},
    "03_clipping_vs_gp": {"WGAN (clip)", "WGAN-GP", "claims", "isc_unavailable"},
    "04_rmsprop_vs_adam": {"clip + RMSProp", "clip + Adam", "GP + Adam", "claims"},
    "05_meaningful_loss": {"rho_wgan", "rho_gan", "claims"},
    "06_vanishing_gradients": {"minimax_grad_ratio", "non_saturating_grad_ratio", "claims"},
    "07_overfitting": {"all digits", "train_small", "heldout", "claims"},
    "08_penalty_ablations": {"toy", "image", "margin", "claims"},
    "09_random_architectures": {"specs", "outcomes", "WGAN-GP", "GAN", "claims"},
    "99_scorecard": {"claims", "counts", "total"},
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every notebook rendered at the tiny profile: the paper items two at a time (each render its own process;
    the caches they share are written atomically under a lock), then the scorecard, which reads them."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    root = tmp_path_factory.mktemp("results")
    runs = tmp_path_factory.mktemp("runs")
    items = [name for name in NOTEBOOKS if name != "99_scorecard"]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done in [pool.submit(run_notebook, name, profile="tiny", results_root=root, runs_root=runs, html=False)
                     for name in items]:
            done.result()
    run_notebook("99_scorecard", profile="tiny", results_root=root, runs_root=runs, html=True)
    return root


@pytest.mark.system
@pytest.mark.parametrize("name", list(NOTEBOOKS))
def test_notebook_writes_its_metrics(results, name):
    details = json.loads((results / name / "details.json").read_text())
    assert EXPECTED_KEYS[name] <= set(details)
    assert (results / name / f"{name}.ipynb").is_file()
    for claim in details["claims"]:
        assert claim["verdict"] in {"reproduced", "not reproduced", "not resolved at this scale",
                                    "closed form, not an experiment",
                                    "present at initialisation, not training's effect"}
        # a claim this run did not reproduce says what scale would settle it
        assert claim["verdict"] in ("reproduced", "closed form, not an experiment",
                                    "present at initialisation, not training's effect") \
            or len(claim.get("next_scale") or "") > 20, claim
        # a comparative verdict carries its test: n per arm, p and the 95% CI of the difference
        if "stats" in claim and "thresholds" in claim["stats"]:  # Table 2's count: a test per threshold
            assert all({"p", "ci95", "only"} <= set(row) for row in claim["stats"]["thresholds"]), claim
        elif "stats" in claim:
            assert {"n", "p", "ci95", "test", "sd"} <= set(claim["stats"]), claim
    # what `dvc metrics show` prints: a few flat numbers, not every nested detail
    headline = json.loads((results / name / "metrics.json").read_text())
    assert headline and len(headline) <= 16
    assert all(isinstance(v, (int, float)) or v is None for v in headline.values())


@pytest.mark.system
@pytest.mark.parametrize("name", [n for n in NOTEBOOKS if n != "99_scorecard"])
def test_rendered_notebook_shows_its_figures_inline(results, name):
    """A reader opening results/ in any notebook viewer sees every saved figure inline: the .ipynb embeds each
    saved file's bytes (report.embed_figures); the HTML reads the file beside it."""
    import base64

    nb = json.loads((results / name / f"{name}.ipynb").read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    embedded = {o["metadata"]["wgan_repro"]["figure"]: o["data"]["image/png"] for o in outputs
                if "image/png" in o.get("data", {}) and "wgan_repro" in o.get("metadata", {})}
    saved = sorted(p.name for p in (results / name / "figures").glob("*.png"))
    assert saved and sorted(f.split("/")[-1] for f in embedded) == saved, (sorted(embedded), saved)
    for figure, data in embedded.items():
        assert base64.b64decode(data) == (results / name / figure).read_bytes()


@pytest.mark.system
def test_scorecard_gathers_every_claim(results):
    card = json.loads((results / "99_scorecard" / "details.json").read_text())
    expected = sum(len(json.loads((results / n / "details.json").read_text())["claims"])
                   for n in NOTEBOOKS if n != "99_scorecard")
    assert card["total"] == expected > 0
    assert (results / "99_scorecard" / "99_scorecard.html").is_file()


def test_unknown_parameter_is_rejected_before_running(tmp_path):
    with pytest.raises(ConfigError, match=r"^clipping_vs_gp.lr=.*known keys are"):
        notebook_parameters("03_clipping_vs_gp", "quick", {"lr": 1})
    with pytest.raises(ConfigError, match="^profile='huge'"):
        notebook_parameters("03_clipping_vs_gp", "huge")
    with pytest.raises(ConfigError, match="^notebook='07_x'"):
        notebook_parameters("07_x")


def test_params_file_section_overrides_profile(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("profile: quick\nclipping_vs_gp:\n  seeds: [0, 1, 2, 3, 4]\n")
    params = notebook_parameters("03_clipping_vs_gp", params_file=p)
    assert params["seeds"] == [0, 1, 2, 3, 4] and params["profile"] == "quick"
    assert notebook_parameters("03_clipping_vs_gp", "paper", params_file=p)["iterations"] == 100_000


def test_pipeline_files_cover_every_notebook():
    import yaml

    from wgan_repro.pipeline import REPO

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert params["profile"] == "quick"
    for name, section in NOTEBOOKS.items():
        assert section in params, section  # the user's override section exists (dvc exp run -S ...)
        for profile in ("quick", "paper"):
            assert section in params["profiles"][profile]
        if name != "99_scorecard":
            stage = stages[section]
            expensive = name in ("02_generator_architectures", "09_random_architectures")
            assert stage["cmd"] == f"wgan-repro run-notebook {name}" + (" --unless-committed" if expensive else "")
            assert f"profiles.quick.{section}" in stage["params"] and section in stage["params"]
    # notebook defaults equal the quick profile, so a plain papermill run matches the pipeline
    import nbformat

    for name, section in NOTEBOOKS.items():
        nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        defaults = {}
        exec(cell.source, {}, defaults)
        for key, value in params["profiles"]["quick"][section].items():
            assert defaults.get(key) == value, (name, key)


@pytest.mark.system
def test_a_render_prints_no_kernel_start_up_warnings(tmp_path, capfd):
    run_notebook("00_divergences", profile="tiny", results_root=tmp_path / "r", runs_root=tmp_path / "runs", html=False)
    assert not list((tmp_path / "r").glob(".*.lock"))  # released and removed: results folders hash the same after
    err = capfd.readouterr().err
    assert "IPKernelApp" not in err and "without encryption" not in err
