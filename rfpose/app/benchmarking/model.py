"""every registered model: parameters, multiply-adds, latency, throughput (CPU)

Latency is the median wall time of one batch-1 forward pass (no autograd) over ``--runs`` runs after
``--warmup`` runs; throughput is frames per second at ``--batch-size``. Models above ``--heavy-gmacs``
(the full HRRadarPose is ~93 GMACs, tens of seconds per frame on two cores) get one warm-up and one
timed run, and the row says so (``runs``). MACs are counted analytically on the meta device.
"""

from __future__ import annotations

import statistics
import time



def _time(fn, runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def bench_model(name: str, runs: int, warmup: int, batch_size: int, heavy_gmacs: float, quick: bool) -> dict:
    import torch

    from rfpose.models import create_model
    from rfpose.models.complexity import count_macs_meta

    model = create_model(name).eval()
    shapes = [tuple(t.shape) for t in model.example_inputs(1)]
    macs = count_macs_meta(lambda: create_model(name), shapes)
    heavy = macs / 1e9 > heavy_gmacs
    if heavy or quick:
        runs, warmup = (1, 1) if heavy else (2, 1)
    g = torch.Generator().manual_seed(0)
    x1 = [torch.rand(s, generator=g) for s in shapes]
    with torch.inference_mode():
        lat = _time(lambda: model(*x1), runs, warmup)
        row = {"model": name, "params": sum(p.numel() for p in model.parameters()), "macs": macs,
               "gmacs": round(macs / 1e9, 3),
               "input": "x".join(map(str, shapes[0][1:])) + (" x2 views" if len(shapes) > 1 else ""),
               "latency_ms": statistics.median(lat) * 1e3, "runs": runs}
        if heavy or quick or batch_size <= 1:
            row["frames_per_s"] = 1.0 / statistics.median(lat)
            row["throughput_batch"] = 1
        else:
            xb = [torch.rand((batch_size, *s[1:]), generator=g) for s in shapes]
            tb = _time(lambda: model(*xb), max(runs // 2, 1), 1)
            row["frames_per_s"] = batch_size / statistics.median(tb)
            row["throughput_batch"] = batch_size
    return row


def run(patterns: list[str], runs: int = 10, warmup: int = 2, batch_size: int = 4, heavy_gmacs: float = 20.0,
        quick: bool = False, threads: int | None = None) -> list[dict]:
    """One row per registered model matching any of ``patterns`` (names or globs)."""
    import fnmatch

    import torch

    from rfpose.errors import UnknownNameError
    from rfpose.models import list_models

    if threads:
        torch.set_num_threads(threads)
    names = []
    for pat in patterns:
        hits = [n for n in list_models() if fnmatch.fnmatch(n, pat.strip())]
        if not hits:
            raise UnknownNameError("model", pat, list_models())
        names += [h for h in hits if h not in names]
    return [bench_model(n, runs, warmup, batch_size, heavy_gmacs, quick) for n in names]
