"""Shared plumbing for ``rfpose bench …``: machine description, timing, table and JSON output."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path


def machine_info() -> dict:
    """What the figures were measured on (goes into every benchmark's JSON)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    import numpy

    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": numpy.__version__,
            "platform": platform.platform(), "load_average_1min": load}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        pass
    return info


def best_time_s(fn: Callable[[], object], repeat: int = 5, min_time_s: float = 0.2) -> float:
    """Best per-call wall time over ``repeat`` rounds, each at least ``min_time_s`` long."""
    fn()  # warm-up (plans, caches)
    best = float("inf")
    for _ in range(repeat):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time_s:
                break
        best = min(best, elapsed / n)
    return best


def print_table(rows: list[dict], file=sys.stdout) -> None:
    if not rows:
        print("(no rows)", file=file)
        return
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[_cell(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths)), file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)), file=file)


def _cell(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return str(v)


def emit(rows: list[dict], as_json: bool, out: str | None = None, title: str = "", extra: dict | None = None) -> None:
    """Print a table (or the JSON object) and optionally write the JSON to ``out``."""
    doc = {"machine": machine_info(), "rows": rows, **(extra or {})}
    if as_json:
        print(json.dumps(doc, indent=2))
    else:
        if title:
            print(title)
        print_table(rows)
        m = doc["machine"]
        print(f"\nmachine: {m['cpu']}, {m['cores']} cores, python {m['python']}, load {m['load_average_1min']}")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(doc, indent=2))
