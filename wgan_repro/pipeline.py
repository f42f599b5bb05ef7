"""Profiles and `wgan-repro run-notebook NAME`: papermill with that notebook's parameters.

A notebook's parameters = its profile's values (params.yaml `profiles.<profile>.<section>`), then
the user's overrides from its section of params.yaml (`dvc exp run -S clipping_vs_gp.seeds=[0,1,2,3,4]`),
then command-line `-p key value`. Unknown keys fail before anything runs.

quick: the whole `dvc repro` on 2 CPU cores in about 50 minutes (docs/pipeline.md states the measured time), 3 seeds.
paper: the papers' settings (WGAN: RMSProp 5e-5, c=0.01, n_critic 5, batch 64; WGAN-GP: Adam 1e-4,
       beta=(0.5, 0.9), lambda=10, 100k generator iterations) -- a GPU job.
tiny:  seconds per notebook; only for tests/test_notebooks.py (TEST_PROFILE below).
"""
from __future__ import annotations

import copy
import difflib
import json
import os
import shutil
import tempfile
from pathlib import Path

import yaml

from .config import REPO, ConfigError, WganReproError, coerce

# notebook file stem -> its params.yaml section
NOTEBOOKS = {
    "00_divergences": "divergences",
    "01_toy_mode_collapse": "toy_mode_collapse",
    "02_generator_architectures": "generator_architectures",
    "03_clipping_vs_gp": "clipping_vs_gp",
    "04_rmsprop_vs_adam": "rmsprop_vs_adam",
    "05_meaningful_loss": "meaningful_loss",
    "06_vanishing_gradients": "vanishing_gradients",
    "07_overfitting": "overfitting",
    "08_penalty_ablations": "penalty_ablations",
    "09_random_architectures": "random_architectures",
    "99_scorecard": "scorecard",
}

# Seconds per notebook: only for tests/test_notebooks.py. The real profiles (quick, paper) are in
# params.yaml under `profiles:`, so DVC re-runs only the notebooks whose values change.
TEST_PROFILE: dict[str, dict] = {
    "divergences": {"steps": 30, "seeds": [0, 1], "fig2_gap": 8.0},
    "toy_mode_collapse": {"datasets": ["8gaussians"], "iterations": 4, "dim": 16, "batch_size": 64,
        "seeds": [0, 1], "n_eval": 200, "log_every": 1, "layer_depth": 4, "layer_steps": 3, "fig1a_steps": 3},
    "generator_architectures": {"dataset": "mnist", "image_size": 28, "iterations": 2, "dim": 8,
        "mlp_dim": 16, "seeds": [0, 1], "n_samples": 6, "n_reference": 6, "log_every": 1},
    "clipping_vs_gp": {"dataset": "cifar10", "image_size": 32, "dim": 8, "iterations": 3,
        "critic_schedule": "constant", "seeds": [0, 1], "n_samples": 8, "n_reference": 8, "log_every": 1},
    "rmsprop_vs_adam": {"dataset": "mnist", "image_size": 28, "dim": 8, "iterations": 4, "seeds": [0, 1],
        "n_samples": 6, "n_reference": 6, "log_every": 1},
    "meaningful_loss": {"dataset": "mnist", "image_size": 28, "dim": 8, "iterations": 4,
        "checkpoint_every": 2, "seeds": [0, 1], "n_samples": 6, "n_reference": 6},
    "vanishing_gradients": {"dataset": "mnist", "dim": 8, "pretrain_iterations": 2, "d_steps": [0, 2],
        "seeds": [0, 1]},
    "overfitting": {"dataset": "mnist", "image_size": 28, "dim": 4, "iterations": 4, "small": 100, "heldout": 50,
        "seeds": [0, 1], "log_every": 1},
    "penalty_ablations": {"toy_dataset": "8gaussians", "toy_dim": 16, "toy_iterations": 4, "dataset": "mnist",
        "image_size": 28, "dim": 4, "iterations": 4, "gp_weights": [1.0, 10.0], "seeds": [0, 1], "n_eval": 200,
        "n_samples": 6, "n_reference": 6, "margin": 0.1, "log_every": 1},
    "random_architectures": {"dataset": "mnist", "image_size": 28, "dim": 4, "architectures": 2, "iterations": 2,
        "seeds": [0], "thresholds": [500.0], "n_samples": 6, "n_reference": 6, "log_every": 1},
    "scorecard": {},
}


def read_params_file(path: Path = REPO / "params.yaml") -> dict:
    """params.yaml, its structure checked (one line naming the field otherwise): a mapping whose keys are
    `profile` (a string), `profiles` (profile name -> section -> values) and the notebooks' sections
    (each a mapping or empty)."""
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path.name} is not allowed: not YAML ({str(e).splitlines()[0]})") from None
    data = {} if data is None else data
    where = path.name
    if not isinstance(data, dict):
        raise ConfigError(f"{where}={type(data).__name__} is not allowed: a mapping of profile, profiles and the "
                          "notebooks' sections")
    sections = set(NOTEBOOKS.values())
    for key, value in data.items():
        if key == "profile":
            if not isinstance(value, str):
                raise ConfigError(f"{where}: profile={value!r} is not allowed: a profile name (quick, paper)")
        elif key == "profiles":
            if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                raise ConfigError(f"{where}: profiles is not allowed as written: a mapping of profile name to "
                                  "sections")
            for prof, secs in value.items():
                for sec, vals in secs.items():
                    if sec not in sections or not isinstance(vals, (dict, type(None))):
                        raise ConfigError(f"{where}: profiles.{prof}.{sec} is not allowed: a mapping under one of "
                                          f"{', '.join(sorted(sections))}")
        elif key not in sections:
            near = difflib.get_close_matches(str(key), sorted(sections), n=1)
            raise ConfigError(f"{where}: {key}={value!r} is not allowed: not a notebook's section"
                              + (f" (did you mean {near[0]}?)" if near else f"; known: {', '.join(sorted(sections))}"))
        elif not isinstance(value, (dict, type(None))):
            raise ConfigError(f"{where}: {key}={value!r} is not allowed: a mapping of that notebook's parameters")
    return data


def _typed(section: str, key: str, value, default):
    """`value` in the type of the parameter's default (`config.coerce`), or one line saying what is allowed."""
    if default is None or value is None:
        return value
    if key == "seeds":
        from .grid import check_seeds

        return check_seeds(coerce(f"{section}.{key}", value, list, item=int), f"{section}.{key}")
    item = type(default[0]) if isinstance(default, list) and default else None
    return coerce(f"{section}.{key}", value, type(default), item=item)


def notebook_parameters(name: str, profile: str | None = None, overrides: dict | None = None,
                        params_file: Path = REPO / "params.yaml") -> dict:
    """Resolved papermill parameters of notebook `name` (validated: unknown keys are an error)."""
    if name not in NOTEBOOKS:
        raise ConfigError(f"notebook={name!r} is not allowed: one of {', '.join(NOTEBOOKS)}")
    file_params = read_params_file(params_file)
    profile = profile or file_params.get("profile", "quick")
    profiles = {**(read_params_file(REPO / "params.yaml").get("profiles") or {}), "tiny": TEST_PROFILE}
    if profile not in profiles:
        raise ConfigError(f"profile={profile!r} is not allowed: one of {', '.join(p for p in profiles if p != 'tiny')}")
    section = NOTEBOOKS[name]
    params = copy.deepcopy(profiles[profile].get(section) or {})
    file_section = {k: v for k, v in (file_params.get(section) or {}).items() if v is not None}  # null: the profile's
    for source in (file_section, overrides or {}):
        for key, value in source.items():
            if key not in params:
                raise ConfigError(f"{section}.{key}={value!r} is not allowed: known keys are "
                                  f"{', '.join(params) or '(none)'}")
            params[key] = _typed(section, key, value, params.get(key))
    if "seeds" in params:
        _typed(section, "seeds", params["seeds"], [0])
    params["profile"] = profile
    return params


WHERE = ("out_dir", "runs_dir", "results_root")  # where a render went: not what it computed


def rendered_parameters(path: Path) -> dict | None:
    """The parameters papermill recorded in a rendered notebook, less where it wrote (None: no readable render)."""
    try:
        recorded = json.loads(Path(path).read_text())["metadata"]["papermill"]["parameters"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {k: v for k, v in recorded.items() if k not in WHERE} if isinstance(recorded, dict) else None


def _warn_if_paper_on_cpu(params: dict) -> None:
    import sys

    import torch

    lease = params.get("gpu_records") or params.get("stop_at")  # 03 re-reading a lease, or training one briefly
    if params["profile"] == "paper" and not (lease or torch.cuda.is_available()):
        print("wgan-repro: warning: profile=paper on a machine without a visible CUDA device: its runs train "
              "100k generator iterations each on the CPU (about 370 ms per 32x32 critic step with the penalty on "
              "2 cores, i.e. days per run; docs/pipeline.md, Profiles); stop with Ctrl-C, finished runs are kept",
              file=sys.stderr)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_dead_staging(parent: Path, name: str) -> None:
    """Remove staging folders of `name` whose rendering process is gone (killed renders)."""
    for stale in parent.glob(f".render-{name}-*"):
        pid = stale.name[len(f".render-{name}-"):].split("-")[0]
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def run_notebook(name: str, profile: str | None = None, overrides: dict | None = None,
                 results_root: Path | str = REPO / "results", runs_root: Path | str | None = None,
                 html: bool = True, params_file: Path = REPO / "params.yaml", unless_committed: bool = False
                 ) -> Path | None:
    """Execute notebooks/<name>.ipynb into <results_root>/<name>/<name>.ipynb (+ .html).

    Parameters are validated before anything is touched. One render per results folder at a
    time (a second gets one line at once). The notebook renders into a temporary folder beside
    results_root; only when it has run to the end do its files replace the old ones, so a
    failing or stopped run leaves the previous results exactly as they were.
    runs_root: where training runs live (default: beside results_root, `runs/`).
    unless_committed: when the render already in <results_root>/<name> was made with these very
    parameters, keep it and return None (the expensive stages 02 and 09: `dvc repro` and `dvc repro -f`
    keep their committed renders, any other parameters, e.g. `-S profile=paper`, re-render them).
    """
    import papermill as pm
    from filelock import FileLock, Timeout
    from nbclient.exceptions import DeadKernelError

    params = notebook_parameters(name, profile, overrides, params_file)
    if params["profile"] == "tiny" and Path(results_root).resolve() == (REPO / "results").resolve():
        raise ConfigError("profile='tiny' is not allowed into the committed results/: it is the test suite's "
                          "profile (seconds per notebook); render it with --results elsewhere")
    if unless_committed and rendered_parameters(Path(results_root) / name / f"{name}.ipynb") == params:
        return None
    _warn_if_paper_on_cpu(params)
    results_root = Path(results_root).resolve()
    runs_root = Path(runs_root).resolve() if runs_root else results_root.parent / "runs"
    try:
        results_root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(results_root / f".{name}.lock"))
        lock.acquire(timeout=0)
    except Timeout:
        raise RenderBusy(f"results={str(results_root / name)!r} is not allowed now: another process is rendering "
                         f"{name} into it (lock {results_root / f'.{name}.lock'}); wait for it to finish") from None
    try:
        _remove_dead_staging(results_root, name)
        _restore_swapped(results_root / name)  # a render stopped mid-swap: its predecessor comes back first
        # staged inside results_root: the final swap is a rename on one file system (a mounted results/ too)
        staging = Path(tempfile.mkdtemp(prefix=f".render-{name}-{os.getpid()}-", dir=results_root))
        out_dir = staging / name
        out_dir.mkdir()  # papermill does not create output folders
        params.update(out_dir=str(out_dir), runs_dir=str(runs_root / name), results_root=str(results_root))
        output = out_dir / f"{name}.ipynb"
        # the kernel draws inline whatever MPLBACKEND the caller has (CI sets Agg for itself)
        env_backend, env_warnings = os.environ.get("MPLBACKEND"), os.environ.get("PYTHONWARNINGS")
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
        # a stopped grid's pool leaves its semaphores to the resource tracker: no warning for that on the console
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [env_warnings, "ignore:resource_tracker:UserWarning"]))
        try:
            pm.execute_notebook(str(REPO / "notebooks" / f"{name}.ipynb"), str(output), parameters=params,
                                kernel_name="python3", cwd=str(REPO), progress_bar=False, log_output=False,
                                # the kernel app's own start-up warnings (e.g. "running over TCP without
                                # encryption": a local kernel on loopback) are not the notebook's output
                                # and the grid's console lines (grid._ConsoleProgress, on the process's own
                                # stderr) go to this console, not into the page (ipykernel captures fd 2 by default)
                                # (no asyncio tasks of a stopped kernel; no line for each shutdown's interrupt)
                                extra_arguments=["--IPKernelApp.log_level=ERROR",
                                                 "--IPKernelApp.capture_fd_output=False",
                                                 "--IPKernelApp.exec_lines=import logging; "
                                                 "logging.getLogger('asyncio').setLevel(logging.CRITICAL); "
                                                 "logging.getLogger('IPKernelApp').addFilter(lambda r: "
                                                 "'KeyboardInterrupt caught in kernel' not in r.getMessage())"])
            from .report import embed_figures, export_html, relative_paths, shown_path

            relative_paths(output, {str(out_dir): shown_path(results_root / name, REPO),
                                    str(runs_root / name): shown_path(runs_root / name, REPO),
                                    str(results_root): shown_path(results_root, REPO),
                                    str(REPO / "notebooks"): "notebooks"})
            embed_figures(output)  # inline in any notebook viewer; the HTML reads the files
            if html:
                export_html(output, out_dir / f"{name}.html")
            _replace_outputs(out_dir, results_root / name)
            if name == "99_scorecard" and html:  # the pages' index, once every page is in place
                from .report import write_index

                write_index(results_root)
        except pm.PapermillExecutionError as e:
            raise NotebookFailed(f"notebook {name} failed in cell {e.exec_count}: {e.ename}: "
                                 f"{str(e.evalue).splitlines()[0] if e.evalue else ''} "
                                 f"(previous results in {results_root / name} are unchanged)") from e
        except DeadKernelError:
            raise NotebookFailed(f"notebook {name}: its kernel died mid-run (killed from outside, e.g. by the "
                                 f"system for lack of memory; `dmesg` says); previous results in {results_root / name} "
                                 "are unchanged, finished runs are kept: run the same command again") from None
        finally:
            for key, value in (("MPLBACKEND", env_backend), ("PYTHONWARNINGS", env_warnings)):
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        lock.release()
        Path(lock.lock_file).unlink(missing_ok=True)  # a leftover lock file would change a folder's DVC hash
    return results_root / name / f"{name}.ipynb"


class RenderBusy(WganReproError, RuntimeError):
    """Another process renders the same notebook into the same results folder."""


class NotebookFailed(WganReproError, RuntimeError):
    """A notebook stopped with an error; the previous results were left in place."""


def _replace_outputs(new: Path, dest: Path) -> None:
    """Swap the finished render `new` in as `dest`, whole: dest moves aside, new takes its name, the old one is
    removed. A stop between the two renames leaves the old render beside, restored by the next render
    (`_restore_swapped`); no reader ever sees a folder that mixes two renders."""
    _restore_swapped(dest)
    aside = dest.parent / f".{dest.name}.old-{os.getpid()}"
    if dest.exists():
        os.replace(dest, aside)
    os.replace(new, dest)
    shutil.rmtree(aside, ignore_errors=True)


def _restore_swapped(dest: Path) -> None:
    """A render stopped mid-swap: dest is missing and the previous render sits beside it; put it back.
    Old renders left beside a dest that exists are removed."""
    for aside in sorted(dest.parent.glob(f".{dest.name}.old-*")):
        if not dest.exists():
            os.replace(aside, dest)
        else:
            shutil.rmtree(aside, ignore_errors=True)


README_BLOCKS = {  # README's block -> the committed file `make readme` copies into it
    "glance": REPO / "results" / "99_scorecard" / "glance.md",
}
DOC_BLOCKS = {  # docs/scorecard.md's blocks
    "scorecard": REPO / "results" / "99_scorecard" / "scorecard.md",
    "coverage": REPO / "results" / "99_scorecard" / "coverage.md",
}
GENERATED = {REPO / "README.md": README_BLOCKS, REPO / "docs" / "scorecard.md": DOC_BLOCKS}


def sync_docs() -> bool:
    """`make readme`: README's results at a glance and docs/scorecard.md's tables from the committed
    scorecard stage; True when a file changed."""
    return any([sync_readme(path, blocks) for path, blocks in GENERATED.items()])


def sync_readme(readme: Path = REPO / "README.md", blocks: dict[str, Path] | None = None) -> bool:
    """Copy committed generated tables into a markdown file between their markers
    (`<!-- name: ... -->` ... `<!-- /name -->`); True when the file changed."""
    import re

    text = new = readme.read_text()
    for name, source in (blocks or README_BLOCKS).items():
        pattern = re.compile(rf"(<!-- {name}: [^\n]*-->\n)(.*?)(\n<!-- /{name} -->)", re.S)
        if not pattern.search(new):
            raise ConfigError(f"README={str(readme)!r} is not allowed: it has no <!-- {name}: ... --> block")
        new = pattern.sub(lambda m: m.group(1) + source.read_text().strip() + m.group(3), new)
    readme.write_text(new)
    return new != text


def prepare_data(profile: str | None = None, download: bool = False) -> dict:
    """The data stage: every image dataset a notebook of `profile` uses, at its size, converted
    into the cache, the reference features its scores need, and the digit classifier of a notebook
    that reads samples with it (`n_classified`). Returns the manifest."""
    from .data import load_image_tensor
    from .fidelity import reference_features

    # before an hour of reference features: the paper profile's runs need a GPU (issue 31)
    _warn_if_paper_on_cpu(notebook_parameters("99_scorecard", profile))
    manifest = {}
    for name in NOTEBOOKS:
        params = notebook_parameters(name, profile)
        if params.get("dataset") not in ("mnist", "fashion-mnist", "cifar10"):
            continue
        size = params.get("image_size")
        if size is None:  # the notebook takes its preset's size (06: a 28 px preset), prepared by another
            continue
        key = f"{params['dataset']}-{size}px"
        if key not in manifest:
            images = load_image_tensor(params["dataset"], size, download=download)
            manifest[key] = {"images": len(images), "shape": list(images.shape[1:])}
        if "n_reference" in params:
            ref = f"{params['dataset']}-train"
            feats = reference_features(ref, size, params["n_reference"])
            manifest[f"reference {ref} {size}px n={params['n_reference']}"] = {"features": list(feats.shape)}
        if "n_classified" in params and params["dataset"] in ("mnist", "fashion-mnist"):
            from .classifier import VERSION, load_classifier

            accuracy = load_classifier(params["dataset"], download=download)[1]
            manifest[f"classifier {params['dataset']}"] = {"version": VERSION, "test_accuracy": round(accuracy, 4)}
    return manifest
