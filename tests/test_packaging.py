import pytest
import re
import subprocess
import sys

import yaml

from tests.conftest import REPO

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {_name(r): r.replace(" ", "") for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {_name(r): r.replace(" ", "") for r in pip_section if not r.startswith("-e")}
    assert listed == wanted


def test_cli_reports_bad_config_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "wgan_repro.cli", "train", "n_critic=0",
                           f"out_dir={tmp_path / 'x'}"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["wgan-repro: error: n_critic=0 is not allowed: must be >= 1"]
    assert not (tmp_path / "x").exists()  # nothing started


@pytest.mark.system
def test_cli_train_writes_a_run(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "wgan_repro.cli", "train", "-c",
                           "configs/toy_8gaussians_wgan_gp.yaml", "iterations=3", "dim=16",
                           f"out_dir={out}", "progress=false"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert (out / "checkpoints" / "last.pt").is_file() and (out / "samples" / "iter_000003.png").is_file()


def test_readme_and_docs_quote_the_committed_scorecard_and_coverage(tmp_path):
    """README's results at a glance and docs/scorecard.md's tables are the committed ones (`make readme`)."""
    from wgan_repro.pipeline import GENERATED, sync_readme

    for path, blocks in GENERATED.items():
        copy = tmp_path / path.name
        copy.write_text(path.read_text())
        assert not sync_readme(copy, blocks), f"{path.name} differs from results/99_scorecard/: make readme"


def test_every_relative_link_in_readme_and_docs_resolves():
    import re

    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"[a-z]+:", target):
                assert (page.parent / target).exists(), (page.name, target)


def test_the_front_page_is_short():
    text = (REPO / "README.md").read_text()
    assert len(text.splitlines()) <= 200 and len(text.encode()) <= 15_000, (len(text.splitlines()), len(text.encode()))


def _documented_overrides() -> set[str]:
    """Every `dvc exp run -S key=value` written in README, DESIGN-like docs and params.yaml's comments."""
    text = "".join(p.read_text() for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
                                            REPO / "params.yaml"])
    return set(re.findall(r"dvc exp run (?:--\S+ )*-S ([^\s`]+=[^\s`]+)", text))


def test_every_documented_dvc_override_works_as_written(tmp_path):
    """DVC parses -S with Hydra's grammar: the key must exist in params.yaml. Apply each form as
    DVC does, then the notebook sees the value; the file changes only where the value is."""
    import difflib
    import shutil

    from dvc.utils.hydra import apply_overrides

    from wgan_repro.pipeline import NOTEBOOKS, notebook_parameters

    forms = _documented_overrides()
    assert {"clipping_vs_gp.seeds=[23,24,25,26,27]", "profile=paper"} <= forms, forms
    sections = {v: k for k, v in NOTEBOOKS.items()}
    for form in sorted(forms):
        params = tmp_path / "params.yaml"
        shutil.copy(REPO / "params.yaml", params)
        apply_overrides(str(params), [form])
        key, value = form.split("=", 1)
        changed = [ln for ln in difflib.unified_diff((REPO / "params.yaml").read_text().splitlines(),
                                                     params.read_text().splitlines(), n=0)
                   if ln[:1] in "+-" and ln[:3] not in ("+++", "---")]
        assert 0 < len(changed) <= 8, (form, changed)  # DVC rewrites only the key it sets
        if key == "profile":
            assert yaml.safe_load(params.read_text())["profile"] == value
            continue
        section, name = key.split(".", 1)
        resolved = notebook_parameters(sections[section], params_file=params)
        assert resolved[name] == yaml.safe_load(value), form


def test_importing_the_package_leaves_dvc_status_clean(tmp_path):
    """Bytecode and editor litter are .dvcignore'd: importing the package must not change any
    stage's dependency hash (every notebook stage depends on wgan_repro/)."""
    from dvc.ignore import DvcIgnoreFilter
    from dvc.fs import LocalFileSystem

    ignore = DvcIgnoreFilter(LocalFileSystem(), str(REPO))
    for litter in ("wgan_repro/__pycache__/config.cpython-311.pyc", "notebooks/.ipynb_checkpoints/x.ipynb",
                   "wgan_repro/config.py~", "wgan_repro/.config.py.swp"):
        assert ignore.is_ignored_file(str(REPO / litter)), litter
    assert not ignore.is_ignored_file(str(REPO / "wgan_repro" / "config.py"))


def test_jupyter_lab_is_installed_with_the_project():
    import shutil
    from pathlib import Path

    bindir = Path(sys.executable).parent
    assert shutil.which("jupyter-lab", path=str(bindir)) or shutil.which("jupyter-lab"), "README: jupyter lab results/"
    import ipywidgets  # noqa: F401  (tqdm's notebook bars)


def test_a_plain_papermill_run_never_writes_into_results(tmp_path):
    """A notebook executed by papermill itself (not run-notebook) writes beside its working folder."""
    from wgan_repro.experiments import setup

    import os
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        out_dir, runs_dir, _ = setup(None, None, "06_vanishing_gradients")
    finally:
        os.chdir(cwd)
    assert (tmp_path / out_dir).is_dir() and "results" not in out_dir.parts and str(out_dir).startswith("outputs")


def test_dvc_plots_draw_one_line_per_variant():
    """curves.csv is long format (variant x seed x iteration): every plot uses the `variants` template,
    which colours by variant and draws the mean over seeds with a ±1 sd band."""
    import csv
    import json as _json

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    template = _json.loads((REPO / ".dvc" / "plots" / "variants.json").read_text())
    assert template["encoding"]["color"]["field"] == "variant"
    # `dvc plots diff`: each revision (DVC's `rev` field) its own dash, never an "undefined" legend
    assert template["encoding"]["strokeDash"]["field"] == "revision"
    assert "datum.rev" in template["transform"][0]["calculate"]
    plots = [(path, spec) for st in stages.values() for p in st.get("plots", []) for path, spec in p.items()]
    assert plots
    for path, spec in plots:
        assert spec["template"] == "variants", path
        header = next(csv.reader(open(REPO / path)))
        assert spec["x"] in header and spec["y"] in header, path
    assert any(spec["y"] == "kid" for _, spec in plots)  # a verdict's quantity is plotted, not only W


def test_expensive_stages_keep_their_committed_render_and_are_documented():
    """02 and 09 keep their committed render under `dvc repro -f` (--unless-committed) but are not frozen:
    other parameters (-S profile=paper) re-render them, and no `dvc unfreeze` rewrites dvc.yaml (issue 31)."""
    from wgan_repro.pipeline import notebook_parameters, rendered_parameters

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert not [name for name, stage in stages.items() if stage.get("frozen")]
    expensive = {name for name, stage in stages.items() if "--unless-committed" in stage["cmd"]}
    assert expensive == {"generator_architectures", "random_architectures"}
    readme = (REPO / "docs" / "pipeline.md").read_text()
    for name in expensive:
        notebook = stages[name]["cmd"].split()[2]
        assert f"wgan-repro run-notebook {notebook}" in readme, name
        for kind in ("outs", "metrics"):
            for entry in stages[name].get(kind, []):
                (path, _), = entry.items()
                assert (REPO / path).exists(), (name, path)
        # the committed render is the quick profile's: dvc repro keeps it
        rendered = rendered_parameters(REPO / "results" / notebook / f"{notebook}.ipynb")
        assert rendered == notebook_parameters(notebook, "quick"), notebook


def test_the_readmes_library_example_runs(tmp_path, monkeypatch):
    """README's `## The library` block, run as written but tiny (2 iterations, 40 reference images) on tiny data."""
    import re

    from tests.conftest import make_tiny_datasets
    from wgan_repro import data

    code = re.search(r"## The library\n\n```python\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    tiny = (code.replace("iterations=200", "iterations=2, dim=4, batch_size=16")
            .replace('out_dir="runs/mine"', f'out_dir="{tmp_path / "mine"}"').replace("500, 100", "40, 20"))
    assert tiny != code and "print(score(" in tiny
    monkeypatch.setenv("WGAN_REPRO_DATA", str(make_tiny_datasets(tmp_path / "data")))
    monkeypatch.setenv("WGAN_REPRO_CACHE", str(tmp_path / "cache"))
    data._LOADED.clear()
    printed = []
    exec(compile(tiny, "README.md", "exec"), {"print": printed.append})
    data._LOADED.clear()
    assert printed and {"fid", "kid_mean"} <= set(printed[0])
    assert (tmp_path / "mine" / "checkpoints" / "last.pt").is_file()


def test_the_data_stage_depends_only_on_what_prepare_data_reads():
    """Issue 31: a change of seeds or iterations does not prepare the data again; a change of a dataset, size or
    reference count of any notebook prepare-data serves (any profile, or params.yaml's override) does."""
    from wgan_repro.pipeline import NOTEBOOKS

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    deps = set(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["data"]["params"])
    read = ("dataset", "image_size", "n_reference", "n_classified")  # what pipeline.prepare_data reads
    expected = {"profile"}
    for section in NOTEBOOKS.values():
        where = {f"profiles.{p}.{section}": params["profiles"][p].get(section) or {} for p in ("quick", "paper")}
        where[section] = params.get(section) or {}
        if any("dataset" in d and "image_size" in d for d in where.values()):
            expected |= {f"{w}.{k}" for w, d in where.items() for k in read if k in d}
    assert deps == expected
    assert not any(d.endswith(".seeds") or d.endswith(".iterations") for d in deps)
    assert "profiles.quick.penalty_ablations.n_reference" in deps  # 08 and 09 are prepared too
