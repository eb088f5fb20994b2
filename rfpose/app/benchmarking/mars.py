"""``rfpose bench mars``: MARS imported, ``mars-cnn`` and ``pointpose`` trained with their recipes and
evaluated on every labelled split, one JSON per model and split.

  rfpose bench mars ../shared/data/mars --out bench/mars --minutes 14

Writes ``OUT/mars.zarr`` (the import) and ``OUT/runs/<model>/`` (training runs), both reused when present
(``--force`` redoes them), and
``OUT/<model>-<split>.json`` with the model, split, frames, MARS's metric (``mae_cm``: per-axis mean
absolute error in cm, radar frame x forward, y left, z up, and their mean), MPJPE, PA-MPJPE, the
per-subject MAE, the train time and the machine with its load. The last checkpoint is evaluated, not the
one that scored best on validate (validate would then be both the selection and the reported split).
With ``--test-subject K`` the import holds subject K out (all its labelled frames form the test split;
file names get ``-loso<K>``).
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

MODELS = ("mars-cnn", "pointpose")


def run_bench(mars_dir: str, out_dir: str, minutes: float | None = 14.0, models=MODELS,
              test_subject: int | None = None, threads: int | None = 1, seed: int = 0,
              force: bool = False) -> list[dict]:
    from rfpose.app.benchmarking import machine_info
    from rfpose.dataset import DatasetReader
    from rfpose.models.evaluate import evaluate_run
    from rfpose.models.train import TrainConfig, train
    from rfpose.preprocessing.mars import load_mars, write_dataset

    import torch

    if threads:
        torch.set_num_threads(threads)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tag = f"-loso{test_subject}" if test_subject is not None else ""
    data = out / f"mars{tag}.zarr"
    if force or not data.exists():
        summary = write_dataset(load_mars(mars_dir), data, test_subject, overwrite=True)
        for note in summary["notes"]:
            log.warning("MARS import: %s", note)
    reader = DatasetReader(data)
    labelled = [s for s in ("val", "test") if len(reader.indices(s))]
    rows = []
    for model in models:
        run_dir = out / "runs" / f"{model}{tag}"
        if not force and (run_dir / "last.pt").exists() and (run_dir / "metrics.csv").exists():
            epochs, train_min, stopped = _finished_run(run_dir)  # a finished run is evaluated, not retrained
        else:
            if run_dir.exists():
                shutil.rmtree(run_dir)
            result = train(TrainConfig(model=model, data=str(data), out=str(run_dir), max_minutes=minutes,
                                       seed=seed, threads=threads))
            epochs, train_min, stopped = _finished_run(run_dir)
            stopped = result["stopped_early"] or stopped
        for split in labelled:
            s = evaluate_run(run_dir, data, split, "last", batch_size=512, progress=False)
            doc = {"model": model, "split": split, "frames": s["frames"], "mae_cm": s["mae_cm"],
                   "mpjpe_mm": s["mpjpe_mm"], "pa_mpjpe_mm": s["pa_mpjpe_mm"], "abs_mpjpe_mm": s["abs_mpjpe_mm"],
                   "per_subject_mae_cm": s.get("per_subject_mae_cm", {}), "checkpoint": "last",
                   "test_subject": test_subject, "train_minutes": round(train_min, 2),
                   "epochs": epochs, "stopped_at_budget": stopped,
                   "command": f"rfpose bench mars MARS_DIR --out {out_dir}"
                              + (f" --minutes {minutes:g}" if minutes else "")
                              + (f" --test-subject {test_subject}" if test_subject is not None else ""),
                   "machine": machine_info()}
            path = out / f"{model}{tag}-{split}.json"
            path.write_text(json.dumps(doc, indent=2))
            rows.append(doc)
    return rows


def _finished_run(run_dir: Path) -> tuple[int, float, bool]:
    """(epochs, training minutes, stopped by the time budget) of a run, from its metrics.csv and config."""
    with (run_dir / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    cfg = json.loads((run_dir / "config.json").read_text())["train"]
    epochs = int(rows[-1]["epoch"]) if rows else 0
    return epochs, round(float(rows[-1]["elapsed_s"]) / 60, 2) if rows else 0.0, epochs < int(cfg["epochs"] or 0)
