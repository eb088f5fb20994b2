"""``run_demo``: every stage in order, then the figures and the report."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from rfpose.app.demo.annotate import stage_annotate
from rfpose.app.demo.calibrate import stage_calibrate
from rfpose.app.demo.capture import stage_capture, stage_capture_calibration
from rfpose.app.demo.config import DemoConfig
from rfpose.app.demo.figures import make_figures
from rfpose.app.demo.monitor import stage_monitor
from rfpose.app.demo.replay import stage_replay
from rfpose.app.demo.report import write_demo_report
from rfpose.app.demo.rig import rig_table
from rfpose.app.demo.simulate import stage_simulate
from rfpose.app.demo.state import DemoState, stage
from rfpose.app.demo.training import stage_evaluate, stage_preprocess, stage_train
from rfpose.app.demo.truth import stage_truth


def run_demo(cfg: DemoConfig) -> dict:
    """Run every stage, write the report; returns the report document."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    state = DemoState(cfg, out)
    state.doc["config"] = dataclasses.asdict(cfg)
    t0 = time.perf_counter()
    rig_table(state)
    stage_capture(state)
    stage_capture_calibration(state)
    stage_truth(state)
    stage_simulate(state)
    stage_calibrate(state)
    stage_annotate(state)
    stage_preprocess(state)
    stage_train(state)
    stage_evaluate(state)
    stage_replay(state)
    stage_monitor(state)
    with stage(state, "figures") as st:
        make_figures(state)
        st.items, st.unit = len(state.figures), "figures"
    state.doc["total_seconds"] = time.perf_counter() - t0
    path = write_demo_report(state)
    print(f"[demo] report: {path}", flush=True)
    return state.doc
