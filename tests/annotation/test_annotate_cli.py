"""`rfpose annotate` end to end on a small simulated session (groundtruth detector), its label set, and
`rfpose preprocess` skipping the frames it flagged."""

import json

import numpy as np
import pytest

from rfpose.cli import main
from rfpose.session import open_session


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from rfpose.sim.session_writer import simulate_session

    path = tmp_path_factory.mktemp("annot") / "walk.zarr"
    simulate_session(path, "walk", num_frames=8, seed=7, board="awr1843boost")
    attrs = open_session(path).attrs
    if "sim_truth" in attrs:  # calibrate the rig as `rfpose calibrate apply` would (tests may read the truth)
        from rfpose.rig_calibration import Calibration
        from rfpose.session.calibration import apply_calibration

        apply_calibration(path, Calibration.from_dict(attrs["sim_truth"]), source="test: simulator truth")
    return path


def test_annotate_writes_radar_frame_labels(session, capsys, tmp_path):
    cache = tmp_path / "cache"
    # stereo only: exact 2D gives labels within millimetres of the truth at the radar frames' times (no
    # smoothing: the default least-squares trajectory weighs joints by the detector noise model, 4 px, which a
    # 12 cm baseline turns into decimetres of depth, so it would smooth exact input too)
    rc = main(["annotate", str(session), "--detector", "groundtruth", "--json", "--no-progress", "--cache", str(cache),
               "--no-lidar", "--smoothing", "none"])
    assert rc in (0, None)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    r = open_session(session)
    lab = r.labels("auto")
    gt = r.labels("gt")
    assert lab.skeleton == "rtpose15" and lab.dims == 3 and lab.attrs["frame"] == "radar"
    assert summary["entries_written"] == len(lab) and len(lab) >= 6
    prov = lab.provenance
    assert prov["detector"]["name"] == "groundtruth" and "parameters" in prov and "calibration" in prov
    assert set(prov["cameras"]) == {"cam_left", "cam_right"} and prov["lidar"] == []
    fi = lab.frame_index  # the radar stream position
    assert np.all(fi >= 0) and np.all(fi < len(r.stream("radar")))
    err = np.linalg.norm(lab.joints[:, 0] - gt.joints[fi, 0], axis=-1)
    assert np.nanmean(err) < 0.01
    assert len(lab.attrs["quality"]) == len(lab) == len(lab.attrs["flags"])
    assert any(cache.rglob("chunk_*.npz"))
    # never overwritten without --force
    assert main(["annotate", str(session), "--detector", "groundtruth", "--cache", str(cache), "--no-progress"]) == 2
    assert "already exists" in capsys.readouterr().err
    # cameras and LiDAR fused, with the QA page (the cached detections are reused)
    assert main(["annotate", str(session), "--detector", "groundtruth", "--cache", str(cache), "--no-progress",
                 "--labels", "fused", "--report", str(tmp_path / "qa.html")]) in (0, None)
    fused = open_session(session).labels("fused")
    assert fused.provenance["lidar"] == ["lidar"] and len(fused) >= 6
    assert prov["floor"] is None  # no LiDAR, no floor
    floor = fused.provenance["floor"]  # the LiDAR's floor: the true ankles stand on it
    n = np.array(floor["normal"])
    ankle_heights = gt.joints[:, 0, [3, 6]] @ n - floor["offset_m"]
    assert n[2] > 0.99 and 0.03 < np.nanmin(ankle_heights) < 0.12
    assert isinstance(floor["ankles_moved"], int)  # how many camera-frame ankles it held up (for QA)
    assert main(["annotate", str(session), "--detector", "groundtruth", "--cache", str(cache), "--no-progress",
                 "--labels", "nofloor", "--no-floor"]) in (0, None)
    nofloor = open_session(session).labels("nofloor").provenance
    assert nofloor["floor"] is None and nofloor["parameters"]["ankle_floor_m"] is None
    html = (tmp_path / "qa.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html and "MPJPE" in html


def test_preprocess_skips_flagged_entries(session):
    from rfpose.preprocessing.dataset import PreprocessConfig, plan_session
    from rfpose.session.writer import add_label_set, remove_label_set

    r = open_session(session)
    gt = r.labels("gt")
    n = len(gt)
    flags = [0] * n
    flags[3] = flags[5] = 1
    if "flagged" in r.label_sets:
        remove_label_set(session, "flagged")
    add_label_set(session, "flagged", "rtpose15", gt.timestamp_ns, gt.joints, gt.confidence, gt.frame_index,
                  provenance={"method": "test"}, attrs={"flags": flags, "frame": "radar"})
    kept = plan_session(str(session), PreprocessConfig(labels="flagged")).frame_index
    assert 3 not in kept and 5 not in kept and len(kept) == n - 2
    everything = plan_session(str(session), PreprocessConfig(labels="flagged", include_flagged=True)).frame_index
    assert len(everything) == n
    remove_label_set(session, "flagged")
    assert "flagged" not in open_session(session).label_sets


def test_user_errors_are_one_line(session, tmp_path, capsys):
    assert main(["annotate", str(tmp_path / "missing.zarr"), "--detector", "groundtruth"]) == 2
    assert main(["annotate", str(session), "--detector", "nosuch", "--labels", "x", "--no-progress"]) == 2
    assert main(["annotate", str(session), "--detector", "groundtruth", "--cameras", "cam_left", "--no-lidar",
                 "--labels", "y", "--no-progress", "--cache", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "no such session" in err and "nosuch" in err and "LiDAR" in err


def test_annotate_with_the_real_mediapipe_detector(session, tmp_path, capsys):
    pytest.importorskip("mediapipe")
    rc = main(["annotate", str(session), "--labels", "mp", "--cameras", "cam_left", "--json", "--no-progress",
               "--cache", str(tmp_path / "cache")])
    assert rc in (0, None)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    r = open_session(session)
    lab = r.labels("mp")
    assert lab.provenance["detector"]["name"] == "mediapipe"
    assert lab.provenance["detector"]["mediapipe_version"] == "0.10.21"
    gt = r.labels("gt")
    err = np.linalg.norm(lab.joints[:, 0] - gt.joints[lab.frame_index, 0], axis=-1)
    # one camera + LiDAR with MediaPipe: ~56 mm on 100-frame walking sessions (docs/annotation.md); 8 frames
    # give the outlier filter and the smoothing almost no context (measured here: 110-150 mm), so the bounds
    # only say the labels are on this person: pelvis within 10 cm, mean joint within 20 cm
    assert summary["entries_written"] >= 4 and np.nanmean(err[:, 0]) < 0.10 and np.nanmean(err) < 0.20
