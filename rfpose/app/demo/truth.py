"""Stage ``truth`` (evaluation only): the simulator's skeletons and clocks for the captured session."""

from __future__ import annotations

import numpy as np

from rfpose.app.demo.config import CAMERA
from rfpose.app.demo.rig import capture_rig
from rfpose.app.demo.state import DemoState, stage
from rfpose.errors import RfposeError


def stage_truth(state: DemoState) -> None:
    """Evaluation only: match captured radar frames to simulator frames by their bytes, add the simulator's
    skeletons as label set ``gt``, and work out each captured stream's true clock offset against the radar
    (the simulator knows when every recorded frame was really taken)."""
    from rfpose.session import SessionReader, add_label_set

    with stage(state, "truth", needs=("capture",)) as st:
        if st.status == "skipped":
            return
        cap = state.doc["capture"]
        rig = capture_rig(state.cfg, cap["sim_frames"])
        sim = rig.radar
        r = SessionReader(cap["session"])
        radar = r.stream("radar")
        n = len(radar)
        if n == 0:
            raise RfposeError("the capture recorded no radar frame")
        # The emulator starts at simulator frame 0 on sensorStart; confirm and find any offset from the bytes.
        first = radar[0].adc
        offset = next((k for k in range(min(len(sim), 10)) if np.array_equal(sim[k].adc, first)), None)
        identical = complete = 0
        sim_index = np.full(n, -1, np.int64)
        for i in range(n):
            f = radar[i]
            complete += f.complete
            k = ((offset or 0) + i) % len(sim)
            if np.array_equal(f.adc, sim[k].adc):
                identical += 1
                sim_index[i] = k
        matched = sim_index >= 0
        P = len(rig.world.people)
        joints = np.full((n, P, 15, 3), np.nan, np.float32)
        for i in np.flatnonzero(matched):
            joints[i] = rig.ground_truth(rig.label_time_s(int(sim_index[i])))
        ts = np.asarray(radar.raw_timestamps_ns)
        # true time − recorded time, per stream (median over frames); the radar's defines the rig clock
        lag = {"radar": float(np.median([sim.true_time_s(int(k)) * 1e9 - t for k, t in zip(sim_index[matched],
                                                                                           ts[matched])]))}
        for name in ("lidar", CAMERA):
            if name in r.streams and len(r.stream(name)):
                s = r.stream(name)
                src = rig.sources[name]
                lag[name] = float(np.median([src.true_time_s(int(k) % len(src)) * 1e9 - t
                                             for k, t in zip(s.source_indices, s.raw_timestamps_ns)]))
        r.close()
        add_label_set(cap["session"], "gt", "rtpose15", ts[matched], joints[matched], frame_index=np.flatnonzero(matched),
                      provenance={"method": "simulator", "matched": "radar frames identical to the simulator's "
                                  "bytes", "frame": "radar frame, metres", "use": "evaluation only"})
        cap.update({"radar_frames": n, "complete_frames": int(complete), "identical_to_simulator": int(identical),
                    "first_sim_frame": offset, "sim_index": sim_index.tolist(),
                    "true_clock_offset_ns": {k: int(round(v - lag["radar"])) for k, v in lag.items()}})
        st.items, st.unit = n, "radar frames"
        st.detail = f"{identical}/{n} captured frames byte-identical to the simulator's"
