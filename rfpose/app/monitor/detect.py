"""Frames → detections in the room frame: skeletons from a pose model (raw ADC sources) or clusters of
radar points (demo-firmware point clouds).

A :class:`Detection` is one candidate person: its position (the pelvis of a skeleton, the centroid of a
cluster), the height of its top (head / highest point) and, for skeletons, all joints. Estimators are
callables ``frame → (detections, latency_ms)``; :func:`make_estimator` picks one from the source's kind.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.distance import pdist

from rfpose.app.monitor.config import ClustersConfig, ModelConfig
from rfpose.app.monitor.room import apply
from rfpose.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass
class Detection:
    position: np.ndarray  # (3,) metres, room frame: pelvis of a skeleton or centroid of a point cluster
    top_z: float  # metres above the floor: the head (skeleton) or the highest point (cluster)
    score: float  # 0-1
    joints: np.ndarray | None = None  # (J, 3) metres, room frame
    moving: bool = False  # the sensor saw motion directly (Doppler of the cluster's points)
    radar_xyz: np.ndarray | None = None  # (3,) the position in the radar frame (the origin is the sensor)
    weak: bool = False  # a skeleton scored under min_score, or a cluster without Doppler: it may update a confirmed
    # track, never start one


class OnnxRuntimeModel:
    """A model's network run by ONNX Runtime (CPU) from ``RUN/model.onnx`` (exported there on first use if
    missing, as ``rfpose export RUN --format onnx`` does); decoding and everything else stay the model's."""

    def __init__(self, model, path: Path, threads: int = 2):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError("model.runtime onnx/auto needs ONNX Runtime: pip install 'rfpose[export]'") from None

        from rfpose.models.export import export_model, input_names

        self.model = model
        if not path.exists():
            log.info("exporting %s for ONNX Runtime", path)
            export_model(model, "onnx", path)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # constant folding, fusions
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL  # one frame at a time: parallel ops, not branches
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.inputs = input_names(model)
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, *inputs):
        import torch

        from rfpose.models.export import onnx_feeds

        outs = self.session.run(None, onnx_feeds(self.session, self.inputs, inputs))
        return {n: torch.from_numpy(o) for n, o in zip(self.outputs, outs)}

    def predict(self, *inputs, max_people: int | None = None):
        """The network by ONNX Runtime, decoded by the model (not the torch model's own ``predict``)."""
        return self.model.decode(self(*inputs), max_people=max_people)

    def __getattr__(self, name):
        return getattr(self.model, name)

    def faster_than_torch(self) -> bool:
        """Time both runtimes on the model's example input (best of 3 after a warm-up); True if ONNX Runtime
        wins."""
        import torch

        from rfpose.app.benchmarking import best_time_s
        from rfpose.models.inference import predict

        x = self.model.example_inputs(1)
        with torch.inference_mode():
            t_torch = best_time_s(lambda: predict(self.model, x), repeat=3, min_time_s=0.0)
            t_onnx = best_time_s(lambda: self.predict(*x), repeat=3, min_time_s=0.0)
        log.info("runtime auto: torch %.0f ms, ONNX Runtime %.0f ms per frame", t_torch * 1e3, t_onnx * 1e3)
        return t_onnx < t_torch


def check_3d_run(run) -> None:
    """Refuse a run whose model does not give 3-D skeletons in metres: the monitor tracks people, zones and
    falls in 3-D room coordinates, and a 2-D image-plane skeleton (HuPR: pixels of the camera's label image,
    no depth) cannot be placed in the room. Raises :class:`~rfpose.errors.IncompatibleRunError`."""
    import json

    from rfpose.errors import FormatError, IncompatibleRunError
    from rfpose.models.families import get_family
    from rfpose.models.registry import model_entry

    path = Path(run) / "config.json"
    try:
        name = json.loads(path.read_text())["model"]["name"]
    except FileNotFoundError:
        raise FormatError(f"{run}: not a training run (no config.json)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise FormatError(f"{path}: malformed run config ({e})") from None
    family = get_family(model_entry(name).family)
    if family.output_dims != 3:
        raise IncompatibleRunError(f"{run}: model {name} ({family.name} family) gives {family.output_dims}-D "
                                   "skeletons in image pixels; the room monitor needs 3-D skeletons in metres "
                                   "(an hrradarpose or points run)")


class SkeletonEstimator:
    """Radar frame → skeletons with a trained run (:class:`rfpose.app.live`'s pipeline: the run's
    preprocessing rebuilt for the source's board and .cfg): raw ADC frames (``kind`` "radar") with a tensor or
    CFAR-points run, a device's point clouds (``kind`` "points") with a run trained on such points."""

    def __init__(self, model: ModelConfig, metadata: dict, T_room_radar: np.ndarray, pipeline=None,
                 kind: str = "radar"):
        from rfpose.skeletons import get_skeleton

        if pipeline is None:
            if not model.run:
                raise ConfigError("a raw-ADC radar source needs a trained run (model.run / --run)")
            if not metadata.get("board") or not metadata.get("cfg_text"):
                raise ConfigError("the radar source does not say its board and .cfg; cannot rebuild the preprocessing"
                                  + (" (give the uart source ?board=NAME&cfg=FILE)" if kind == "points" else ""))
            from rfpose.app.live import RadarPosePipeline

            check_3d_run(model.run)
            pipeline = RadarPosePipeline(model.run, metadata["board"], metadata["cfg_text"], threads=model.threads,
                                         max_people=model.max_people, source_kind=kind)
            if model.runtime != "torch":
                onnx = OnnxRuntimeModel(pipeline.model, Path(model.run) / "model.onnx", model.threads)
                if model.runtime == "onnx" or onnx.faster_than_torch():
                    pipeline.model = onnx
        self.frame_data = (lambda f: f.points) if kind == "points" else (lambda f: f.adc)
        self.runtime = "onnx" if isinstance(pipeline.model, OnnxRuntimeModel) else "torch"
        self.pipeline = pipeline
        sk = get_skeleton(pipeline.model.spec.skeleton)
        self.skeleton = sk
        self.root = sk.root
        self.head = sk.index("head") if "head" in sk.joints else None
        self.min_score = model.min_score
        self.sustain_score = model.min_score if model.sustain_score is None else model.sustain_score
        self.T = T_room_radar

    def flush(self) -> None:
        """Forget the model's frame windows (a new stream)."""
        self.pipeline.flush()

    def __call__(self, frame) -> tuple[list[Detection], dict]:
        res = self.pipeline(self.frame_data(frame))
        return self.from_skeletons(res.joints, res.scores), res.latency_ms

    def from_skeletons(self, joints_radar: np.ndarray, scores: np.ndarray) -> list[Detection]:
        """(K, J, 3) radar-frame skeletons and (K,) scores → detections (NaN skeletons are skipped)."""
        out = []
        for j, s in zip(joints_radar, scores):
            if not np.isfinite(s) or s < min(self.min_score, self.sustain_score) or not np.isfinite(j).all():
                continue
            room = apply(self.T, j.astype(np.float64))
            top = room[self.head, 2] if self.head is not None else room[:, 2].max()
            out.append(Detection(room[self.root].copy(), float(top), float(s), room, radar_xyz=j[self.root].copy(),
                                 weak=s < self.min_score))
        return out


def dbscan(points: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """DBSCAN labels (N,) for (N, D) points: −1 noise, clusters 0…; neighbourhoods from a KD-tree."""
    n = len(points)
    labels = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return labels
    nbrs = cKDTree(points).query_ball_point(points, eps)
    core = np.array([len(nb) >= min_samples for nb in nbrs])
    cluster = 0
    for i in np.flatnonzero(core):
        if labels[i] != -1:
            continue
        labels[i] = cluster
        stack = [i]
        while stack:
            p = stack.pop()
            if not core[p]:
                continue
            for q in nbrs[p]:
                if labels[q] == -1:
                    labels[q] = cluster
                    stack.append(q)
        cluster += 1
    return labels


LYING_LENGTH_M = 2.2  # the longest a person lying on the floor spans on the floor plan, with a margin


def join_lying(room: np.ndarray, labels: np.ndarray, link_m: float, top_m: float, top_percentile: float) -> np.ndarray:
    """DBSCAN ``labels`` (N,) of room-frame points ``room`` (N, 3) with the clusters that are parts of one person
    lying on the floor joined (relabelled 0…): clusters whose tops (``top_percentile`` of their heights) are below
    ``top_m`` and whose points come within ``link_m`` on the floor plan, as long as the joined points span at
    most :data:`LYING_LENGTH_M`. The closest pairs join first."""
    k = labels.max() + 1 if len(labels) else 0
    xy = [room[labels == i, :2] for i in range(k)]
    low = [i for i in range(k) if np.percentile(room[labels == i, 2], top_percentile) < top_m]
    if len(low) < 2:
        return labels
    gaps = sorted((float(np.min(np.linalg.norm(xy[a][:, None] - xy[b][None], axis=2))), a, b)
                  for n, a in enumerate(low) for b in low[n + 1:])
    group = list(range(k))
    for gap, a, b in gaps:
        ga, gb = group[a], group[b]
        if gap > link_m or ga == gb:
            continue
        if pdist(np.concatenate([xy[i] for i in range(k) if group[i] in (ga, gb)])).max() <= LYING_LENGTH_M:
            group = [ga if g == gb else g for g in group]
    _, new = np.unique(group, return_inverse=True)
    return np.where(labels >= 0, new[labels], -1)


class ClusterEstimator:
    """Radar points → one detection per DBSCAN cluster (:class:`~rfpose.app.monitor.config.ClustersConfig`:
    on x, y and a down-weighted z, as people are tall and narrow), the points pooled over the last ``frames``
    frames. Points at the sensor (range < ``min_range_m``) are dropped. Called with a device's point-cloud
    frame; :meth:`detect` takes radar-frame points from elsewhere (:class:`AdcClusterEstimator`)."""

    runtime = "clusters"  # no model

    def __init__(self, T_room_radar: np.ndarray, cfg: ClustersConfig | None = None, frames: int = 1,
                 min_range_m: float = 0.3, moving_mps: float = 0.1):
        self.T, self.cfg = T_room_radar, cfg or ClustersConfig()
        self.min_range, self.moving = min_range_m, moving_mps
        self.pool: deque = deque(maxlen=self.cfg.frames or frames)

    def __call__(self, frame) -> tuple[list[Detection], dict]:
        t0 = time.perf_counter()
        pts = frame.points
        xyz = np.stack([pts["x"], pts["y"], pts["z"]], axis=1).astype(np.float64)
        dets = self.detect(xyz, np.asarray(pts["v"], dtype=np.float64))
        return dets, {"total": (time.perf_counter() - t0) * 1e3}

    def flush(self) -> None:
        """Forget the pooled frames (a new stream)."""
        self.pool.clear()

    def detect(self, xyz: np.ndarray, v: np.ndarray) -> list[Detection]:
        """One frame's points ``xyz (N, 3)`` (radar frame, m) and radial velocities ``v (N,)`` (m/s) → the
        clusters of the pooled frames."""
        keep = np.isfinite(xyz).all(axis=1) & (np.linalg.norm(xyz, axis=1) >= self.min_range)
        self.pool.append((xyz[keep], v[keep]))
        xyz = np.concatenate([p for p, _ in self.pool])
        v = np.concatenate([q for _, q in self.pool])
        room = apply(self.T, xyz)
        c = self.cfg
        labels = dbscan(room * [1.0, 1.0, c.z_weight], c.eps_m, c.min_points)
        if c.lying_link_m > 0:
            labels = join_lying(room, labels, c.lying_link_m, c.lying_top_m, c.top_percentile)
        dets = []
        for k in range(labels.max() + 1 if len(labels) else 0):
            m = labels == k
            score = float(1.0 - np.exp(-m.sum() / (2.0 * c.min_points)))
            doppler = m & np.isfinite(v)  # minor-motion points carry no velocity (NaN)
            moving = bool(np.median(np.abs(v[doppler])) > self.moving) if doppler.any() else False
            # where a person moves, their Doppler points place them: minor-motion points there include the
            # clutter their body shadows from frame to frame; they count for someone who keeps still
            m = doppler if doppler.sum() >= c.min_points else m
            p = room[m]
            top = float(np.percentile(p[:, 2], c.top_percentile))  # the highest points as outliers
            dets.append(Detection(p.mean(axis=0), top, score, None, moving, radar_xyz=xyz[m].mean(axis=0),
                                  weak=not doppler.any()))
        return dets


class AdcClusterEstimator:
    """Raw ADC frames → CFAR points (:class:`~rfpose.preprocessing.points.PointCloudProcessor`, what a
    demo-firmware board computes on the chip) → clusters (:class:`ClusterEstimator`, pooled over 5 frames
    unless ``cfg.frames`` says otherwise): people without a trained run."""

    runtime = "clusters"  # no model

    def __init__(self, metadata: dict, T_room_radar: np.ndarray, cfg: ClustersConfig | None = None):
        from rfpose.boards import get_board
        from rfpose.preprocessing.minor_motion import MinorMotionPoints
        from rfpose.preprocessing.points import PointCloudConfig, PointCloudProcessor
        from rfpose.radar_config import parse_cfg

        if not metadata.get("board") or not metadata.get("cfg_text"):
            raise ConfigError("the radar source does not say its board and .cfg; cannot compute its points")
        cfg = cfg or ClustersConfig()
        self.board = get_board(metadata["board"])
        self.params = parse_cfg(metadata["cfg_text"], f"<{self.board.name} cfg>").derive(self.board)
        self.points = PointCloudProcessor(self.params, self.board,
                                          PointCloudConfig(threshold_db=cfg.cfar_threshold_db), workers=1)
        lag = max(1, round(cfg.minor_motion_lag_s / self.params.frame_period_s))
        self.minor = MinorMotionPoints(self.points, cfg.minor_motion_db, lag_frames=lag) \
            if cfg.minor_motion_db > 0 else None
        self.clusters = ClusterEstimator(T_room_radar, cfg, frames=5)

    def __call__(self, frame) -> tuple[list[Detection], dict]:
        from rfpose.preprocessing.decode import decode_radar_words

        t0 = time.perf_counter()
        x = decode_radar_words(frame.adc, self.params, self.board)
        pts = self.points(x)
        if self.minor is not None:
            pts = np.concatenate([pts, self.minor(x)])
        t1 = time.perf_counter()
        dets = self.clusters.detect(pts[:, :3].astype(np.float64), pts[:, 3].astype(np.float64))
        return dets, {"points": (t1 - t0) * 1e3, "total": (time.perf_counter() - t0) * 1e3}

    def flush(self) -> None:
        self.clusters.flush()
        if self.minor is not None:
            self.minor.reset()


def make_estimator(kind: str, metadata: dict, model: ModelConfig, T_room_radar: np.ndarray,
                   clusters: ClustersConfig | None = None):
    """The estimator for a source of ``kind`` ("radar": raw ADC; "points": a device's point clouds):
    skeletons when a run is given, else point clusters (CFAR points first for raw ADC)."""
    if kind in ("radar", "points") and model.run:
        return SkeletonEstimator(model, metadata, T_room_radar, kind=kind)
    if kind == "points":
        return ClusterEstimator(T_room_radar, clusters)
    if kind == "radar":
        return AdcClusterEstimator(metadata, T_room_radar, clusters)
    raise ConfigError(f"the room monitor reads radar only; this source gives {kind} frames")
