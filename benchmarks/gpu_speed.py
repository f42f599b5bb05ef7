"""Speed of the training loop on one GPU (issue 30), as one prepared device call that watches its own clock.

    PYTHONPATH=. python benchmarks/gpu_speed.py --out "$OUT" [--seconds 420]       # on the GPU machine
    PYTHONPATH=. python benchmarks/gpu_speed.py --device cpu --seconds 20 --out /tmp/speed   # CPU dry run

No data is shipped: the image configs read a random uint8 source of CIFAR-10's (MNIST's) shape, the toy
draws its own. Measured, each where the clock allows (a section that does not fit says so):
- ceilings: a large TF32 and bf16 matrix product, a device-to-device copy (CUDA only);
- FLOPs of one generator iteration, counted (torch.utils.flop_counter), per arm;
- steady-state generator it/s after warm-up for WGAN-GP Fig. 3's four arms (DIM 64, batch 64, 32 px),
  the toy (gan_toy.py) and MNIST (gan_mnist.py) configs: eager and with CUDA graphs;
- kernels and GPU-busy time per iteration (torch.profiler) and host-device syncs per iteration
  (torch.cuda.set_sync_debug_mode) for the WGAN-GP arm, eager and graphs;
- K runs in one process (train_many, one stream each) against K processes, K = 1, 4, 12;
- TF32 against bf16 autocast (precision='bf16') for the WGAN-GP arm.
Everything goes to <out>/gpu_speed.json (machine, torch, date, one row per measurement, and the summary
keys gp_one_run_its_per_s and gp_12_runs_aggregate_its_per_s). The predictions written before the first
GPU call are in benchmarks/results/gpu_speed-prediction.md.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine  # noqa: E402

from wgan_repro import data as D  # noqa: E402
from wgan_repro.config import TrainConfig  # noqa: E402
from wgan_repro.experiments import fig3_arms  # noqa: E402
from wgan_repro.presets import load_preset  # noqa: E402
from wgan_repro.rundir import RunDir  # noqa: E402
from wgan_repro.train import _Run  # noqa: E402

FOREVER = 10**9  # iterations: a timed run never reaches its end (no final log or checkpoint)


def synthetic_source(cfg) -> torch.Tensor:
    """A random uint8 training set of the dataset's shape (the speed does not depend on the pixels)."""
    shape = {"cifar10": (50_000, 3, cfg.image_size, cfg.image_size), "mnist": (60_000, 1, cfg.image_size,
                                                                               cfg.image_size)}[cfg.dataset]
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def configs(device: str, dim: int, batch: int) -> dict[str, dict]:
    scale = dict(dataset="cifar10", image_size=32, dim=dim, batch_size=batch, iterations=FOREVER, log_every=FOREVER)
    arms = fig3_arms(scale)
    toy = {} if device == "cuda" else {"dim": 64, "batch_size": batch}  # a CPU dry run keeps it small
    arms["toy (8 Gaussians, GP)"] = load_preset("toy_8gaussians_wgan_gp", iterations=FOREVER, log_every=FOREVER,
                                                **toy)
    arms["MNIST (GP)"] = load_preset("mnist_wgan_gp", dim=dim, batch_size=batch, iterations=FOREVER,
                                     log_every=FOREVER)
    for values in arms.values():
        values.update(device=device, sample_every=0, checkpoint_every=0, keep_checkpoints=False, dvclive=False,
                      progress=False)
    return arms


class Clock:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def runs_of(values: list[dict]):
    """K runs built as train_many builds them, in temporary folders."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        cfgs = [TrainConfig(**{**v, "seed": k, "out_dir": f"{tmp}/run{k}"}) for k, v in enumerate(values)]
        dirs = [stack.enter_context(RunDir(c)) for c in cfgs]
        runs = [_Run(c, d, torch.device(c.device)) for c, d in zip(cfgs, dirs)]
        for r in runs:
            r.begin()
        yield runs


def steady(values: list[dict], seconds: float, warmup: int = _Run.WARMUP + 2) -> dict:
    """Generator iterations per second of K runs in one process after `warmup` iterations each (CUDA
    graphs are captured within the warm-up), timed over about `seconds`."""
    with runs_of(values) as runs:
        device = runs[0].device
        for _ in range(warmup):
            for r in runs:
                r.iteration()
        _sync(device)
        t0, n = time.perf_counter(), 0
        while True:
            for r in runs:
                r.iteration()
            n += 1
            if n % 5 == 0:
                _sync(device)
                if time.perf_counter() - t0 >= seconds:
                    break
        dt = time.perf_counter() - t0
        graphs = all(r.graphs is not None for r in runs)
    return {"runs": len(values), "iterations_each": n, "seconds": dt, "its_per_s_per_run": n / dt,
            "its_per_s_aggregate": len(values) * n / dt, "graphs": graphs}


class _FlopCount:
    """A dispatch mode adding up torch.utils.flop_counter's formulas for every op it sees (its own
    FlopCounterMode tracks modules with hooks that autograd.grad, the penalty's, does not support)."""

    def __enter__(self):
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils.flop_counter import flop_registry

        counter = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                out = func(*args, **kwargs)
                formula = flop_registry.get(func._overloadpacket)
                if formula is not None:
                    counter.total += formula(*args, **kwargs, out_val=out)
                return out

        self.total, self.mode = 0, Mode()
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        return self.mode.__exit__(*exc)


def count_flops(values: dict) -> float:
    """FLOPs of one eager generator iteration (its critic steps included)."""
    with runs_of([{**values, "graphs": "off"}]) as (run,):
        run.iteration()  # lazy state first
        with _FlopCount() as counter:
            run.iteration()
    return float(counter.total)


def profile(values: dict, iterations: int = 10) -> dict:
    """Kernels, GPU-busy milliseconds and host-device syncs per generator iteration (CUDA)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with runs_of([values]) as (run,):
        for _ in range(5):
            run.iteration()
        _sync(run.device)
        with torch_profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(iterations):
                run.iteration()
            _sync(run.device)
        kernels = [e for e in prof.events() if str(getattr(e, "device_type", "")).endswith("CUDA")]
        busy_us = sum(getattr(e, "device_time", getattr(e, "cuda_time", 0.0)) for e in kernels)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                for _ in range(iterations):
                    run.iteration()
            finally:
                torch.cuda.set_sync_debug_mode("default")
        syncs = sum("synchroniz" in str(w.message) for w in caught)
    return {"kernels_per_iteration": len(kernels) / iterations, "gpu_busy_ms_per_iteration": busy_us / 1e3 / iterations,
            "syncs_per_iteration": syncs / iterations}


def ceilings(device: torch.device) -> dict:
    """Large TF32 and bf16 matrix products (TFLOP/s) and a device-to-device copy (GB/s)."""
    out, n = {}, 8192
    for name, dtype, tf32 in (("tf32_matmul_tflops", torch.float32, True),
                              ("bf16_matmul_tflops", torch.bfloat16, False)):
        before = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
        for _ in range(3):
            a @ b
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(20):
            a @ b
        _sync(device)
        out[name] = 20 * 2 * n**3 / (time.perf_counter() - t0) / 1e12
        torch.backends.cuda.matmul.allow_tf32 = before
    x = torch.empty(2**28, device=device)  # 1 GiB
    y = torch.empty_like(x)
    y.copy_(x)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(10):
        y.copy_(x)
    _sync(device)
    out["d2d_copy_gb_per_s"] = 10 * 2 * x.numel() * 4 / (time.perf_counter() - t0) / 1e9
    return out


def k_processes(values: dict, k: int, seconds: float) -> dict:
    """K separate processes each timing one run (this script's --child mode), started together."""
    cmd = [sys.executable, __file__, "--child", json.dumps(values), "--seconds", str(seconds)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(k)]
    rows = []
    for p in procs:
        out, err = p.communicate(timeout=seconds + 180)
        if p.returncode != 0:
            raise RuntimeError(f"child failed: {err[-500:]}")
        rows.append(json.loads(out.strip().splitlines()[-1]))
    rates = [r["its_per_s_per_run"] for r in rows]
    return {"runs": k, "its_per_s_per_run": sum(rates) / k, "its_per_s_aggregate": sum(rates), "processes": k}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="folder for gpu_speed.json (the device tool's $OUT)")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu for a dry run")
    ap.add_argument("--seconds", type=float, default=420.0, help="the whole script's budget (default 420)")
    ap.add_argument("--dim", type=int, default=None, help="DIM (default 64 on CUDA, 8 on the CPU)")
    ap.add_argument("--batch", type=int, default=None, help="batch size (default 64 on CUDA, 16 on the CPU)")
    ap.add_argument("--k", type=int, nargs="+", default=None, help="runs per GPU (default 1 4 12; CPU 1 2)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    D.image_dataset = synthetic_source  # BatchStream reads it: no data needed
    if args.child is not None:
        print(json.dumps(steady([json.loads(args.child)], args.seconds)))
        return
    if args.out is None:
        print("gpu_speed: --out is required: the folder for gpu_speed.json", file=sys.stderr)
        raise SystemExit(2)
    if args.device not in ("cuda", "cpu") or (args.device == "cuda" and not torch.cuda.is_available()):
        print(f"gpu_speed: device={args.device!r} is not allowed here: cuda (visible: "
              f"{torch.cuda.is_available()}) or cpu", file=sys.stderr)
        raise SystemExit(2)
    cpu = args.device == "cpu"
    dim, batch = args.dim or (8 if cpu else 64), args.batch or (16 if cpu else 64)
    ks = args.k or ([1, 2] if cpu else [1, 4, 12])
    if cpu:
        torch.set_num_threads(1)
    clock, device = Clock(args.seconds), torch.device(args.device)
    arms = configs(args.device, dim, batch)
    gp = arms["WGAN-GP"]
    rows: list[dict] = []
    result = {"machine": machine(), "device": args.device, "dim": dim, "batch_size": batch, "budget_s": args.seconds,
              "rows": rows}
    out = args.out / "gpu_speed.json"
    args.out.mkdir(parents=True, exist_ok=True)

    def section(name: str, fn, **labels) -> dict | None:
        """Run fn(); record its row, or why it did not run (the clock, an error)."""
        if clock.left() < 2.0:
            rows.append({"what": name, **labels, "skipped": "out of time"})
            return None
        try:
            row = {"what": name, **labels, **fn()}
        except Exception as e:  # one failed measurement is a row, not a lost call
            row = {"what": name, **labels, "error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
        rows.append(row)
        out.write_text(json.dumps(result, indent=2) + "\n")  # whatever is measured survives a kill
        print(json.dumps(row), flush=True)
        return row

    # timed windows as shares of the budget: 420 s gives 8 s per single run, 13 s per K-run measurement
    one, many = 0.02 * args.seconds, 0.03 * args.seconds
    graphs = "off" if cpu else "auto"
    if not cpu:
        section("ceilings", lambda: ceilings(device))
    for name, values in arms.items():
        section("flops per generator iteration", lambda v=values: {"flops": count_flops(v)}, arm=name)
    for name in arms:
        for mode in ["off"] if cpu else ["off", "auto"]:
            section("one run", lambda v=arms[name], m=mode: steady([{**v, "graphs": m}], one), arm=name,
                    graphs_requested=mode)
    if not cpu:
        for mode in ("off", "auto"):
            section("profile", lambda m=mode: profile({**gp, "graphs": m}), arm="WGAN-GP", graphs_requested=mode)
            section("one run", lambda m=mode: steady([{**gp, "precision": "bf16", "graphs": m}], one),
                    arm="WGAN-GP", graphs_requested=mode, precision="bf16")
    for k in ks:
        section("K runs, one process", lambda k=k: steady([gp] * k, many), arm="WGAN-GP", graphs_requested=graphs)
    for k in ks:
        section("K runs, K processes", lambda k=k: k_processes(gp, k, many), arm="WGAN-GP", graphs_requested=graphs)
    summarize(result)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=1))


def summarize(result: dict) -> None:
    """The headline keys, read from the rows (None where the row is missing)."""
    rows = result["rows"]

    def find(**match):
        hits = [r for r in rows if all(r.get(k) == v for k, v in match.items()) and "its_per_s_aggregate" in r]
        return hits[-1] if hits else None

    graphs = "off" if result["device"] == "cpu" else "auto"
    one = find(what="one run", arm="WGAN-GP", graphs_requested=graphs, precision=None)
    eager = find(what="one run", arm="WGAN-GP", graphs_requested="off", precision=None)
    twelve = find(what="K runs, one process", runs=12)
    flops = next((r["flops"] for r in rows if r.get("arm") == "WGAN-GP" and "flops" in r), None)
    ceiling = next((r["tf32_matmul_tflops"] for r in rows if "tf32_matmul_tflops" in r), None)
    result["gp_one_run_its_per_s"] = one and one["its_per_s_per_run"]
    result["gp_one_run_eager_its_per_s"] = eager and eager["its_per_s_per_run"]
    result["gp_12_runs_aggregate_its_per_s"] = twelve and twelve["its_per_s_aggregate"]
    result["gp_flops_per_iteration"] = flops
    if flops and twelve and ceiling:
        result["gp_12_runs_share_of_tf32_ceiling"] = flops * twelve["its_per_s_aggregate"] / 1e12 / ceiling
    # Fig. 3 at the paper profile (4 arms x 3 seeds x 100k iterations) from each arm's one-run rate and
    # the speed-up that 12 runs in one process gave the WGAN-GP arm (1 where it was not measured)
    single = {arm: find(what="one run", arm=arm, graphs_requested=graphs, precision=None)
              for arm in ("WGAN (clip)", "WGAN-GP", "WGAN-GP (RMSProp)", "DCGAN")}
    if all(single.values()):
        speedup = twelve["its_per_s_aggregate"] / one["its_per_s_per_run"] if twelve and one else 1.0
        result["fig3_paper_profile_gpu_minutes_estimate"] = sum(
            3 * 100_000 / (r["its_per_s_per_run"] * speedup) for r in single.values()) / 60
        result["fig3_estimate_basis"] = f"one-run rates x the 12-in-one-process speed-up of WGAN-GP ({speedup:.2f})"


if __name__ == "__main__":
    main()
