"""Stage ``replay``: the captured session, radar only, frame by frame through the trained model."""

from __future__ import annotations

import time

import numpy as np

from rfpose.app.demo.state import DemoState, jsonable, stage


def stage_replay(state: DemoState) -> None:
    from rfpose.drivers.realtime import RealtimeSource
    from rfpose.app.live import RadarPosePipeline
    from rfpose.metrics import pose3d_summary
    from rfpose.session import SessionReader

    cfg = state.cfg
    with stage(state, "replay", needs=("train", "truth")) as st:
        if st.status == "skipped":
            return
        r = SessionReader(state.doc["capture"]["session"])
        radar = r.stream("radar")
        meta = radar.metadata
        pipe = RadarPosePipeline(state.doc["training"]["run"], meta["board"], meta["cfg_text"], threads=cfg.threads)
        labels = r.labels("gt")
        truth = {int(f): labels.joints[i] for i, f in enumerate(labels.frame_index)}
        lat, preds, gts, idx, behind = [], [], [], [], 0
        t_start = time.perf_counter()
        live = RealtimeSource(radar, restamp=False, drop_late=False)  # every frame, at the recorded pace
        period = 1.0 / max(meta.get("rate_hz", 10.0) or 10.0, 1e-3)
        for n_seen, frame in enumerate(live):
            t_arrival = time.perf_counter()
            res = pipe(frame.adc)
            lat.append(res.latency_ms)
            behind += (time.perf_counter() - t_arrival) > period
            if frame.index in truth and len(res.joints):
                preds.append(res.joints[0])
                gts.append(truth[frame.index][0])
                idx.append(frame.index)
        wall = time.perf_counter() - t_start
        r.close()
        total = np.array([x["total"] for x in lat])
        stages = {k: {"median_ms": float(np.median([x[k] for x in lat])),
                      "p95_ms": float(np.percentile([x[k] for x in lat], 95))} for k in lat[0]}
        doc = {"frames": len(lat), "wall_seconds": wall, "latency": stages,
               "frames_per_s_capacity": float(1000.0 / np.median(total)),
               "frames_over_period": int(behind), "period_ms": period * 1e3, "latency_ms_all": total.tolist()}
        if preds:
            m = pose3d_summary(np.stack(preds), np.stack(gts))
            doc["metrics"] = {k: v for k, v in m.items() if not isinstance(v, dict)}
            doc["samples"] = {"frame_index": idx, "pred": np.stack(preds).tolist(), "true": np.stack(gts).tolist()}
        state.doc["replay"] = jsonable(doc)
        st.items, st.unit = len(lat), "frames"
        st.detail = (f"median {stages['total']['median_ms']:.0f} ms/frame; "
                       f"{behind} of {len(lat)} frames took longer than the {period * 1e3:.0f} ms frame period")
