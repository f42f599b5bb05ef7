"""Machine and date for every benchmark printout (timings mean nothing without them)."""
from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict:
    info = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "torch": torch.__version__, "python": platform.python_version()}
    try:
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                           if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def report(name: str, rows: list[dict], notes: str = "", results: Path | None = None) -> None:
    """Print a table and keep it in `results` (default benchmarks/results)/<name>.json."""
    m = machine()
    print(f"# {name}: {m['date']}, {m['cpu']}, {m['cores']} cores"
          + (f", {m['gpu']}" if "gpu" in m else "") + f", torch {m['torch']}")
    if notes:
        print(f"# {notes}")
    keys = list(dict.fromkeys(k for r in rows for k in r))
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(f"{r.get(k):.4g}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in keys))
    results = results or RESULTS
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps({"machine": m, "notes": notes, "rows": rows}, indent=2) + "\n")
