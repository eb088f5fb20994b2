"""Frames → detections in the room frame: skeletons from a pose model (raw ADC sources) or clusters of
radar points (demo-firmware point clouds).

A :class:`Detection` is one candidate person: its position (the pelvis of a skeleton, the centroid of a
cluster), the height of its top (head / highest point) and, for skeletons, all joints. Estimators are
callables ``frame → (detections, latency_ms)``; :func:`make_estimator` picks one from the source's kind.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from rfpose.app.monitor.config import ModelConfig
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
    weak: bool = False  # scored under the model's min_score: it may update a confirmed track, never start one


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

    def __getattr__(self, name):
        return getattr(self.model, name)

    def faster_than_torch(self) -> bool:
        """Time both runtimes on the model's example input (best of 3 after a warm-up); True if ONNX Runtime
        wins."""
        import torch

        from rfpose.app.benchmarking import best_time_s

        x = self.model.example_inputs(1)
        with torch.inference_mode():
            t_torch = best_time_s(lambda: self.model(*x), repeat=3, min_time_s=0.0)
        t_onnx = best_time_s(lambda: self(*x), repeat=3, min_time_s=0.0)
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


class ClusterEstimator:
    """Radar point cloud → one detection per DBSCAN cluster (on x, y and a down-weighted z, as people are
    tall and narrow). Points at the sensor (range < ``min_range_m``) are dropped."""

    def __init__(self, T_room_radar: np.ndarray, eps_m: float = 0.5, min_points: int = 4, z_weight: float = 0.5,
                 min_range_m: float = 0.3, moving_mps: float = 0.1):
        self.T, self.eps, self.min_points, self.z_weight = T_room_radar, eps_m, min_points, z_weight
        self.min_range, self.moving = min_range_m, moving_mps

    def __call__(self, frame) -> tuple[list[Detection], dict]:
        t0 = time.perf_counter()
        pts = frame.points
        xyz = np.stack([pts["x"], pts["y"], pts["z"]], axis=1).astype(np.float64)
        keep = np.isfinite(xyz).all(axis=1) & (np.linalg.norm(xyz, axis=1) >= self.min_range)
        xyz, v = xyz[keep], np.asarray(pts["v"], dtype=np.float64)[keep]
        room = apply(self.T, xyz)
        labels = dbscan(room * [1.0, 1.0, self.z_weight], self.eps, self.min_points)
        dets = []
        for c in range(labels.max() + 1 if len(labels) else 0):
            m = labels == c
            p = room[m]
            centroid = p.mean(axis=0)
            score = float(1.0 - np.exp(-m.sum() / (2.0 * self.min_points)))
            moving = bool(np.nanmedian(np.abs(v[m])) > self.moving) if np.isfinite(v[m]).any() else False
            top = float(np.sort(p[:, 2])[-max(1, len(p) // 20)])  # the highest point, the top 5 % as outliers
            dets.append(Detection(centroid, top, score, None, moving,
                                  radar_xyz=xyz[m].mean(axis=0)))
        return dets, {"total": (time.perf_counter() - t0) * 1e3}


def make_estimator(kind: str, metadata: dict, model: ModelConfig, T_room_radar: np.ndarray):
    """The estimator for a source of ``kind`` ("radar": raw ADC → skeletons; "points": skeletons when a run
    is given, else clusters)."""
    if kind == "radar" or (kind == "points" and model.run):
        return SkeletonEstimator(model, metadata, T_room_radar, kind=kind)
    if kind == "points":
        return ClusterEstimator(T_room_radar)
    raise ConfigError(f"the room monitor reads radar only; this source gives {kind} frames")
