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


def test_cli_train_writes_a_run(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "wgan_repro.cli", "train", "-c",
                           "configs/toy_8gaussians_wgan_gp.yaml", "iterations=3", "dim=16",
                           f"out_dir={out}", "progress=false"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert (out / "checkpoints" / "last.pt").is_file() and (out / "samples" / "iter_000003.png").is_file()


def test_readme_quotes_the_committed_scorecard(tmp_path):
    """README's table of claims is the committed scorecard (`make readme` copies it)."""
    from wgan_repro.pipeline import REPO, sync_readme_scorecard

    readme = tmp_path / "README.md"
    readme.write_text((REPO / "README.md").read_text())
    assert not sync_readme_scorecard(readme), \
        "README's claims differ from results/99_scorecard/scorecard.md: make readme"
