"""Sessions → training dataset (``DATASET.zarr``): the planning and the parallel build.

The format itself (layout, writer, reader, the typed :class:`~rfpose.dataset.PreprocessConfig`) is core:
:mod:`rfpose.dataset`. Processors come from :func:`rfpose.preprocessing.factory.build_processor`, the same
factory training and the live pipeline use, so the saved config rebuilds these tensors exactly.

Labels: for each radar frame the entry of the label set ``config.labels`` nearest in time is used; frames
with no label within half a frame period are skipped. Session labels are in the rig frame unless the label
set's attrs say ``frame: "radar"``; they are mapped into the radar frame with the radar stream's extrinsics
(``T_rig_radar``). For hupr the horizontal stream is the reference and the vertical frame nearest in
time (within half a period) is paired with it. ``joints_2d`` come from a camera stream with intrinsics
(hupr: scaled to the 256×256 image convention).

Splits are by subject (session attrs ``subject``): explicit ``val_subjects``/``test_subjects``, or
fractions of the sorted subject list (test = the last max(1, round(f·n)) subjects, val the ones before);
with neither, everything is train. Subjects sort numerically when they are integers.

Work is split into tasks of ``frames_per_task`` consecutive samples of one session. Labels and
bookkeeping are written by the driver first; tasks write their tensor chunks and then their element of
the ``_done`` array (one chunk per task, so markers never race). A rerun with the same config skips
finished tasks; points tasks keep their output in ``_parts`` until the final gather.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rfpose.dataset import (DATASET_FORMAT_VERSION, FLOAT16_MAX, TENSOR_ARRAYS, DatasetReader,  # noqa: F401
                            DatasetWriter, PreprocessConfig, SampleTable, jsonable)
from rfpose.errors import ConfigError, FormatError

from rfpose.preprocessing.factory import cached_processor

log = logging.getLogger(__name__)


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
    stream_kind: str = "radar"  # "radar" (raw ADC) or "points" (a device's point clouds)
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
        if not cfg.include_flagged:
            try:
                keep &= labels.flags()[li] == 0
            except FormatError as e:
                raise FormatError(f"{path}: {e}") from None
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
        if cfg.format == "hupr":  # camera pixels → the square label image (HuPR's 256 × 256)
            size = labels.attrs.get("image_size")
            if size is None and cam_name is not None:
                m = r.stream(cam_name).metadata
                size = (m.get("width"), m.get("height")) if m.get("width") and m.get("height") else None
            if size is None:
                raise FormatError(f"{path}/labels/{cfg.labels}: 2-D labels need the image size (label attrs "
                                  "'image_size' or a camera stream with width and height) to be scaled to the "
                                  f"{cfg.hupr_image_size}-pixel label image")
            joints_2d = joints_2d * np.array([cfg.hupr_image_size / size[0], cfg.hupr_image_size / size[1]],
                                             np.float32)
    frame_index = frames  # position of the frame in the session's radar stream
    plan = _SessionPlan(path=str(path), name=Path(path).stem, subject=_session_subject(attrs),
                        action=attrs.get("action"), scene=attrs.get("scene"), frames=frames, vert_frames=vert,
                        timestamps=ts[frames], frame_index=np.asarray(frame_index, np.int64),
                        joints=joints.astype(np.float32), confidence=conf, joints_2d=joints_2d,
                        skeleton=labels.skeleton, board=board, cfg_text=cfg_text, stream_kind=r.kind(ref_name))
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


def run_task(out_path: str, task: dict, cfg: PreprocessConfig, workers: int = 1) -> int:
    """Process one task: read its radar frames, compute tensors, write them and the done marker."""
    from rfpose.session import SessionReader

    from rfpose.preprocessing.decode import decode_cascade_frames, decode_frames

    fmt = cfg.format
    r = SessionReader(task["session_path"])
    try:
        names = [task["stream"]] + ([task["vert_stream"]] if fmt == "hupr" else [])
        frame_lists = [task["frames"]] + ([task["vert_frames"]] if fmt == "hupr" else [])
        results = []
        for name, frames in zip(names, frame_lists):
            s = r.stream(name)
            proc = cached_processor(cfg, *_radar_meta(s, f"{task['session_path']}/streams/{name}"), workers)
            lo, hi = min(frames), max(frames) + 1
            if proc.takes_points:
                results.append(proc([s[i].points for i in frames]))
                continue
            block = s.read_block(lo, hi)[np.asarray(frames) - lo]  # (n, words) or (n, chips, words)
            if proc.board.capture == "tda2":
                x = np.concatenate([decode_cascade_frames(b, proc.params) for b in block])
            else:
                x = decode_frames(block.reshape(-1), proc.params)
            results.append(proc(x))
    finally:
        r.close()
    writer = DatasetWriter.open(out_path)
    if fmt == "points":
        writer.write_points(task["task"], results[0])
    else:
        writer.write(task["sample_start"], task["sample_stop"], **dict(zip(TENSOR_ARRAYS[fmt], results)))
    writer.mark_done(task["task"])
    return task["task"]


# ------------------------------------------------------------------------------------------------
# building (driver)
# ------------------------------------------------------------------------------------------------


def build_dataset(sessions: list[str], out: str, cfg: PreprocessConfig, scheduler: str | None = None,
                  overwrite: bool = False, progress: bool = True) -> dict:
    """Build (or resume) ``out`` from ``sessions``. Returns a summary dict.

    ``scheduler``: None → a dask LocalCluster (2 workers × 1 thread, no dashboard); "synchronous" → in
    process; anything else is the address of a running dask scheduler.
    """
    from tqdm import tqdm

    if not sessions:
        raise ConfigError("no sessions given")
    plans = [plan_session(s, cfg) for s in sessions]
    fmt = cfg.format
    cfg = _points_source(cfg, plans)
    proc = cached_processor(cfg, plans[0].board, plans[0].cfg_text, -1)
    for p in plans[1:]:
        if (p.board, p.cfg_text) != (plans[0].board, plans[0].cfg_text) and fmt != "points":
            raise FormatError(f"{p.path}: radar board/config differ from {plans[0].path}; one dataset needs one "
                              "tensor shape")
    J = plans[0].joints.shape[2]
    for p in plans:
        if p.joints.shape[2] != J:
            raise FormatError(f"{p.path}: labels have {p.joints.shape[2]} joints, {plans[0].path} has {J}")
    N = sum(len(p.frames) for p in plans)
    if N == 0:
        raise FormatError("no radar frame has a label within half a frame period in any session")
    config_doc = jsonable({"preprocess": cfg.to_dict(), "processor": proc.to_dict(), "radar": proc.params.summary(),
                           "board": proc.board.name})

    tasks, start = [], 0
    for p in plans:
        for a in range(0, len(p.frames), cfg.frames_per_task):
            b = min(a + cfg.frames_per_task, len(p.frames))
            tasks.append({"task": len(tasks), "session_path": p.path,
                          "stream": cfg.hori_stream if fmt == "hupr" else cfg.radar_stream,
                          "vert_stream": cfg.vert_stream, "frames": p.frames[a:b].tolist(),
                          "vert_frames": p.vert_frames[a:b].tolist() if p.vert_frames is not None else None,
                          "sample_start": start + a, "sample_stop": start + b})
        start += len(p.frames)

    writer = DatasetWriter.resume(out, config_doc, [p.path for p in plans], overwrite)
    if writer is None:
        writer = DatasetWriter.create(
            out, format=fmt, input_spec=proc.input_spec(plans[0].skeleton), config=config_doc,
            sessions=[{"path": p.path, "name": p.name, "subject": p.subject, "action": p.action, "scene": p.scene}
                      for p in plans],
            samples=_sample_table(plans, assign_splits([p.subject for p in plans], cfg)), tasks=len(tasks))
    if writer.complete:
        log.info("%s: already complete", out)
        return {"path": str(out), "samples": N, "tasks": len(tasks), "skipped_tasks": len(tasks), "format": fmt}
    done = writer.done()
    if len(done) != len(tasks):
        raise FormatError(f"{out}: has {len(done)} task markers, the sessions give {len(tasks)}; rerun with "
                          "--overwrite")
    todo = [t for t in tasks if not done[t["task"]]]
    if len(todo) < len(tasks):
        log.info("%s: resuming, %d of %d tasks already done", out, len(tasks) - len(todo), len(tasks))
    _run_all(str(out), todo, cfg, scheduler, progress, tqdm)
    writer.finish()
    return {"path": str(out), "samples": N, "tasks": len(tasks), "skipped_tasks": len(tasks) - len(todo),
            "format": fmt}


def _points_source(cfg: PreprocessConfig, plans: list[_SessionPlan]) -> PreprocessConfig:
    """The config with ``points_from`` set by the radar streams' kind: raw ADC → "adc" (CFAR), a device's
    point clouds → "stream". Tensor formats need raw ADC; one dataset takes one kind."""
    import dataclasses

    kinds = {p.stream_kind for p in plans}
    if len(kinds) > 1:
        names = {k: next(p.path for p in plans if p.stream_kind == k) for k in sorted(kinds)}
        raise FormatError("the sessions' radar streams mix raw ADC and point clouds ("
                          + ", ".join(f"{k}: {v}" for k, v in names.items()) + "); one dataset takes one kind")
    kind = kinds.pop()
    if kind == "points" and cfg.format != "points":
        raise FormatError(f"{plans[0].path}/streams/{cfg.radar_stream} is a point-cloud stream: only "
                          "--format points can be built from it")
    if cfg.format != "points":
        return cfg
    return dataclasses.replace(cfg, points_from="stream" if kind == "points" else "adc")


def _sample_table(plans: list[_SessionPlan], split_of: dict[str, int]) -> SampleTable:
    """Labels and bookkeeping of every planned sample, sessions in order (P = the most people in any)."""
    N = sum(len(p.frames) for p in plans)
    P, J = max(p.joints.shape[1] for p in plans), plans[0].joints.shape[2]
    joints = np.full((N, P, J, 3), np.nan, np.float32)
    conf = np.zeros((N, P, J), np.float32)
    j2d = np.full((N, P, J, 2), np.nan, np.float32) if all(p.joints_2d is not None for p in plans) else None
    ts, sess, fidx, subj = np.zeros(N, np.int64), np.zeros(N, np.int32), np.zeros(N, np.int32), np.zeros(N, np.int32)
    split = np.zeros(N, np.uint8)
    names: dict[str, int] = {}
    i = 0
    for si, p in enumerate(plans):
        n, pp = len(p.frames), p.joints.shape[1]
        joints[i:i + n, :pp] = p.joints
        conf[i:i + n, :pp] = np.nan_to_num(p.confidence)
        if j2d is not None:
            j2d[i:i + n, :pp] = p.joints_2d
        ts[i:i + n], sess[i:i + n], fidx[i:i + n] = p.timestamps, si, p.frame_index
        subj[i:i + n] = _subject_id(p.subject, names) if p.subject else -1
        split[i:i + n] = split_of[p.subject]
        i += n
    return SampleTable(joints=joints, confidence=conf, joints_2d=j2d, timestamp_ns=ts, session_index=sess,
                       frame_index=fidx, subject=subj, split=split)


def _run_all(out_path: str, tasks: list[dict], cfg: PreprocessConfig, scheduler: str | None, progress: bool, tqdm):
    if not tasks:
        return
    bar = tqdm(total=len(tasks), desc=f"preprocess {cfg.format}", unit="task", disable=not progress)
    if scheduler == "synchronous":
        for t in tasks:
            run_task(out_path, t, cfg, -1)
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
        futures = client.map(run_task, [out_path] * len(tasks), tasks, [cfg] * len(tasks), [1] * len(tasks),
                             pure=False)
        for fut in as_completed(futures):
            fut.result()  # re-raises a worker's error here
            bar.update(1)
    finally:
        bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
