"""A session writer for the crash test: records deterministic frames until it is killed.

    python tests/session_kill_writer.py OUT.zarr [--max-frames N] [--self-kill POINT:FRAME]

After each loop iteration (one radar, LiDAR, radar-point-cloud, camera frame and one label entry, each
committed) it
prints the number of whole iterations on stdout, so the parent knows what must survive. With
``--self-kill`` it SIGKILLs itself at an exact point of the write protocol on iteration FRAME:
``after_payload`` (ADC chunk written, nothing committed), ``mid_flush`` (one scalar array of the
commit written, the rest not), ``before_replace`` (new marker written to its temp file, not renamed).
The parent recomputes every frame with the functions below and compares.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

import numpy as np

from rfpose.boards import get_board
from rfpose.source import LIDAR_POINT_DTYPE, RADAR_POINT_DTYPE, CameraFrame, LidarFrame, PointCloudFrame, RadarFrame

BOARD = "awr1843boost"
CAM_H, CAM_W = 96, 128
T0_NS = 1_700_000_000_000_000_000
PERIOD_NS = 50_000_000


def timestamp(i: int) -> int:
    return T0_NS + i * PERIOD_NS


_BASE: dict[int, np.ndarray] = {}


def radar_frame(i: int, words: int) -> RadarFrame:
    # cheap to make (so a kill mostly lands inside the writer), distinct per frame, ADC-like statistics
    if words not in _BASE:
        rng = np.random.default_rng(1000)
        _BASE[words] = (400 * np.sin(np.arange(words) * 0.01) + rng.normal(0, 30, words)).astype(np.int16)
    adc = np.roll(_BASE[words], 7919 * i) ^ np.int16(i)
    return RadarFrame(index=i, timestamp_ns=timestamp(i), adc=adc, lost_bytes=(i % 3) * 1456, complete=i % 3 == 0)


def lidar_frame(i: int) -> LidarFrame:
    n = 0 if i % 4 == 0 else 500 + 311 * i
    rng = np.random.default_rng(2000 + i)
    pts = np.zeros(n, LIDAR_POINT_DTYPE)
    for f in ("x", "y", "z", "intensity"):
        pts[f] = rng.normal(0, 5, n)
    pts["time_offset_ns"] = rng.integers(0, PERIOD_NS, n)
    return LidarFrame(index=i, timestamp_ns=timestamp(i) + 3_000_000, points=pts)


def points_frame(i: int) -> PointCloudFrame:
    n = 0 if i % 5 == 2 else 3 + 17 * (i % 7)
    rng = np.random.default_rng(4000 + i)
    pts = np.zeros(n, RADAR_POINT_DTYPE)
    for f in RADAR_POINT_DTYPE.names:
        pts[f] = rng.normal(0, 4, n)
    return PointCloudFrame(index=i, timestamp_ns=timestamp(i) + 5_000_000, points=pts, frame_number=1000 + 2 * i)


def camera_frame(i: int) -> CameraFrame:
    yy, xx = np.mgrid[0:CAM_H, 0:CAM_W]
    img = np.stack([(xx + i) % 256, (yy * 2 + i) % 256, np.full_like(xx, (7 * i) % 256)], axis=-1).astype(np.uint8)
    return CameraFrame(index=i, timestamp_ns=timestamp(i) + 7_000_000, image=img)


def label(i: int) -> tuple[np.ndarray, np.ndarray]:
    people = 1 + i % 2
    rng = np.random.default_rng(3000 + i)
    return (rng.normal(0, 1, (people, 15, 3)).astype(np.float32),
            rng.uniform(0, 1, (people, 15)).astype(np.float32))


def _install_self_kill(point: str, frame: int) -> None:
    """Wrap one step of the write protocol so the process SIGKILLs itself there on iteration ``frame``."""
    from rfpose.session import commit as commit_mod
    from rfpose.session import writer as writer_mod

    state = {"iteration": -1}

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "after_payload":
        orig = writer_mod._RadarWriter.append

        def append(self, fr):
            orig(self, fr)
            if fr.index == frame:
                die()
        writer_mod._RadarWriter.append = append
    elif point == "mid_flush":
        orig = writer_mod._Frames.flush

        def flush(self):
            if self.where == "streams/radar" and self.written == frame + 1 and self.written > self.committed:
                name, values = next(iter(self.pending.items()))
                self.arrays[name][self.committed:self.written] = np.asarray(values, self.scalars[name])
                die()
            orig(self)
        writer_mod._Frames.flush = flush
    elif point == "before_replace":
        orig_replace = os.replace

        def replace(src, dst, *a, **k):
            if str(dst).endswith(commit_mod.COMMIT_FILE) and state["iteration"] == frame:
                die()
            orig_replace(src, dst, *a, **k)
        os.replace = replace
    else:
        raise SystemExit(f"unknown self-kill point {point!r}")
    globals()["_state"] = state


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--max-frames", type=int, default=100_000)
    ap.add_argument("--self-kill", default=None)
    args = ap.parse_args(argv)
    if args.self_kill:
        point, frame = args.self_kill.split(":")
        _install_self_kill(point, int(frame))
    from rfpose.session import SessionWriter

    board = get_board(BOARD)
    cfg_text = board.default_config().to_text()
    with SessionWriter(args.out, attrs={"rig": {"name": "kill-test"}}, overwrite=True) as w:
        w.add_radar_stream("radar", board=BOARD, cfg_text=cfg_text)
        w.add_lidar_stream("lidar")
        w.add_points_stream("points", board=BOARD, cfg_text=cfg_text)
        w.add_camera_stream("cam", height=CAM_H, width=CAM_W, intrinsics=np.eye(3))
        w.add_labels("gt", skeleton="rtpose15", dims=3, max_people=2, provenance={"method": "kill-test"})
        words = w._streams["radar"].frame_shape[0]
        for i in range(args.max_frames):
            if "_state" in globals():
                globals()["_state"]["iteration"] = i
            w.append("radar", radar_frame(i, words))
            w.append("lidar", lidar_frame(i))
            w.append("points", points_frame(i))
            w.append("cam", camera_frame(i))
            j, c = label(i)
            w.append_labels("gt", timestamp(i), j, c, frame_index=i)
            sys.stdout.write(f"{i + 1}\n")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
