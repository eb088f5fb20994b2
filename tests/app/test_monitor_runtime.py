"""Inference in the monitor: the run's preprocessing rebuilt from the session's board and .cfg, torch and
ONNX Runtime giving the same skeletons, radar point clouds clustered into detections."""

import json
import shutil

import numpy as np
import pytest

from rfpose.app.monitor.config import ModelConfig, RadarMount
from rfpose.app.monitor.detect import ClusterEstimator, SkeletonEstimator, dbscan
from rfpose.app.monitor.room import T_room_radar
from rfpose.source import RADAR_POINT_DTYPE, PointCloudFrame


def test_onnx_runtime_gives_the_torch_skeletons(monitor_run, tmp_path, monkeypatch):
    from rfpose.app.monitor.detect import OnnxRuntimeModel
    from rfpose.drivers.open_source import open_source

    session, run = monitor_run
    run = shutil.copytree(run, tmp_path / "run")
    src = open_source(f"session://{session}#radar")
    T = T_room_radar(RadarMount(height_m=1.0))
    est = {rt: SkeletonEstimator(ModelConfig(run=str(run), runtime=rt, min_score=0.0), src.metadata, T)
           for rt in ("torch", "onnx")}
    assert est["onnx"].runtime == "onnx" and (run / "model.onnx").exists()
    onnx_calls = []
    network = OnnxRuntimeModel.__call__
    monkeypatch.setattr(OnnxRuntimeModel, "__call__", lambda self, *x: onnx_calls.append(1) or network(self, *x))
    for i in range(2):
        a, _ = est["torch"](src[i])
        b, ms = est["onnx"](src[i])
        assert len(a) == len(b) >= 1 and ms["model"] > 0
        for da, db in zip(a, b):
            np.testing.assert_allclose(da.joints, db.joints, atol=1e-3)
            assert da.joints.shape == (15, 3) and abs(da.score - db.score) < 1e-4
    assert len(onnx_calls) == 2  # the network ran in ONNX Runtime, not through the torch model's own predict


def test_dbscan_and_clusters_from_a_point_cloud():
    rng = np.random.default_rng(0)
    person = rng.normal([3.0, 0.5, 0.0], [0.15, 0.15, 0.4], (40, 3))
    chair = rng.normal([2.0, -1.5, -0.6], [0.1, 0.1, 0.1], (10, 3))
    noise = rng.uniform([1, -3, -1], [6, 3, 1], (5, 3))
    origin = np.zeros((6, 3))  # a reset target reported at the sensor
    xyz = np.concatenate([person, chair, noise, origin])
    labels = dbscan(xyz, 0.5, 4)
    assert len(set(labels[:40])) == 1 and labels[0] >= 0 and len(set(labels[40:50])) == 1
    pts = np.zeros(len(xyz), RADAR_POINT_DTYPE)
    pts["x"], pts["y"], pts["z"] = xyz.T
    pts["v"][:40] = 0.6
    dets, _ = ClusterEstimator(T_room_radar(RadarMount(height_m=1.0)))(PointCloudFrame(0, 0, pts))
    assert len(dets) == 2  # the person and the chair; not the origin
    p = min(dets, key=lambda d: abs(d.position[0] - 3.0))
    assert p.moving and abs(p.position[2] - 1.0) < 0.15 and p.top_z > 1.4
    assert not max(dets, key=lambda d: abs(d.position[0] - 3.0)).moving


def _body(rng, a, b, t_parts, z=(0.05, 0.4), n=30):
    """Room-frame points along the segment a → b (floor plan, m) over the fractions ``t_parts``, at heights z."""
    t = np.concatenate([rng.uniform(t0, t1, n) for t0, t1 in t_parts])
    xy = np.asarray(a) + t[:, None] * (np.asarray(b) - np.asarray(a)) + rng.normal(0, 0.04, (len(t), 2))
    return np.column_stack([xy, rng.uniform(*z, len(t))])


def test_a_person_lying_in_two_clusters_is_one_detection():
    """Someone lying on the floor whose still hips and thighs give no points: the moving ends are two DBSCAN
    clusters 0.7 m apart, joined into one person. Standing people that close, and two people lying end to end,
    stay apart."""
    from rfpose.app.monitor.config import ClustersConfig

    rng = np.random.default_rng(1)
    T = T_room_radar(RadarMount(height_m=1.0))

    def detections(room_pts, **kw):
        est = ClusterEstimator(T, ClustersConfig(min_points=3, top_percentile=80.0, **kw), frames=1)
        radar = room_pts - [0.0, 0.0, 1.0]  # level radar 1 m above the floor: the frames differ by its height
        return est.detect(radar, np.full(len(radar), 0.3))

    lying = _body(rng, (4.2, 0.4), (3.62, 2.0), [(0.0, 0.35), (0.76, 1.0)])
    assert len(detections(lying, lying_link_m=0.0)) == 2  # DBSCAN alone splits the body
    (d,) = detections(lying)
    assert np.linalg.norm(d.position[:2] - [3.95, 1.1]) < 0.35 and d.top_z < 0.45
    standing = np.concatenate([_body(rng, (3.0, 0.0), (3.0, 0.01), [(0, 1)], z=(0.2, 1.7)),
                               _body(rng, (3.0, 0.9), (3.0, 0.91), [(0, 1)], z=(0.2, 1.7))])
    assert len(detections(standing, eps_m=0.3)) == 2  # tops 1.5 m: not lying, not joined
    end_to_end = np.concatenate([_body(rng, (2.0, 0.0), (3.7, 0.0), [(0, 1)]),
                                 _body(rng, (4.5, 0.0), (6.2, 0.0), [(0, 1)])])
    assert len(detections(end_to_end)) == 2  # 0.8 m apart, but together 4.2 m long: two people


@pytest.mark.slow
def test_bench_monitor_runs(monitor_run, capsys):
    from rfpose.cli import main

    assert main(["bench", "monitor", "--run", str(monitor_run[1]), "--session", str(monitor_run[0]),
                 "--seconds", "5", "--warmup", "10", "--json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    assert [r["runtime"] for r in doc["rows"]] == ["torch", "onnx"] and all(r["frames"] > 0 for r in doc["rows"])


def test_bench_monitor_without_a_model(capsys):
    from rfpose.cli import main

    assert main(["bench", "monitor", "--runtimes", "clusters", "--seconds", "3", "--warmup", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (row,) = doc["rows"]
    assert doc["model"] is None and row["runtime"] == "clusters" and row["frames"] > 0
    assert 0 < row["mqtt_p50_ms"] <= row["mqtt_p95_ms"] and 0 < row["points_p50_ms"] <= row["points_p95_ms"]


def test_runtime_auto_picks_one_of_the_two(monitor_run, tmp_path):
    from rfpose.drivers.open_source import open_source

    session, run = monitor_run
    run = shutil.copytree(run, tmp_path / "run")
    src = open_source(f"session://{session}#radar")
    est = SkeletonEstimator(ModelConfig(run=str(run), runtime="auto"), src.metadata,
                            T_room_radar(RadarMount(height_m=1.0)))
    assert est.runtime in ("torch", "onnx")
