"""Stage ``annotate``: ``rfpose annotate`` on every session with a camera; label error for the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rfpose.app.demo.config import CAMERA
from rfpose.app.demo.state import DemoState, stage


def stage_annotate(state: DemoState) -> None:
    """``rfpose annotate`` on every session with a camera (training set and capture): label set ``auto``.
    The label error against ``gt`` is computed afterwards, for the report only."""
    from rfpose.annotation.pipeline import AnnotateParams
    from rfpose.annotation.run import annotate_session, write_labels
    from rfpose.app.annotation_report import truth_errors
    from rfpose.session import open_session

    cfg = state.cfg
    with stage(state, "annotate", needs=("calibrate",)) as st:
        if st.status == "skipped":
            return
        ts = state.doc["training_set"]
        test = set(ts["by_subject"][ts["test_subjects"][0]])
        sessions = [s for s in ts["sessions"] if s not in test] + [state.doc["capture"]["session"]]
        rows, errs, det_s, lab_s, frames = [], [], 0.0, 0.0, 0
        for path in sessions:
            reader = open_session(path)
            ann, summary = annotate_session(reader, cfg.detector, [CAMERA], True, AnnotateParams(), progress=False)
            write_labels(path, "auto", ann, force=True)
            det_s += summary["detector_seconds"]
            lab_s += summary["labelling_seconds"]
            frames += summary["radar_frames"]
            e = truth_errors(open_session(path), ann)  # evaluation only
            good = e[ann.labelled] if e is not None else None  # unflagged, complete labels
            row = {"session": Path(path).name, "radar_frames": summary["radar_frames"],
                   "labelled": summary["labelled"], "flagged": int(sum(summary["flagged"].values())),
                   "mean_quality": float(summary["mean_quality"])}
            if good is not None and np.isfinite(good).any():
                row["mpjpe_mm"] = float(np.nanmean(good) * 1e3)
                row["pelvis_mm"] = float(np.nanmean(good[:, 0]) * 1e3)
                errs.append(good)
            rows.append(row)
        allerr = np.concatenate(errs) if errs else np.zeros((0, 15))
        state.doc["annotation"] = {
            "detector": cfg.detector, "cameras": [CAMERA], "lidar": True, "sessions": rows,
            "radar_frames": frames, "labelled": int(sum(r["labelled"] for r in rows)),
            "mpjpe_mm": float(np.nanmean(allerr) * 1e3) if allerr.size else None,
            "pelvis_mm": float(np.nanmean(allerr[:, 0]) * 1e3) if allerr.size else None,
            "per_joint_mm": (np.nanmean(allerr, axis=0) * 1e3).tolist() if allerr.size else [],
            "detector_seconds": det_s, "labelling_seconds": lab_s,
            "labelling_fps": frames / lab_s if lab_s > 0 else None}
        st.items, st.unit = frames, "radar frames"
        a = state.doc["annotation"]
        st.detail = (f"{a['labelled']}/{frames} radar frames labelled; MPJPE vs truth "
                     + (f"{a['mpjpe_mm']:.0f} mm" if a["mpjpe_mm"] is not None else "n/a")
                     + f"; detector {det_s:.0f} s")
