"""The GPU evidence: notebook 03's paper-profile decisions (wgan_repro/studies/clipping_vs_gp.py) against the
committed records and page (results/paper/), a lease end to end on the CPU, and benchmarks/gpu_speed.py."""
import json

import pandas as pd
import pytest

from tests.conftest import REPO
from wgan_repro import claims as C
from wgan_repro.errors import ConfigError
from wgan_repro.looks import POCOCK
from wgan_repro.studies import clipping_vs_gp as S03

PAPER_03 = REPO / "results" / "paper" / "03_clipping_vs_gp"
RECORDS_03 = REPO / "results" / "paper" / "records" / "03_clipping_vs_gp"


def test_committed_gpu_verdicts_follow_from_the_committed_records():
    details = json.loads((PAPER_03 / "details.json").read_text())
    ck, _, meta = S03.read_gpu_records(RECORDS_03)
    at = max(details["scored_at_iterations"])
    claims = S03.gpu_claims(ck, at, 100_000, details["n_samples"], details["n_reference"], meta["leases"], meta["arms"])
    assert claims == details["claims"]  # every field, the verdicts and their statistics included
    # every look's verdicts, and the boundary that every pooled "reproduced" passed
    for look in details["claims_earlier_looks"]:
        seen = ck[ck.seed.isin(look["seeds"])]
        again = S03.gpu_claims(seen, at, 100_000, details["n_samples"], details["n_reference"],
                               meta["leases"][:look["leases"]], meta["arms"])
        assert [c["verdict"] for c in again] == [c["verdict"] for c in look["claims"]]
    assert details["pocock_boundary"] == POCOCK[len(meta["leases"])]


def test_gpu_records_are_the_paper_profiles_and_complete(tmp_path):
    with pytest.raises(ConfigError, match="gpu_records=.* is not allowed with profile='quick'"):
        S03.run("cifar10", 32, 8, 10, True, True, "constant", [0], 8, 8, 1, out_dir=tmp_path, profile="quick",
                gpu_records=str(RECORDS_03))
    with pytest.raises(ConfigError, match="stop_at=45 is not allowed with gpu_records"):
        S03.run("cifar10", 32, 8, 10, True, True, "constant", [0], 8, 8, 1, out_dir=tmp_path, profile="paper",
                gpu_records=str(RECORDS_03), stop_at=45)
    with pytest.raises(ConfigError, match="stop_at=-1 is not allowed: seconds"):
        S03.run("cifar10", 32, 8, 10, True, True, "constant", [0], 8, 8, 1, out_dir=tmp_path, profile="paper",
                stop_at=-1)
    (tmp_path / "part").mkdir()
    (tmp_path / "part" / "checkpoints.csv").write_text("variant,seed\n")
    with pytest.raises(ConfigError, match="lacks histories.csv, runs.json"):
        S03.read_gpu_records(tmp_path / "part")


def test_two_leases_records_read_together_are_the_committed_ones(tmp_path):
    """The committed records split by lease (seeds 0-5 and 6-11) and read as a list give the same scores,
    histories, runs, leases and arms."""
    ck, hist, meta = S03.read_gpu_records(RECORDS_03)
    runs_files = sorted(RECORDS_03.glob("gpu_runs*.json"))
    for name, leases, files in (("a", meta["leases"][:2], runs_files[:2]), ("b", meta["leases"][2:], runs_files[2:])):
        seeds = [seed for x in leases for seed in x["seeds"]]
        folder = tmp_path / name
        folder.mkdir()
        ck[ck.seed.isin(seeds)].to_csv(folder / "checkpoints.csv", index=False)
        hist[hist.seed.isin(seeds)].to_csv(folder / "histories.csv", index=False)
        part = {k: meta[k] for k in ("gpu", "torch", "per_gpu", "command")}
        (folder / "runs.json").write_text(json.dumps({**part, "seeds": seeds, "leases": leases, "runs": [
            r for r in meta["runs"] if r["seed"] in seeds]}))
        for k, f in enumerate(files):
            (folder / f"gpu_runs{k}.json").write_text(f.read_text())
    ck2, hist2, meta2 = S03.read_gpu_records([tmp_path / "a", tmp_path / "b"])
    assert ck2.equals(ck) and hist2.equals(hist) and meta2["leases"] == meta["leases"]
    assert meta2["runs"] == meta["runs"] and meta2["command"] == meta["command"] and meta2["arms"] == meta["arms"]
    with pytest.raises(ConfigError, match="seeds .* repeat across the leases"):
        S03.read_gpu_records([tmp_path / "a", tmp_path / "a"])


def test_equal_wall_clock_claim_compares_dcgan_at_gp_time_on_that_lease_only():
    lease = {"seeds": [6, 7], "dcgan_at_gp_wall_clock": {"gp_iteration": 20, "gp_mean_wall_clock_s": 9.0,
                                                          "checkpoints": {"6": 50, "7": 40}}}
    rows = [("WGAN-GP", 6, 20, 0.130), ("WGAN-GP", 7, 20, 0.135), ("DCGAN", 6, 50, 0.05), ("DCGAN", 7, 40, 0.06),
            ("DCGAN", 6, 20, 0.90), ("DCGAN", 7, 20, 0.95), ("WGAN-GP", 0, 20, 0.01)]  # not that lease's picks
    ck = pd.DataFrame(rows, columns=["variant", "seed", "iteration", "kid"]).assign(wall_time=1.0)
    (claim,) = S03.equal_wall_clock_claims(ck, [{"seeds": [0]}, lease], "item")
    assert claim["stats"]["n"] == [2, 2]
    assert claim["stats"]["mean"] == pytest.approx([0.055, 0.1325])
    assert claim["verdict"] == C.REPRODUCED and claim["precondition"]["holds"]
    assert S03.equal_wall_clock_claims(ck, [{"seeds": [0]}], "item") == []
    # GP's samples not yet images (mean KID above the declared 0.150): the same p, not resolved
    blobs = ck.assign(kid=ck.kid.where(ck.variant != "WGAN-GP", ck.kid + 0.2))
    (claim,) = S03.equal_wall_clock_claims(blobs, [lease], "item")
    assert claim["verdict"] == C.UNRESOLVED and "WGAN-GP 332" in claim["precondition"]["measured"]


def test_dcgan_checkpoint_chosen_within_gp_mean_wall_clock():
    hist = pd.DataFrame(
        [("WGAN-GP", 1, i, 10.0 * i) for i in range(0, 30, 5)] + [("WGAN-GP", 2, i, 12.0 * i) for i in range(0, 30, 5)]
        + [("DCGAN", 1, i, 1.0 * i) for i in range(0, 400, 5)], columns=["variant", "seed", "iteration", "wall_time"])
    runs = [{"variant": "WGAN-GP", "seed": 1, "kept": [10, 20]}, {"variant": "WGAN-GP", "seed": 2, "kept": [10, 20]},
            {"variant": "DCGAN", "seed": 1, "kept": list(range(100, 401, 100))}]
    picked = S03.dcgan_at_gp_wall_clock(runs, hist, 20)
    # GP reached 20 (its last row before it, 15) after 150 and 180 s: mean 165; DCGAN's row before 200 is at 195 s
    assert picked["gp_mean_wall_clock_s"] == pytest.approx(165.0)
    assert picked["checkpoints"] == {"1": 100}


@pytest.mark.system
def test_gpu_speed_dry_run_on_the_cpu(tmp_path):
    """benchmarks/gpu_speed.py end to end on the CPU with a small budget: every arm measured, the K-run
    rows in one process and in K processes, the summary keys written (the GPU run is the same script)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "benchmarks/gpu_speed.py", "--device", "cpu", "--seconds", "45",
                           "--out", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "gpu_speed.json").read_text())
    rows = result["rows"]
    assert not [r for r in rows if "error" in r], [r for r in rows if "error" in r]
    arms = {"WGAN (clip)", "WGAN-GP", "WGAN-GP (RMSProp)", "DCGAN", "toy (8 Gaussians, GP)", "MNIST (GP)"}
    assert {r["arm"] for r in rows if r["what"] == "one run" and r.get("its_per_s_per_run", 0) > 0} == arms
    assert {r["arm"] for r in rows if r.get("flops", 0) > 0} == arms
    in_one = [r["runs"] for r in rows if r["what"] == "K runs, one process" and "its_per_s_aggregate" in r]
    assert sorted(in_one) == [1, 2]
    assert result["gp_one_run_its_per_s"] > 0 and result["gp_flops_per_iteration"] > 0
    assert "gp_12_runs_aggregate_its_per_s" in result  # None on the CPU (K = 1, 2)


@pytest.mark.system
def test_gpu_speed_refuses_a_device_it_cannot_use(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "benchmarks/gpu_speed.py", "--device", "tpu", "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, env={**__import__("os").environ,
                                                                           "PYTHONPATH": str(REPO)})
    assert proc.returncode == 2 and "device='tpu' is not allowed" in proc.stderr
    assert not (tmp_path / "gpu_speed.json").exists()


def test_the_scorecard_shows_the_gpu_verdict_beside_the_same_declared_claim():
    from wgan_repro import scorecard as S

    rows = S.add_paper_profile(REPO / "results", S.gather_claims(REPO / "results"))
    by_id = {r["id"]: r for r in rows if r["notebook"] == "03_clipping_vs_gp"}
    gpu = {c["id"]: c for c in json.loads((PAPER_03 / "details.json").read_text())["claims"]}
    for claim_id in ("03.same_optimizer_kid", "03.adam_improves_kid", "03.caption_kid"):
        shown = by_id[claim_id]["paper_profile"]
        assert shown["verdict"] == gpu[claim_id]["verdict"] and shown["at"] == 2000
        text = S.paper_profile_text(shown)
        assert f"p = {gpu[claim_id]['stats']['p']:.2g}" in text and "2,000 of 100k" in text and "not counted" in text
    assert "paper_profile" not in by_id["03.caption_fid"]  # the GPU runs scored no FID claim
    assert S.paper_profile_text(None) == ""


@pytest.mark.system
def test_a_lease_trains_to_its_deadline_and_its_records_join_the_committed_ones(tmp_path, monkeypatch):
    """Notebook 03 at the paper profile with stop_at, small, on the CPU: the four arms train to the deadline, the
    generators they reached are scored into records beside the page, every claim is decided from them; the
    records read together with others only with the same scoring protocol. Tiny CIFAR-10 (100 images): the four
    workers start within the budget on a busy 2-core machine too."""
    from tests.conftest import make_tiny_datasets
    from wgan_repro.pipeline import run_notebook

    monkeypatch.setenv("WGAN_REPRO_DATA", str(make_tiny_datasets(tmp_path / "data", n_mnist=20)))
    run_notebook("03_clipping_vs_gp", "paper", {"stop_at": 60, "seeds": [40], "dim": 4, "checkpoint_every": 2,
                                                "n_samples": 8, "n_reference": 20},
                 results_root=tmp_path / "page", runs_root=tmp_path / "runs")
    page = tmp_path / "page" / "03_clipping_vs_gp"
    records = page / "records"
    assert {p.name for p in records.iterdir()} >= {*S03.GPU_RECORDS, "gpu_runs.json", "samples.png"}
    details = json.loads((page / "details.json").read_text())
    assert [c["id"] for c in details["claims"]][:3] == ["03.caption_kid", "03.same_optimizer_kid",
                                                       "03.adam_improves_kid"]
    assert all(c["stats"]["n"] == [1, 1] and "precondition" in c for c in details["claims"])
    assert details["seeds"] == [40] and "-p stop_at 60" in details["command"]
    with pytest.raises(ConfigError, match="other sample counts"):
        S03.read_gpu_records([RECORDS_03, records])  # 1,000 vs 5,000 there, 8 vs 20 here
