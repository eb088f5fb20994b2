"""The 2D detector registry, skeleton mapping of detections, the ground-truth detector on simulated
sessions, and the evaluation harness (run with the ground-truth detector, so no MediaPipe is needed)."""

import sys

import numpy as np
import pytest

from rfpose.annotation.detectors import (DETECTORS, Detection2D, convert_confidence, create_detector,
                                         detector_names, detector_skeleton)
from rfpose.annotation.groundtruth import GroundTruthDetector
from rfpose.annotation.simeval import BODY_JOINTS, SimCase, _rig, evaluate_case, frame_errors
from rfpose.errors import FormatError, RfposeError, ShapeError, UnknownNameError
from rfpose.skeletons import BLAZEPOSE33, COCO17, RTPOSE15

# MediaPipe's BlazePose-33 indices of the COCO-17 joints (reference notes §1; BlazePose documentation)
BLAZE_TO_COCO = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]


def test_registry_names_and_unknown_name():
    assert detector_names() == ["groundtruth", "mediapipe"]
    assert detector_skeleton("mediapipe") == "blazepose33" and detector_skeleton("groundtruth") == "rtpose15"
    with pytest.raises(UnknownNameError) as e:
        create_detector("openpose")
    assert "openpose" in str(e.value) and "mediapipe" in str(e.value) and "groundtruth" in str(e.value)
    with pytest.raises(UnknownNameError):
        detector_skeleton("yolo")
    assert set(DETECTORS) == {"mediapipe", "groundtruth"}


def test_mediapipe_missing_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # as if not installed: import raises ImportError
    with pytest.raises(RfposeError) as e:
        create_detector("mediapipe")
    msg = str(e.value)
    assert "rfpose annotate --install-detector" in msg and "0.10.21" in msg and "docs/annotation.md" in msg


def test_blazepose_to_coco17_golden_map():
    kp = np.stack([np.arange(33.0), np.arange(33.0) * 10], -1)[None]  # joint i at (i, 10 i)
    conf = np.linspace(0.0, 1.0, 33)[None]
    det = Detection2D(kp, conf, "blazepose33").to("coco17")
    assert det.skeleton == "coco17"
    np.testing.assert_array_equal(det.keypoints_px[0, :, 0], BLAZE_TO_COCO)
    np.testing.assert_array_equal(det.keypoints_px[0, :, 1], np.array(BLAZE_TO_COCO) * 10)
    np.testing.assert_allclose(det.confidence[0], conf[0, BLAZE_TO_COCO])


def test_derived_joints_take_the_weakest_confidence_and_missing_joints_are_nan():
    kp = np.zeros((1, 33, 2))
    b = {n: i for i, n in enumerate(BLAZEPOSE33.joints)}
    kp[0, b["l_hip"]] = (100, 200)
    kp[0, b["r_hip"]] = (140, 210)
    kp[0, b["l_shoulder"]] = (90, 100)
    kp[0, b["r_shoulder"]] = (150, 104)
    conf = np.ones((1, 33))
    conf[0, b["l_hip"]], conf[0, b["r_hip"]] = 0.9, 0.3
    rt = Detection2D(kp, conf, "blazepose33").to("rtpose15")
    np.testing.assert_allclose(rt.keypoints_px[0, RTPOSE15.index("pelvis")], (120, 205))
    np.testing.assert_allclose(rt.keypoints_px[0, RTPOSE15.index("thorax")], (120, 102))
    assert rt.confidence[0, RTPOSE15.index("pelvis")] == pytest.approx(0.3)
    hu = Detection2D(kp, conf, "blazepose33").to("hupr14")
    assert hu.keypoints_px.shape == (1, 14, 2) and np.all(np.isfinite(hu.keypoints_px))
    # rtpose15 has no face: COCO's nose, eyes and ears are NaN with confidence 0
    co = Detection2D(np.ones((2, 15, 2)), np.ones((2, 15)), "rtpose15").to("coco17")
    face = [COCO17.index(j) for j in ("nose", "l_eye", "r_eye", "l_ear", "r_ear")]
    assert np.isnan(co.keypoints_px[:, face]).all() and (co.confidence[:, face] == 0).all()
    assert (co.confidence[:, [COCO17.index(j) for j in BODY_JOINTS]] == 1).all()
    np.testing.assert_allclose(convert_confidence(np.array([0.2, 0.7] + [1.0] * 13), "rtpose15", "coco17")[11:13],
                               [1.0, 0.7])  # coco l_hip <- rtpose l_hip (index 4), r_hip <- index 1


def test_detection_shape_errors():
    with pytest.raises(ShapeError):
        Detection2D(np.zeros((1, 17, 2)), np.zeros((1, 17)), "blazepose33")
    with pytest.raises(ShapeError):
        Detection2D(np.zeros((1, 33, 2)), np.zeros((2, 33)), "blazepose33")
    with pytest.raises(UnknownNameError):
        Detection2D(np.zeros((1, 33, 2)), np.zeros((1, 33)), "openpose25")
    assert Detection2D.empty("coco17").num_people == 0


@pytest.fixture(scope="module")
def sim_session(tmp_path_factory):
    from rfpose.sim.session_writer import simulate_session

    out = tmp_path_factory.mktemp("ann") / "walk.zarr"
    simulate_session(out, "walk", 1, seed=2, board="awr1843boost", lidar=False)
    return out


def test_groundtruth_detector_reads_the_sessions_exact_keypoints(sim_session):
    from rfpose.session import open_session
    from rfpose.sim.scenarios import build_rig

    r = open_session(sim_session)
    det = create_detector("groundtruth", session=r, camera="cam_right")
    rig = build_rig("walk", seed=2, num_frames=1, board="awr1843boost", lidar=False)
    live = create_detector("groundtruth", source=rig.sources["cam_right"])
    cam = r.stream("cam_right")
    assert len(cam) >= 2
    for i in range(len(cam)):
        frame = cam[i]
        d = det.detect(frame.image, frame.index)
        uv, ok = rig.sources["cam_right"].keypoints(frame.index)  # recomputed independently from the rig
        assert d.skeleton == "rtpose15" and d.num_people == 1
        np.testing.assert_allclose(d.keypoints_px, uv, atol=1e-3)  # stored as float32
        np.testing.assert_array_equal(d.confidence, ok.astype(float))
        np.testing.assert_allclose(live.detect(frame.image, frame.index).keypoints_px, uv)
        coco = d.to("coco17")
        np.testing.assert_allclose(coco.keypoints_px[0, COCO17.index("l_wrist")], uv[0, RTPOSE15.index("l_wrist")],
                                   atol=1e-3)
    # default camera: the session's first camera stream
    assert create_detector("groundtruth", session=str(sim_session)).where.endswith("gt_2d_cam_left")


def test_groundtruth_detector_errors(sim_session, tmp_path):
    from rfpose.session import open_session
    from rfpose.sim.session_writer import simulate_session

    r = open_session(sim_session)
    det = GroundTruthDetector.from_session(r, "cam_left")
    img = r.stream("cam_left")[0].image
    with pytest.raises(RfposeError, match="no label for camera frame 999"):
        det.detect(img, 999)
    with pytest.raises(RfposeError, match="needs the camera frame index"):
        det.detect(img)
    with pytest.raises(RfposeError, match="image is 320x240"):
        det.detect(np.zeros((240, 320, 3), np.uint8), 0)
    with pytest.raises(ShapeError):
        det.detect(np.zeros((480, 640), np.uint8), 0)
    with pytest.raises(UnknownNameError, match="cam_left"):
        GroundTruthDetector.from_session(r, "cam_top")
    with pytest.raises(RfposeError, match="session="):
        create_detector("groundtruth")
    bare = tmp_path / "nolabels.zarr"
    simulate_session(bare, "walk", 1, seed=2, board="awr1843boost", lidar=False, labels_2d=False)
    with pytest.raises(FormatError, match="no label set 'gt_2d_cam_left'"):
        create_detector("groundtruth", session=bare, camera="cam_left")


def test_frame_errors_golden():
    uv = np.stack([np.arange(15.0) * 10, np.arange(15.0) * 7 + 100], -1)
    ok = np.ones(15, bool)
    shifted = Detection2D((uv + (3.0, 4.0))[None], np.ones((1, 15)), "rtpose15")
    errs, med, swap = frame_errors(shifted, uv, ok)
    assert med == pytest.approx(5.0) and not swap
    assert all(errs[j] == pytest.approx(5.0) for j in BODY_JOINTS)
    mirrored = Detection2D(uv[RTPOSE15.flip_permutation()][None], np.ones((1, 15)), "rtpose15")
    _, med_m, swap_m = frame_errors(mirrored, uv, ok)
    assert swap_m and med_m > 10
    ok2 = ok.copy()
    ok2[RTPOSE15.index("l_ankle")] = False  # outside the image: not scored
    errs2, _, _ = frame_errors(shifted, uv, ok2)
    assert np.isnan(errs2["l_ankle"]) and errs2["r_ankle"] == pytest.approx(5.0)
    nothing = frame_errors(Detection2D.empty("blazepose33"), uv, ok)
    assert np.isnan(nothing[1]) and all(np.isnan(v) for v in nothing[0].values())


def test_evaluate_case_with_the_groundtruth_detector_is_exact():
    case = SimCase("wave", 1, "cam_left", 3)
    src = _rig(case.scenario, case.seed, "awr1843boost", 12.0).sources[case.camera]
    res = evaluate_case(GroundTruthDetector.from_sim_source(src), case)
    assert res.detected and res.correct and not res.lr_swap
    assert res.median_error_px == pytest.approx(0.0, abs=1e-9)
    assert 150 < res.person_height_px < 480 and 1.0 < res.distance_m < 6.0
    assert res.facing_deg < 60  # "wave" subjects stand facing the radar ±35°


def test_silhouette_width_is_the_mask_run_through_the_pelvis():
    kp = np.zeros((2, 33, 2))
    kp[0, [23, 24]] = [[20.0, 10.0], [24.0, 10.0]]  # BlazePose hips: the pelvis is their mid-point (22, 10)
    kp[1, [23, 24]] = [[60.0, 30.0], [64.0, 30.0]]  # off its own mask
    conf = np.ones((2, 33))
    mask = np.full((40, 80), -1, np.int8)
    mask[10, 15:30] = 0  # person 0's run through its pelvis: 15 px
    mask[10, 31:40] = 0  # the same person further along the row (a hand), not connected
    mask[30, 70:75] = 1
    d = Detection2D(kp, conf, "blazepose33", mask=mask)
    w = d.silhouette_widths_px()
    assert w[0] == 15 and np.isnan(w[1])
    assert np.isnan(Detection2D(kp, conf, "blazepose33").silhouette_widths_px()).all()  # no mask
    mask[10, :] = 0  # a run touching both image borders
    assert Detection2D(kp, conf, "blazepose33", mask=mask).silhouette_widths_px()[0] == 80
