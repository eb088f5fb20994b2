"""Stages ``preprocess``, ``train`` and ``evaluate``: sessions → datasets → a trained, evaluated model."""

from __future__ import annotations

import contextlib
import logging

import numpy as np

from rfpose.app.demo.state import DemoState, jsonable, stage


def stage_preprocess(state: DemoState) -> None:
    from rfpose.dataset import PreprocessConfig
    from rfpose.preprocessing.dataset import build_dataset

    cfg, out = state.cfg, state.out
    with stage(state, "preprocess", needs=("annotate",)) as st:
        if st.status == "skipped":
            return
        ts = state.doc["training_set"]
        train_sessions = [s for subj in ts["train_subjects"] + ts["val_subjects"] for s in ts["by_subject"][subj]]
        test_sessions = ts["by_subject"][ts["test_subjects"][0]]
        datasets = {
            # what a user trains on: the auto labels (flagged frames left out)
            "train": (train_sessions, PreprocessConfig(format="rtpose", labels="auto",
                                                       val_subjects=tuple(ts["val_subjects"]))),
            # evaluation against the simulator's truth: the held-out subject, and the capture
            "test": (test_sessions, PreprocessConfig(format="rtpose", labels="gt",
                                                     test_subjects=tuple(ts["test_subjects"]))),
            "capture": ([state.doc["capture"]["session"]], PreprocessConfig(format="rtpose", labels="gt")),
        }
        state.doc["datasets"] = {}
        n = 0
        with contextlib.ExitStack() as stack:
            scheduler = cfg.scheduler
            if scheduler is None:  # one local cluster (2 workers x 1 thread) for the three datasets
                from dask.distributed import LocalCluster

                logging.getLogger("distributed").setLevel(logging.WARNING)
                cluster = stack.enter_context(LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                                                           processes=True))
                scheduler = cluster.scheduler_address
            for name, (sessions, pcfg) in datasets.items():
                path = out / "datasets" / f"{name}.zarr"
                summary = build_dataset(sessions, str(path), pcfg, scheduler=scheduler, overwrite=True,
                                        progress=False)
                state.doc["datasets"][name] = {"path": str(path), "labels": pcfg.labels, **jsonable(summary)}
                n += int(summary.get("samples", 0) or 0)
        st.items, st.unit = n, "frames"


def stage_train(state: DemoState) -> None:
    from rfpose.models.train import TrainConfig, train

    cfg, out = state.cfg, state.out
    with stage(state, "train", needs=("preprocess",)) as st:
        if st.status == "skipped":
            return
        run = out / "run"
        tcfg = TrainConfig(model=cfg.model, data=state.doc["datasets"]["train"]["path"], out=str(run),
                           epochs=1000, batch_size=cfg.batch_size, max_minutes=cfg.train_minutes, seed=cfg.seed,
                           threads=cfg.threads)
        result = train(tcfg)
        history = result.get("history", [])
        st.items, st.unit = result["epochs_done"] * _split_size(tcfg.data, 0), "training samples"
        st.detail = f"{result['epochs_done']} epochs in {cfg.train_minutes:g} min budget, on the auto labels"
        state.doc["training"] = {"run": str(run), "model": cfg.model, "labels": "auto",
                                 "epochs": result["epochs_done"], "train_samples": _split_size(tcfg.data, 0),
                                 "best_epoch": result["best_epoch"], "budget_minutes": cfg.train_minutes,
                                 "history": jsonable(history)}


def _split_size(dataset: str, code: int) -> int:
    import zarr

    return int((np.asarray(zarr.open_group(dataset, mode="r")["split"][:]) == code).sum())


def stage_evaluate(state: DemoState) -> None:
    from rfpose.models.evaluate import evaluate_run

    with stage(state, "evaluate", needs=("train",)) as st:
        if st.status == "skipped":
            return
        run, ds = state.doc["training"]["run"], state.doc["datasets"]
        summary = evaluate_run(run, ds["test"]["path"], split="test", progress=False)
        st.items, st.unit = summary.get("samples"), "test frames"
        state.doc["evaluation"] = jsonable(summary)
        if "capture" in ds:
            cap = evaluate_run(run, ds["capture"]["path"], split="train", progress=False)
            state.doc["evaluation_capture"] = jsonable(cap)
