"""How well a 2D detector finds the simulator's rendered people: detection rate and pixel error against
the exact projected joints.

``sample_cases`` draws camera frames over scenarios, subjects (seeds), headings and distances;
``evaluate_detector`` renders each one, runs the detector and compares the COCO-17 joints the simulator
knows exactly (shoulders, elbows, wrists, hips, knees, ankles; its rtpose15 set has no face points) plus
the head (detector: mid-ears, simulator: head centre). Errors are Euclidean pixel distances; only joints
inside the image count.

Definitions (docs/annotation.md):

* *detected*: the detector returned a person.
* *correct*: detected, and the median error over the frame's joints is below ``pck_fraction`` (0.1) of
  the person's height in the image (rows spanned by the rendered person mask), a PCK-style criterion
  independent of distance.
* *left/right swap*: detected, and mirroring the detection's left and right makes the median error at
  least 2× smaller (a sideways walker seen in profile).

Run it: ``rfpose bench detector --detector mediapipe --frames 40 [--json] [--out F.json]``.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from rfpose.annotation.detectors import Detection2D, PoseDetector2D, create_detector, detector_names
from rfpose.errors import ConfigError, RfposeError
from rfpose.skeletons import COCO17, convert

log = logging.getLogger(__name__)

#: scenarios with one person whose whole body is normally in view
DEFAULT_SCENARIOS = ("walk", "wave", "random-poses", "walk-wave", "lift-leg", "cluttered-walk")
#: the COCO-17 joints the simulator's rtpose15 ground truth has exactly
BODY_JOINTS = ("l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip",
               "l_knee", "r_knee", "l_ankle", "r_ankle")
REPORTED_JOINTS = BODY_JOINTS + ("head",)


@dataclass(frozen=True)
class SimCase:
    """One camera frame of a simulated scenario."""

    scenario: str
    seed: int
    camera: str
    frame: int


@dataclass
class EvalConfig:
    """What :func:`evaluate_detector` measured (saved with its output)."""

    detector: str
    frames: int = 40
    scenarios: tuple[str, ...] = DEFAULT_SCENARIOS
    seed: int = 0
    board: str = "awr1843boost"  # only sets the clock; the camera renders do not depend on it
    duration_s: float = 12.0
    pck_fraction: float = 0.1
    detector_options: dict = field(default_factory=dict)


@dataclass
class CaseResult:
    case: SimCase
    distance_m: float  # camera to pelvis
    facing_deg: float  # 0 = the person faces the camera, 90 = profile, 180 = back
    person_height_px: float  # rows spanned by the rendered person mask
    visible_fraction: float  # of the reported joints inside the image
    truncated: bool  # the rendered person touches the image border
    detected: bool
    correct: bool
    lr_swap: bool
    median_error_px: float  # over the frame's joints (NaN if not detected)
    errors_px: dict[str, float]  # per reported joint (NaN if not detected / not in the image)
    detect_s: float


def sample_cases(n: int, scenarios=DEFAULT_SCENARIOS, seed: int = 0, board: str = "awr1843boost",
                 duration_s: float = 12.0) -> list[SimCase]:
    """``n`` cases: scenario ``i % S``, subject seed ``seed + i // S``, cameras alternating, frame drawn
    uniformly over the session (seeded)."""
    from rfpose.sim.scenarios import build_rig, get_scenario

    if n < 1:
        raise ConfigError(f"frames must be at least 1, got {n}")
    for s in scenarios:
        if not get_scenario(s).actions:
            raise ConfigError(f"scenario {s!r} has no people to detect")
    rng = np.random.default_rng([seed, 0xA22])
    cases = []
    for i in range(n):
        sc, sd = scenarios[i % len(scenarios)], seed + i // len(scenarios)
        rig = _rig(sc, sd, board, duration_s)
        cams = [c.name for c in rig.cameras]
        cam = cams[(i // len(scenarios)) % len(cams)]
        m = len(rig.sources[cam])
        cases.append(SimCase(sc, sd, cam, int(rng.integers(0, m))))
    return cases


_RIGS: dict = {}


def _rig(scenario: str, seed: int, board: str, duration_s: float):
    key = (scenario, seed, board, duration_s)
    if key not in _RIGS:
        from rfpose.boards import get_board
        from rfpose.radar_config import parse_cfg, validate_cfg
        from rfpose.sim.scenarios import build_rig

        b = get_board(board)
        period = validate_cfg(parse_cfg(b.default_cfg_text(), "<default cfg>"), b).frame_period_s
        if len(_RIGS) > 16:
            _RIGS.clear()
        _RIGS[key] = build_rig(scenario, seed=seed, num_frames=max(1, int(np.ceil(duration_s / period))),
                               board=board, lidar=False)
    return _RIGS[key]


def frame_errors(det: Detection2D, gt_rtpose15_px: np.ndarray, gt_ok: np.ndarray) -> tuple[dict, float, bool]:
    """Per-joint errors (px) of the best-matching detected person against one ground-truth person.

    ``gt_rtpose15_px``: ``(15, 2)``, ``gt_ok``: ``(15,)`` joints inside the image. Returns
    ``(errors by joint name, median error, left/right swapped)``; errors are NaN when nothing was detected.
    """
    gt_c, _ = convert(gt_rtpose15_px[None], "rtpose15", "coco17")
    ok_c = convert(gt_ok[None, :, None].astype(float), "rtpose15", "coco17")[0][0, :, 0] == 1.0
    body = np.array([COCO17.index(j) for j in BODY_JOINTS])
    g = np.concatenate([gt_c[0, body], gt_rtpose15_px[None, 8]], 0)  # + rtpose15 head
    ok = np.concatenate([ok_c[body], gt_ok[8:9]])
    nan = {j: float("nan") for j in REPORTED_JOINTS}
    if det.num_people == 0 or not ok.any():
        return nan, float("nan"), False
    coco = det.to("coco17").keypoints_px
    head = det.to("rtpose15").keypoints_px[:, 8]
    flip = COCO17.flip_permutation()
    best = None
    for p in range(det.num_people):
        d = np.concatenate([coco[p, body], head[p][None]], 0)
        e = np.linalg.norm(d - g, axis=1)
        dm = np.concatenate([coco[p, flip][body], head[p][None]], 0)
        em = np.linalg.norm(dm - g, axis=1)
        med = float(np.nanmedian(np.where(ok, e, np.nan)))
        if best is None or med < best[1]:
            best = (e, med, float(np.nanmedian(np.where(ok, em, np.nan))) * 2.0 <= med)
    e, med, swap = best
    return {j: (float(v) if k else float("nan")) for j, v, k in zip(REPORTED_JOINTS, e, ok)}, med, swap


def evaluate_case(detector: PoseDetector2D, case: SimCase, board: str = "awr1843boost", duration_s: float = 12.0,
                  pck_fraction: float = 0.1) -> CaseResult:
    rig = _rig(case.scenario, case.seed, board, duration_s)
    src = rig.sources[case.camera]
    rendered = src.render(case.frame)
    uv, ok = src.keypoints(case.frame)
    uv, ok = uv[0], ok[0]  # first person (the default scenarios have one)
    rows = np.nonzero((rendered.mask == 0).any(axis=1))[0]
    height_px = float(rows[-1] - rows[0] + 1) if len(rows) else 0.0
    t = src.true_time_s(case.frame)
    j3 = rig.world.joints(t)[0, 0]
    cam_xyz = src.sensor.T_rig_sensor[:3, 3]
    pelvis = j3[0]
    lat = j3[12] - j3[9]  # l_shoulder - r_shoulder
    fwd = np.array([lat[1], -lat[0]])
    to_cam = (cam_xyz - pelvis)[:2]
    cosang = fwd @ to_cam / max(np.linalg.norm(fwd) * np.linalg.norm(to_cam), 1e-9)
    facing = float(np.degrees(np.arccos(np.clip(cosang, -1, 1))))
    t0 = time.perf_counter()
    det = detector.detect(rendered.image, case.frame)
    dt = time.perf_counter() - t0
    errs, med, swap = frame_errors(det, uv, ok)
    detected = det.num_people > 0
    correct = bool(detected and np.isfinite(med) and height_px > 0 and med < pck_fraction * height_px)
    joints_ok = np.concatenate([ok[[12, 9, 13, 10, 14, 11, 4, 1, 5, 2, 6, 3]], ok[8:9]])
    m = rendered.mask == 0
    truncated = bool(m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any())
    return CaseResult(case, float(np.linalg.norm(cam_xyz - pelvis)), facing, height_px, float(joints_ok.mean()),
                      truncated, detected, correct, bool(swap), med, errs, dt)


def summarize(results: list[CaseResult]) -> dict:
    """Detection rate, correct rate, swaps, median error (overall and per joint) and breakdowns."""
    n = len(results)
    det = [r for r in results if r.detected]

    def med(vals):
        v = np.asarray([x for x in vals if np.isfinite(x)])
        return float(np.median(v)) if len(v) else float("nan")

    out = {"frames": n, "detected": len(det), "detection_rate": len(det) / n if n else float("nan"),
           "correct": sum(r.correct for r in results),
           "correct_rate": sum(r.correct for r in results) / n if n else float("nan"),
           "lr_swaps": sum(r.lr_swap for r in results),
           "median_error_px": med(e for r in det for j, e in r.errors_px.items() if j in BODY_JOINTS),
           "median_frame_error_px": med(r.median_error_px for r in det),
           "median_person_height_px": med(r.person_height_px for r in results),
           "median_detect_ms": 1e3 * med(r.detect_s for r in results)}
    out["per_joint_median_px"] = {j: med(r.errors_px[j] for r in det) for j in REPORTED_JOINTS}
    groups = {
        "scenario": lambda r: r.case.scenario,
        "facing": lambda r: "front (<60°)" if r.facing_deg < 60 else ("side (60-120°)" if r.facing_deg <= 120
                                                                      else "back (>120°)"),
        "distance": lambda r: "<2.5 m" if r.distance_m < 2.5 else ("2.5-4 m" if r.distance_m < 4 else ">=4 m"),
        "view": lambda r: "cut by the image border" if r.truncated else "whole person in image",
    }
    out["by"] = {}
    for gname, key in groups.items():
        g: dict[str, list[CaseResult]] = {}
        for r in results:
            g.setdefault(key(r), []).append(r)
        out["by"][gname] = {k: {"frames": len(v), "detected": sum(x.detected for x in v),
                                "correct": sum(x.correct for x in v),
                                "median_error_px": med(e for x in v if x.detected for j, e in x.errors_px.items()
                                                       if j in BODY_JOINTS)} for k, v in sorted(g.items())}
    return out


def evaluate_detector(config: EvalConfig, detector: PoseDetector2D | None = None,
                      progress: bool = False) -> tuple[list[CaseResult], dict]:
    """Run ``config.detector`` (or the given one) on ``config.frames`` sampled cases."""
    own = detector is None
    if own:
        if config.detector == "groundtruth":
            raise ConfigError("the groundtruth detector is bound to one session or camera: use evaluate_case with "
                              "GroundTruthDetector.from_sim_source")
        detector = create_detector(config.detector, **dict(config.detector_options))
    try:
        cases = sample_cases(config.frames, config.scenarios, config.seed, config.board, config.duration_s)
    except RfposeError:
        if own:
            detector.close()
        raise
    it = cases
    if progress:
        from tqdm import tqdm

        it = tqdm(cases, unit="frame", desc=f"evaluate {config.detector}")
    try:
        results = [evaluate_case(detector, c, config.board, config.duration_s, config.pck_fraction) for c in it]
    finally:
        if own:
            detector.close()
    return results, summarize(results)


def result_rows(results: list[CaseResult]) -> list[dict]:
    rows = []
    for r in results:
        rows.append({"scenario": r.case.scenario, "seed": r.case.seed, "camera": r.case.camera,
                     "frame": r.case.frame, "dist_m": round(r.distance_m, 2), "facing_deg": round(r.facing_deg),
                     "height_px": r.person_height_px, "cut": r.truncated, "detected": r.detected, "correct": r.correct,
                     "lr_swap": r.lr_swap, "median_px": round(r.median_error_px, 1)})
    return rows


if __name__ == "__main__":  # pragma: no cover
    sys.exit("python -m rfpose.annotation.simeval moved to: rfpose bench detector (same options)")
