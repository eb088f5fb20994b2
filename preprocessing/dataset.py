"""Sessions → training dataset (``DATASET.zarr``), the contract between preprocessing and models.

Layout (zarr v3 group; every per-sample array has the sample axis first, chunked by whole frames and
compressed with Blosc zstd):

- root attrs: ``rfpose_dataset_format`` "1.0", ``format`` (rtpose | hupr | points), ``input_spec``,
  ``config`` (the resolved :class:`PreprocessConfig` plus the processors' configs), ``sessions``
  (list of {path, name, subject, action, scene}), ``split_names`` ["train", "val", "test"],
  ``complete`` (False until every task has finished).
- rtpose: ``x`` (N, 32, 16, 64, 160) float16 — |X| max-pooled over Doppler pairs, divided by the chain
  gain N·L·V (values ≈ target amplitude in ADC LSB × window gain), clipped to the float16 range.
- hupr: ``x_hori``, ``x_vert`` (N, 16, 2, 64, 64, 8) float16 — (Doppler, re/im, range, az, el), complex
  maps divided by N·L·V. Temporal windows are formed at load time (:meth:`DatasetReader.hupr_window`).
- points: ``points_values`` (M, 5) float32 (x, y, z, v, snr) and ``points_offsets`` (N+1,) int64.
- labels: ``joints`` (N, P, J, 3) float32 metres in the radar frame (NaN for absent people),
  ``confidence`` (N, P, J), ``joints_2d`` (N, P, J, 2) when a camera stream with intrinsics exists
  (hupr: scaled to the 256×256 image convention).
- bookkeeping: ``timestamp_ns`` int64, ``session_index`` int32, ``frame_index`` int32 (radar frame index
  in its session), ``subject`` int32, ``split`` uint8 (0 train, 1 val, 2 test).

Labels: for each radar frame the label entry nearest in time is used; frames with no label within half a
frame period are skipped. Session labels are in the rig frame unless the label set's attrs say
``frame: "radar"``; they are mapped into the radar frame with the radar stream's extrinsics
(``T_rig_radar``). For hupr the horizontal stream is the reference and the vertical frame nearest in
time (within half a period) is paired with it.

Splits are by subject (session attrs ``subject``): explicit ``val_subjects``/``test_subjects``, or
fractions of the sorted subject list (test = the last max(1, round(f·n)) subjects, val the ones before);
with neither, everything is train. Subjects sort numerically when they are integers.

Work is split into tasks of ``frames_per_task`` consecutive samples of one session. Labels and
bookkeeping are written by the driver first; tasks write their tensor chunks and then their element of
the ``_done`` array (one chunk per task, so markers never race). A rerun with the same config skips
finished tasks; points tasks keep their output in ``_parts`` until the final gather.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from rfpose.errors import ConfigError, FormatError, UnknownNameError

log = logging.getLogger(__name__)

DATASET_FORMAT_VERSION = "1.0"
FORMATS = ("rtpose", "hupr", "points")
SPLIT_NAMES = ("train", "val", "test")
COMPRESSORS = (BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"),)
FLOAT16_MAX = 65504.0


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything that decides the dataset's content (saved in root attrs ``config``)."""

    format: str = "rtpose"
    radar_stream: str = "radar"
    hori_stream: str = "radar_hori"
    vert_stream: str = "radar_vert"
    labels: str = "gt"
    include_flagged: bool = False  # keep label entries an annotation flagged (label attrs "flags" != 0)
    camera_stream: str | None = None  # None: the first camera stream, if any
    frames_per_task: int = 8
    val_subjects: tuple[str, ...] = ()
    test_subjects: tuple[str, ...] = ()
    val_fraction: float = 0.0
    test_fraction: float = 0.0
    hupr_image_size: int = 256
    cfar: str = "ca"
    # rtpose voxel grid: centres span these limits (m, radar frame); counts (n_z, n_y, n_x). The default is
    # RT-Pose's training ROI; a smaller ROI at the same voxel size cuts preprocessing and training cost.
    grid_x_m: tuple[float, float] = (0.77, 7.98)
    grid_y_m: tuple[float, float] = (-5.03, 4.87)
    grid_z_m: tuple[float, float] = (-1.09, 4.35)
    grid_n_zyx: tuple[int, int, int] = (16, 64, 160)
    # rtpose chain windows over the loops and the virtual array (RT-Pose: none; see CartesianConfig)
    doppler_window: str = "none"
    angle_window: str = "none"

    def __post_init__(self):
        if self.format not in FORMATS:
            raise UnknownNameError("dataset format", self.format, FORMATS)
        if self.frames_per_task < 1:
            raise ConfigError("frames_per_task must be ≥ 1")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1):
            raise ConfigError("val/test fractions must be in [0, 1) and sum below 1")
        for name in ("grid_x_m", "grid_y_m", "grid_z_m"):
            lo, hi = getattr(self, name)
            if not lo < hi:
                raise ConfigError(f"{name} must be (min, max) with min < max, got {(lo, hi)}")
        if len(self.grid_n_zyx) != 3 or min(self.grid_n_zyx) < 1:
            raise ConfigError(f"grid_n_zyx must be three voxel counts ≥ 1, got {self.grid_n_zyx}")

    def grid_key(self) -> tuple:
        """Hashable voxel grid and chain windows (x_m, y_m, z_m, n_zyx, (doppler_window, angle_window)) for the
        processor cache and the task dicts."""
        return (tuple(map(float, self.grid_x_m)), tuple(map(float, self.grid_y_m)), tuple(map(float, self.grid_z_m)),
                tuple(map(int, self.grid_n_zyx)), (self.doppler_window, self.angle_window))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["val_subjects"], d["test_subjects"] = list(self.val_subjects), list(self.test_subjects)
        for k in ("grid_x_m", "grid_y_m", "grid_z_m", "grid_n_zyx"):
            d[k] = list(d[k])
        return d


# ------------------------------------------------------------------------------------------------
# processors (cached per worker process)
# ------------------------------------------------------------------------------------------------

_PROCESSORS: dict = {}


def _processor(fmt: str, board_name: str, cfg_text: str, workers: int, cfar: str = "ca", grid: tuple | None = None):
    """``grid``: :meth:`PreprocessConfig.grid_key` (rtpose only; None = the CartesianConfig default)."""
    key = (fmt, board_name, cfg_text, workers, cfar, grid)
    if key not in _PROCESSORS:
        from rfpose.boards import get_board
        from rfpose.radar_config import parse_cfg

        from rfpose.preprocessing.cartesian import CartesianConfig, CartesianProcessor
        from rfpose.preprocessing.hupr import HuprProcessor
        from rfpose.preprocessing.points import PointCloudConfig, PointCloudProcessor

        board = get_board(board_name)
        params = parse_cfg(cfg_text, f"<{board_name} cfg_text>").derive(board)
        if fmt == "rtpose":
            cc = None
            if grid is not None:
                (x_m, y_m, z_m, (n_z, n_y, n_x), (doppler_window, angle_window)) = grid
                cc = CartesianConfig(x_m=tuple(x_m), y_m=tuple(y_m), z_m=tuple(z_m), n_x=n_x, n_y=n_y, n_z=n_z,
                                     doppler_window=doppler_window, angle_window=angle_window)
            proc = CartesianProcessor(params, board, cc, workers=workers)
        elif fmt == "hupr":
            proc = HuprProcessor(params, board, workers=workers)
        else:
            proc = PointCloudProcessor(params, board, PointCloudConfig(method=cfar), workers=workers)
        gain = float(params.num_adc_samples * params.num_loops * params.num_tx * params.num_rx)
        _PROCESSORS[key] = (proc, params, board, gain)
    return _PROCESSORS[key]


def _radar_meta(stream, where: str) -> tuple[str, str]:
    meta = stream.metadata
    board, cfg_text = meta.get("board"), meta.get("cfg_text")
    if not board or not cfg_text:
        raise FormatError(f"{where}: radar stream attrs need 'board' and 'cfg_text' to be preprocessed")
    return board, cfg_text


# ------------------------------------------------------------------------------------------------
# planning (driver side)
# ------------------------------------------------------------------------------------------------


@dataclass
class _SessionPlan:
    path: str
    name: str
    subject: str
    action: Any
    scene: Any
    frames: np.ndarray  # radar frame positions in the (reference) stream
    vert_frames: np.ndarray | None
    timestamps: np.ndarray
    frame_index: np.ndarray
    joints: np.ndarray
    confidence: np.ndarray
    joints_2d: np.ndarray | None
    skeleton: str
    board: str = ""
    cfg_text: str = ""
    extra: dict = field(default_factory=dict)


def _nearest(ref_ts: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index into sorted ``ref_ts`` of the nearest entry to each query, and the absolute time gap."""
    order = np.argsort(ref_ts, kind="stable")
    srt = ref_ts[order]
    pos = np.clip(np.searchsorted(srt, query), 1, len(srt) - 1) if len(srt) > 1 else np.zeros(len(query), np.int64)
    if len(srt) > 1:
        left, right = srt[pos - 1], srt[pos]
        use_left = np.abs(query - left) <= np.abs(right - query)
        pos = np.where(use_left, pos - 1, pos)
    gap = np.abs(srt[pos] - query)
    return order[pos], gap


def _period_ns(params_period_s: float, ts: np.ndarray) -> float:
    if params_period_s > 0:
        return params_period_s * 1e9
    return float(np.median(np.diff(ts))) if len(ts) > 1 else 1e8


def _to_radar_frame(joints: np.ndarray, T_rig_radar: np.ndarray) -> np.ndarray:
    T = np.linalg.inv(np.asarray(T_rig_radar, np.float64))
    return (joints @ T[:3, :3].T + T[:3, 3]).astype(np.float32)


def _project(joints_rig: np.ndarray, cam_meta: dict) -> np.ndarray | None:
    K = cam_meta.get("intrinsics")
    if K is None:
        return None
    K = np.asarray(K, np.float64)
    T_cam_rig = np.linalg.inv(np.asarray(cam_meta.get("extrinsics", np.eye(4)), np.float64))
    p = joints_rig @ T_cam_rig[:3, :3].T + T_cam_rig[:3, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        uv = (p @ K.T)[..., :2] / p[..., 2:3]
    uv[p[..., 2] <= 0] = np.nan
    return uv.astype(np.float32)


def plan_session(path: str, cfg: PreprocessConfig) -> _SessionPlan:
    """Match radar frames to labels for one session (driver side, reads no ADC data)."""
    from rfpose.session import SessionReader
    from rfpose.radar_config import parse_cfg

    r = SessionReader(path)
    attrs = r.attrs
    ref_name = cfg.hori_stream if cfg.format == "hupr" else cfg.radar_stream
    ref = r.stream(ref_name)
    board, cfg_text = _radar_meta(ref, f"{path}/streams/{ref_name}")
    from rfpose.boards import get_board

    params = parse_cfg(cfg_text, f"{path}/streams/{ref_name}.cfg_text").derive(get_board(board))
    ts = np.asarray(ref.timestamps_ns, np.int64)
    half = _period_ns(params.frame_period_s, ts) / 2
    labels = r.labels(cfg.labels)
    keep = np.ones(len(ts), bool)
    if len(labels) == 0:
        keep[:] = False
        li = np.zeros(len(ts), np.int64)
    else:
        li, gap = _nearest(np.asarray(labels.timestamp_ns, np.int64), ts)
        keep &= gap <= half
        flags = labels.attrs.get("flags")
        if flags is not None and not cfg.include_flagged:
            flags = np.asarray(flags, np.int64)
            if flags.shape != (len(labels),):
                raise FormatError(f"{path}/labels/{cfg.labels}: attrs flags has {flags.shape[0]} values for "
                                  f"{len(labels)} entries")
            keep &= flags[li] == 0
    vert = None
    if cfg.format == "hupr":
        vs = r.stream(cfg.vert_stream)
        vb, vc = _radar_meta(vs, f"{path}/streams/{cfg.vert_stream}")
        if (vb, vc) != (board, cfg_text):
            raise FormatError(f"{path}: streams {ref_name} and {cfg.vert_stream} use different boards/configs; "
                              "HuPR needs the same radar twice")
        vts = np.asarray(vs.timestamps_ns, np.int64)
        if len(vts) == 0:
            keep[:] = False
            vi = np.zeros(len(ts), np.int64)
        else:
            vi, vgap = _nearest(vts, ts)
            keep &= vgap <= half
        vert = vi[keep]
    frames = np.flatnonzero(keep)
    li = li[keep]
    P, J = labels.max_people, labels.num_joints
    conf = np.asarray(labels.confidence, np.float32)[li] if len(frames) else np.zeros((0, P, J), np.float32)
    lab = np.asarray(labels.joints, np.float32)[li] if len(frames) else np.zeros((0, P, J, labels.dims), np.float32)
    in_radar = str(labels.attrs.get("frame", "rig")) == "radar"
    T_rig_radar = np.asarray(ref.metadata.get("extrinsics", np.eye(4)), np.float64)
    joints_2d = None
    cams = [n for n in r.streams if r.kind(n) == "camera"]
    cam_name = cfg.camera_stream or (cams[0] if cams else None)
    if labels.dims == 3:
        joints_rig = lab if not in_radar else (lab @ T_rig_radar[:3, :3].T + T_rig_radar[:3, 3])
        joints = lab if in_radar else _to_radar_frame(lab, T_rig_radar)
        if cam_name is not None:
            cam = r.stream(cam_name)
            joints_2d = _project(joints_rig.astype(np.float64), cam.metadata)
            if joints_2d is not None and cfg.format == "hupr":
                h, w = cam.metadata.get("height"), cam.metadata.get("width")
                joints_2d = joints_2d * np.array([cfg.hupr_image_size / w, cfg.hupr_image_size / h], np.float32)
    else:  # 2-D labels: pixel coordinates already; no 3-D joints
        joints = np.full(lab.shape[:-1] + (3,), np.nan, np.float32)
        joints_2d = lab.astype(np.float32)
    frame_index = frames  # position of the frame in the session's radar stream
    plan = _SessionPlan(path=str(path), name=Path(path).stem, subject=_session_subject(attrs),
                        action=attrs.get("action"), scene=attrs.get("scene"), frames=frames, vert_frames=vert,
                        timestamps=ts[frames], frame_index=np.asarray(frame_index, np.int64),
                        joints=joints.astype(np.float32), confidence=conf, joints_2d=joints_2d,
                        skeleton=labels.skeleton, board=board, cfg_text=cfg_text)
    r.close()
    return plan


def _session_subject(attrs: dict) -> str:
    """``attrs["subject"]``, else the first entry of the simulator's ``attrs["subjects"]`` (its
    ``subject_id``), else "" (no subject: everything lands in train)."""
    if attrs.get("subject") not in (None, ""):
        return str(attrs["subject"])
    subs = attrs.get("subjects")
    if isinstance(subs, (list, tuple)) and subs:
        first = subs[0]
        if isinstance(first, dict):
            return str(first.get("subject_id", first.get("id", "")))
        return str(first)
    return ""


def assign_splits(subjects: list[str], cfg: PreprocessConfig) -> dict[str, int]:
    """Subject → split code (0 train, 1 val, 2 test)."""
    uniq = sorted(set(subjects), key=lambda s: (not s.lstrip("-").isdigit(), int(s) if s.lstrip("-").isdigit() else 0, s))
    out = {s: 0 for s in uniq}
    if cfg.val_subjects or cfg.test_subjects:
        for s in cfg.val_subjects:
            if s not in out:
                raise ConfigError(f"--val-subjects names subject {s!r}, which no session has (subjects: {uniq})")
            out[s] = 1
        for s in cfg.test_subjects:
            if s not in out:
                raise ConfigError(f"--test-subjects names subject {s!r}, which no session has (subjects: {uniq})")
            out[s] = 2
        return out
    n = len(uniq)
    n_test = max(1, round(cfg.test_fraction * n)) if cfg.test_fraction else 0
    n_val = max(1, round(cfg.val_fraction * n)) if cfg.val_fraction else 0
    if n_test + n_val >= n and n > 0:
        raise ConfigError(f"val/test fractions leave no training subject ({n} subjects: {uniq})")
    for s in uniq[n - n_test:] if n_test else []:
        out[s] = 2
    for s in uniq[n - n_test - n_val:n - n_test] if n_val else []:
        out[s] = 1
    return out


def _subject_id(s: str, table: dict[str, int]) -> int:
    if s.lstrip("-").isdigit():
        return int(s)
    return table.setdefault(s, len(table))


# ------------------------------------------------------------------------------------------------
# tasks (worker side)
# ------------------------------------------------------------------------------------------------


def run_task(out_path: str, task: dict, fmt: str, workers: int = 1, cfar: str = "ca") -> int:
    """Process one task: read its radar frames, compute tensors, write them and the done marker."""
    from rfpose.session import SessionReader

    from rfpose.preprocessing.decode import decode_cascade_frames, decode_frames

    root = zarr.open_group(out_path, mode="r+")
    r = SessionReader(task["session_path"])
    try:
        names = [task["stream"]] + ([task["vert_stream"]] if fmt == "hupr" else [])
        frame_lists = [task["frames"]] + ([task["vert_frames"]] if fmt == "hupr" else [])
        results = []
        for name, frames in zip(names, frame_lists):
            s = r.stream(name)
            grid = task.get("grid")
            proc, params, board, gain = _processor(fmt, *_radar_meta(s, f"{task['session_path']}/streams/{name}"),
                                                   workers, cfar, None if grid is None else _grid_tuple(grid))
            lo, hi = min(frames), max(frames) + 1
            block = s.read(lo, hi)[np.asarray(frames) - lo]  # (n, words) or (n, chips, words)
            if board.capture == "tda2":
                x = np.concatenate([decode_cascade_frames(b, params) for b in block])
            else:
                x = decode_frames(block.reshape(-1), params)
            if fmt == "points":
                results.append([proc(f) for f in x])
            else:
                y = proc(x)
                if fmt == "rtpose":
                    results.append(np.minimum(y, FLOAT16_MAX).astype(np.float16))
                else:
                    y = y / np.float32(gain)
                    y = np.stack([y.real, y.imag], axis=2)
                    results.append(np.clip(y, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16))
    finally:
        r.close()
    i0, i1 = task["sample_start"], task["sample_stop"]
    if fmt == "rtpose":
        root["x"][i0:i1] = results[0]
    elif fmt == "hupr":
        root["x_hori"][i0:i1] = results[0]
        root["x_vert"][i0:i1] = results[1]
    else:
        pts = results[0]
        values = np.concatenate(pts) if pts else np.zeros((0, 5), np.float32)
        parts = root["_parts"]
        name = f"t{task['task']:07d}"
        if name in parts:
            del parts[name]
        arr = parts.create_array(name, shape=values.shape, dtype="float32", chunks=(max(len(values), 1), 5),
                                 attributes={"counts": [int(len(p)) for p in pts]})
        if len(values):
            arr[:] = values
    root["_done"][task["task"]] = True
    return task["task"]


# ------------------------------------------------------------------------------------------------
# building (driver)
# ------------------------------------------------------------------------------------------------


def _grid_tuple(grid) -> tuple:
    """A task's JSON-able grid (lists) back to :meth:`PreprocessConfig.grid_key` form."""
    x_m, y_m, z_m, n, windows = grid
    return (tuple(map(float, x_m)), tuple(map(float, y_m)), tuple(map(float, z_m)), tuple(map(int, n)),
            tuple(map(str, windows)))


def _windows_note(polar_cfg) -> str:
    """Non-default chain windows change what the values mean, so they belong in the input spec."""
    w = [f"{k.split('_')[0]} window {getattr(polar_cfg, k)}" for k in ("doppler_window", "angle_window")
         if getattr(polar_cfg, k) != "none"]
    return f"; {', '.join(w)}" if w else ""


def _input_spec(fmt: str, proc, skeleton: str) -> dict:
    if fmt == "rtpose":
        return {"tensor_format": "rtpose-dzyx-magnitude", "shape": list(proc.output_shape), "dtype": "float16",
                "normalisation": f"|X| max-pooled over Doppler pairs, divided by scale {proc.scale:g} (N·L·V, the "
                                 "chain's coherent gain), clipped to 65504" + _windows_note(proc.polar.config),
                "skeleton": skeleton, "axes": proc.axes_dict()}
    if fmt == "hupr":
        d, r, a, e = proc.output_shape
        return {"tensor_format": "hupr-ra-re-complex", "shape": [d, 2, r, a, e], "dtype": "float16",
                "normalisation": "complex FFT output divided by N·L·V (the chain's coherent gain); re/im on axis 1",
                "skeleton": skeleton, "axes": {**proc.axes.to_dict(), "order": ["doppler", "re_im", "range",
                                                                                "azimuth", "elevation"]}}
    return {"tensor_format": "points-xyzvs", "shape": [None, 5], "dtype": "float32",
            "normalisation": "none: metres, m/s (positive receding), dB", "skeleton": skeleton,
            "axes": {"fields": ["x", "y", "z", "v", "snr"]}}


def build_dataset(sessions: list[str], out: str, cfg: PreprocessConfig, scheduler: str | None = None,
                  overwrite: bool = False, progress: bool = True) -> dict:
    """Build (or resume) ``out`` from ``sessions``. Returns a summary dict.

    ``scheduler``: None → a dask LocalCluster (2 workers × 1 thread, no dashboard); "synchronous" → in
    process; anything else is the address of a running dask scheduler.
    """
    from tqdm import tqdm

    if not sessions:
        raise ConfigError("no sessions given")
    out_p = Path(out)
    plans = [plan_session(s, cfg) for s in sessions]
    fmt = cfg.format
    proc, params, board, gain = _processor(fmt, plans[0].board, plans[0].cfg_text, -1, cfg.cfar, cfg.grid_key())
    for p in plans[1:]:
        if (p.board, p.cfg_text) != (plans[0].board, plans[0].cfg_text) and fmt != "points":
            raise FormatError(f"{p.path}: radar board/config differ from {plans[0].path}; one dataset needs one "
                              "tensor shape")
    P = max(p.joints.shape[1] for p in plans)
    J = plans[0].joints.shape[2]
    skeleton = plans[0].skeleton
    for p in plans:
        if p.joints.shape[2] != J:
            raise FormatError(f"{p.path}: labels have {p.joints.shape[2]} joints, {plans[0].path} has {J}")
    N = sum(len(p.frames) for p in plans)
    if N == 0:
        raise FormatError("no radar frame has a label within half a frame period in any session")
    split_of = assign_splits([p.subject for p in plans], cfg)
    config_doc = {"preprocess": cfg.to_dict(), "processor": proc.to_dict(), "radar": params.summary(),
                  "board": board.name}
    config_doc = _jsonable(config_doc)

    # -- tasks -----------------------------------------------------------------------------------
    tasks, start = [], 0
    for si, p in enumerate(plans):
        for a in range(0, len(p.frames), cfg.frames_per_task):
            b = min(a + cfg.frames_per_task, len(p.frames))
            tasks.append({"task": len(tasks), "session_path": p.path,
                          "stream": cfg.hori_stream if fmt == "hupr" else cfg.radar_stream,
                          "vert_stream": cfg.vert_stream, "frames": p.frames[a:b].tolist(),
                          "vert_frames": p.vert_frames[a:b].tolist() if p.vert_frames is not None else None,
                          "grid": [list(v) for v in cfg.grid_key()],
                          "sample_start": start + a, "sample_stop": start + b})
        start += len(p.frames)

    root = _open_or_create(out_p, cfg, config_doc, overwrite, [p.path for p in plans])
    if root is None:
        root = _create(out_p, plans, cfg, config_doc, proc, fmt, N, P, J, skeleton, split_of, len(tasks))
    if root.attrs.get("complete"):
        log.info("%s: already complete", out_p)
        return {"path": str(out_p), "samples": N, "tasks": len(tasks), "skipped_tasks": len(tasks), "format": fmt}
    done = np.asarray(root["_done"][:], bool)
    if len(done) != len(tasks):
        raise FormatError(f"{out_p}: has {len(done)} task markers, the sessions give {len(tasks)}; rerun with "
                          "--overwrite")
    todo = [t for t in tasks if not done[t["task"]]]
    if len(todo) < len(tasks):
        log.info("%s: resuming, %d of %d tasks already done", out_p, len(tasks) - len(todo), len(tasks))
    _run_all(str(out_p), todo, fmt, scheduler, progress, cfg.cfar, tqdm)
    if fmt == "points":
        _gather_points(root, len(tasks))
    root.attrs["complete"] = True
    if fmt == "points":
        del root["_parts"]  # only after "complete": a crash before this point can still re-gather
    return {"path": str(out_p), "samples": N, "tasks": len(tasks), "skipped_tasks": len(tasks) - len(todo),
            "format": fmt}


def _jsonable(x):
    import json

    return json.loads(json.dumps(x, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def _open_or_create(out_p: Path, cfg: PreprocessConfig, config_doc: dict, overwrite: bool, session_paths: list[str]):
    if not out_p.exists():
        return None
    is_zarr = (out_p / "zarr.json").exists()
    if overwrite:
        if not is_zarr and any(out_p.iterdir()):
            raise ConfigError("refusing to overwrite: not a zarr store", str(out_p))
        shutil.rmtree(out_p)
        return None
    if not is_zarr:
        raise ConfigError("output exists and is not a dataset (pass --overwrite to replace)", str(out_p))
    root = zarr.open_group(str(out_p), mode="r+")
    attrs = dict(root.attrs)
    if attrs.get("rfpose_dataset_format") != DATASET_FORMAT_VERSION or "_done" not in root:
        raise ConfigError("output exists and is not a resumable rfpose dataset (pass --overwrite)", str(out_p))
    if attrs.get("config") != config_doc:
        raise ConfigError("output exists with a different config; pass --overwrite to rebuild", str(out_p))
    built_from = [s["path"] for s in attrs.get("sessions", [])]
    if built_from != session_paths:
        raise ConfigError(f"output exists, built from {len(built_from)} other sessions than the {len(session_paths)} "
                          "given; pass --overwrite to rebuild", str(out_p))
    return root


def _create(out_p, plans, cfg, config_doc, proc, fmt, N, P, J, skeleton, split_of, n_tasks):
    root = zarr.open_group(str(out_p), mode="w", zarr_format=3)
    spec = _input_spec(fmt, proc, skeleton)
    small = min(max(N, 1), 4096)

    def arr(name, shape, dtype, chunks, fill=0):
        return root.create_array(name, shape=shape, dtype=dtype, chunks=chunks, compressors=COMPRESSORS,
                                 fill_value=fill)

    if fmt == "rtpose":
        arr("x", (N, *proc.output_shape), "float16", (1, *proc.output_shape))
    elif fmt == "hupr":
        s = tuple(spec["shape"])
        arr("x_hori", (N, *s), "float16", (1, *s))
        arr("x_vert", (N, *s), "float16", (1, *s))
    else:
        root.create_group("_parts")
    joints = np.full((N, P, J, 3), np.nan, np.float32)
    conf = np.zeros((N, P, J), np.float32)
    has2d = all(p.joints_2d is not None for p in plans)
    j2d = np.full((N, P, J, 2), np.nan, np.float32) if has2d else None
    ts = np.zeros(N, np.int64)
    sess = np.zeros(N, np.int32)
    fidx = np.zeros(N, np.int32)
    subj = np.zeros(N, np.int32)
    split = np.zeros(N, np.uint8)
    names: dict[str, int] = {}
    i = 0
    for si, p in enumerate(plans):
        n = len(p.frames)
        pp = p.joints.shape[1]
        joints[i:i + n, :pp] = p.joints
        conf[i:i + n, :pp] = np.nan_to_num(p.confidence)
        if j2d is not None:
            j2d[i:i + n, :pp] = p.joints_2d
        ts[i:i + n], sess[i:i + n], fidx[i:i + n] = p.timestamps, si, p.frame_index
        subj[i:i + n] = _subject_id(p.subject, names) if p.subject else -1
        split[i:i + n] = split_of[p.subject]
        i += n
    arr("joints", joints.shape, "float32", (small, P, J, 3), fill=np.nan)[:] = joints
    arr("confidence", conf.shape, "float32", (small, P, J))[:] = conf
    if j2d is not None:
        arr("joints_2d", j2d.shape, "float32", (small, P, J, 2), fill=np.nan)[:] = j2d
    for name, a in (("timestamp_ns", ts), ("session_index", sess), ("frame_index", fidx), ("subject", subj),
                    ("split", split)):
        arr(name, a.shape, a.dtype, (small,))[:] = a
    root.create_array("_done", shape=(n_tasks,), dtype="bool", chunks=(1,), fill_value=False)
    root.attrs.update({
        "rfpose_dataset_format": DATASET_FORMAT_VERSION, "format": fmt, "input_spec": _jsonable(spec),
        "config": config_doc, "split_names": list(SPLIT_NAMES), "complete": False,
        "sessions": [{"path": p.path, "name": p.name, "subject": p.subject, "action": _jsonable(p.action),
                      "scene": _jsonable(p.scene)} for p in plans],
    })
    return root


def _run_all(out_path: str, tasks: list[dict], fmt: str, scheduler: str | None, progress: bool, cfar: str, tqdm):
    if not tasks:
        return
    bar = tqdm(total=len(tasks), desc=f"preprocess {fmt}", unit="task", disable=not progress)
    if scheduler == "synchronous":
        for t in tasks:
            run_task(out_path, t, fmt, -1, cfar)
            bar.update(1)
        bar.close()
        return
    from dask.distributed import Client, LocalCluster, as_completed

    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:  # dask logs its start-up chatter at INFO
        logging.getLogger("distributed").setLevel(logging.WARNING)
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, processes=True)
        client = Client(cluster)
    try:
        futures = client.map(run_task, [out_path] * len(tasks), tasks, [fmt] * len(tasks), [1] * len(tasks),
                             [cfar] * len(tasks), pure=False)
        for fut in as_completed(futures):
            fut.result()  # re-raises a worker's error here
            bar.update(1)
    finally:
        bar.close()
        client.close()
        if cluster is not None:
            cluster.close()


def _gather_points(root, n_tasks: int) -> None:
    parts = root["_parts"]
    vals, counts = [], []
    for t in range(n_tasks):
        a = parts[f"t{t:07d}"]
        counts.extend(a.attrs["counts"])
        vals.append(a[:] if a.shape[0] else np.zeros((0, 5), np.float32))
    values = np.concatenate(vals) if vals else np.zeros((0, 5), np.float32)
    offsets = np.zeros(len(counts) + 1, np.int64)
    offsets[1:] = np.cumsum(counts)
    for name in ("points_values", "points_offsets"):
        if name in root:
            del root[name]
    root.create_array("points_values", shape=values.shape, dtype="float32",
                      chunks=(max(min(len(values), 1 << 16), 1), 5), compressors=COMPRESSORS)[:] = values
    root.create_array("points_offsets", shape=offsets.shape, dtype="int64", chunks=(len(offsets),),
                      compressors=COMPRESSORS)[:] = offsets


# ------------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------------


class DatasetReader:
    """Read a dataset written by ``rfpose preprocess``.

    ``len(r)`` samples; ``r[i]`` a dict of numpy arrays for sample i; ``r.indices(split)`` the samples of a
    split; ``r.hupr_window(i)`` the (8, …) temporal windows of both HuPR views around sample i.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / "zarr.json").exists():
            raise FormatError(f"{self.path}: not a dataset (no zarr.json)")
        self.root = zarr.open_group(str(self.path), mode="r")
        self.attrs = dict(self.root.attrs)
        if self.attrs.get("rfpose_dataset_format") != DATASET_FORMAT_VERSION:
            raise FormatError(f"{self.path}: rfpose_dataset_format {self.attrs.get('rfpose_dataset_format')!r}, "
                              f"expected {DATASET_FORMAT_VERSION}")
        if not self.attrs.get("complete", False):
            raise FormatError(f"{self.path}: dataset is incomplete (interrupted build? rerun rfpose preprocess)")
        self.format = self.attrs["format"]
        self.input_spec = self.attrs["input_spec"]
        self.session_index = self.root["session_index"][:]
        self.frame_index = self.root["frame_index"][:]
        self.split = self.root["split"][:]
        self._offsets = self.root["points_offsets"][:] if self.format == "points" else None

    def __len__(self) -> int:
        return int(self.session_index.shape[0])

    def indices(self, split: str | int) -> np.ndarray:
        code = SPLIT_NAMES.index(split) if isinstance(split, str) else int(split)
        return np.flatnonzero(self.split == code)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if self.format == "rtpose":
            out["x"] = self.root["x"][i]
        elif self.format == "hupr":
            out["x_hori"], out["x_vert"] = self.root["x_hori"][i], self.root["x_vert"][i]
        else:
            a, b = int(self._offsets[i]), int(self._offsets[i + 1])
            out["points"] = self.root["points_values"][a:b]
        for k in ("joints", "confidence", "joints_2d", "timestamp_ns", "subject"):
            if k in self.root:
                out[k] = self.root[k][i]
        out["session_index"], out["frame_index"] = self.session_index[i], self.frame_index[i]
        return out

    def window_indices(self, i: int, length: int = 8, target_position: int = 4) -> np.ndarray:
        """Sample indices of a temporal window around i from the same session, clamped at its edges."""
        s = self.session_index[i]
        same = np.flatnonzero(self.session_index == s)
        k = int(np.searchsorted(same, i))
        pos = np.clip(np.arange(length) - target_position + k, 0, len(same) - 1)
        return same[pos]

    def hupr_window(self, i: int, length: int = 8, target_position: int = 4) -> tuple[np.ndarray, np.ndarray]:
        idx = self.window_indices(i, length, target_position)
        return (np.stack([self.root["x_hori"][j] for j in idx]), np.stack([self.root["x_vert"][j] for j in idx]))
