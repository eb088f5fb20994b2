"""Write a simulated rig into a session (rfpose.session format), frames of all streams in time order."""

from __future__ import annotations

import logging

import numpy as np

from rfpose.errors import ConfigError
from rfpose.sim import SIM_REVISION
from rfpose.sim.rig import EPOCH_NS, SimCameraSource, SimulatedRig
from rfpose.sim.scenarios import build_rig
from rfpose.source import PointCloudFrame

log = logging.getLogger(__name__)


def session_attrs(rig: SimulatedRig) -> dict:
    d = rig.describe()
    people = d["people"]
    return {
        "source": "simulator",
        "scenario": d["scenario"],
        "seed": d["seed"],
        "action": [p["action"] for p in people] if len(people) != 1 else people[0]["action"],
        "subjects": [p["subject"] for p in people],
        "scene": d["room"]["kind"],
        "rig": d,
        "config": {"simulator": {"scenario": d["scenario"], "seed": d["seed"], "board": d["board"],
                                 "multipath": d["multipath"], "num_frames": rig.num_frames,
                                 "scene": d["room"]["kind"], "motion_seed": d.get("motion_seed"),
                                 **{k: d[k] for k in ("rig_seed", "stereo_baseline_m") if k in d},
                                 "breathing": "breathing" in d,
                                 "revision": SIM_REVISION}},
        "epoch_ns": EPOCH_NS,
        # the truth, for evaluation and tests only (no calibration, label or training stage reads it)
        "sim_truth": rig.truth().to_dict(),
    }


def simulate_session(out, scenario: str, num_frames: int | None, seed: int = 0, board: str | None = None,
                     people: int | None = None, camera: bool = True, lidar: bool = True,
                     lidar_pattern: str = "livox", multipath: bool = False, cfg_text: str | None = None,
                     overwrite: bool = False, progress: bool = False, labels_2d: bool = True,
                     scene: str | None = None, motion_seed: int | None = None, camera_model=None,
                     rig_seed: int | None = None, stereo_baseline_m: float | None = None,
                     rig: str | None = None, radar_time_labels_2d: str | None = None,
                     device_points=None, points_stream: str = "radar_points",
                     streams: tuple[str, ...] | None = None, breathing: bool = False) -> dict:
    """Simulate ``num_frames`` radar frames of ``scenario`` (None: the scenario's default, which covers a
    calibration scenario's whole target path) and write them to the session ``out``.

    ``scene`` ("clean" | "cluttered") overrides the scenario's room; ``motion_seed`` gives the same subjects
    (bodies of ``seed``) a different take of the motion (see :func:`rfpose.sim.scenarios.build_rig`);
    ``camera_model`` the cameras' design (:class:`rfpose.sim.camera.CameraModel`; e.g. a small one for tests);
    ``rig_seed`` and ``stereo_baseline_m`` choose the physical rig (see :func:`rfpose.sim.scenarios.build_rig`);
    ``rig`` overrides the scenario's sensor rig ("hupr": two radars and one camera, see
    :func:`~rfpose.sim.scenarios.build_rig`); ``streams`` writes only these sensors (e.g. one camera of the
    pair, to save rendering); ``breathing`` the radar body model (see :func:`~rfpose.sim.scenarios.build_rig`).

    ``radar_time_labels_2d`` (a skeleton name, e.g. "hupr14"): also write, per camera, the label set
    ``gt_2d_<skeleton>_<camera>``: the exact projection (true pose and lens, distortion included) of the 3-D
    truth at each reference radar frame's label time into that camera's image, in that skeleton, pixels.
    Joints the skeleton derives (hupr14's neck = rtpose15's thorax) follow :mod:`rfpose.skeletons`.

    ``device_points``: ``f(frame: RadarFrame) -> points`` (:data:`rfpose.source.RADAR_POINT_DTYPE`), the
    processing a board runs on its own ADC (e.g. the demo firmware's detection, as its UART sends it); its
    output for every frame of the first radar is written as the points stream ``points_stream``, with the
    radar frame's timestamp and extrinsics and the frame index as the device's frame number."""
    from rfpose.session import SessionWriter
    from rfpose.sim.scenarios import default_frames

    if num_frames is None:
        num_frames = default_frames(scenario, board, cfg_text, stereo_baseline_m)
    from rfpose.sim.camera import project
    from rfpose.skeletons import convert, get_skeleton

    rig_name = rig
    rig = build_rig(scenario, seed=seed, num_frames=num_frames, board=board, people=people, camera=camera,
                    lidar=lidar, lidar_pattern=lidar_pattern, multipath=multipath, cfg_text=cfg_text,
                    scene=scene, motion_seed=motion_seed, camera_model=camera_model, rig_seed=rig_seed,
                    stereo_baseline_m=stereo_baseline_m, rig=rig_name, breathing=breathing)
    if streams is not None:
        unknown = sorted(set(streams) - set(rig.sources))
        if unknown:
            raise ConfigError(f"no stream(s) {unknown} in the simulated rig; it has {sorted(rig.sources)}")
        for name in [n for n in rig.sources if n not in streams]:
            del rig.sources[name]
    n_people = len(rig.world.people)
    with SessionWriter(out, attrs=session_attrs(rig), overwrite=overwrite, commit_every=16) as w:
        for name, src in rig.sources.items():
            m = src.metadata
            extra = {k: v for k, v in m.items() if k not in ("board", "cfg_text", "frame_shape", "extrinsics",
                                                                 "intrinsics", "distortion", "height", "width")}
            if src.kind == "radar":
                w.add_radar_stream(name, board=m["board"], cfg_text=m["cfg_text"], frame_shape=m["frame_shape"],
                                   extrinsics=m["extrinsics"], attrs=extra)
            elif src.kind == "lidar":
                w.add_lidar_stream(name, extrinsics=m["extrinsics"], attrs=extra)
            else:
                w.add_camera_stream(name, height=m["height"], width=m["width"], intrinsics=m["intrinsics"],
                                    distortion=m["distortion"], extrinsics=m["extrinsics"], attrs=extra)
        radar0 = rig.radars[0].name
        if device_points is not None:
            m = rig.sources[radar0].metadata
            w.add_points_stream(points_stream, board=m["board"], cfg_text=m["cfg_text"], extrinsics=m["extrinsics"],
                                attrs={"derived_from": radar0, "source": "simulator"})
        w.add_labels("gt", skeleton="rtpose15", dims=3, max_people=max(1, n_people),
                     provenance={"method": "simulator", "frame": "rig (= radar) frame, metres",
                                 "time": "middle of the radar frame's chirping, true time"},
                     attrs={"stream": rig.radars[0].name})
        cams = [s for s in rig.sources.values() if isinstance(s, SimCameraSource)]
        if labels_2d:
            for c in cams:
                w.add_labels(f"gt_2d_{c.name}", skeleton="rtpose15", dims=2, max_people=max(1, n_people),
                             provenance={"method": "simulator", "projection": "exact, with lens distortion"},
                             attrs={"stream": c.name})
        if radar_time_labels_2d:
            sk = get_skeleton(radar_time_labels_2d)
            for c in cams:
                w.add_labels(radar_time_label_set(sk.name, c.name), skeleton=sk.name, dims=2,
                             max_people=max(1, n_people),
                             provenance={"method": "simulator", "projection": "exact, true camera pose and lens "
                                         "(distortion included)", "time": "the reference radar frame's label time",
                                         "skeleton": f"rtpose15 truth converted to {sk.name} (rfpose.skeletons)"},
                             attrs={"stream": c.name, "radar_stream": rig.radars[0].name,
                                    "image_size": [c.sensor.model.width, c.sensor.model.height]})
        # every stream's frames in order of true capture time
        events = []
        for name, src in rig.sources.items():
            for i in range(len(src)):
                events.append((src.true_time_s(i), name, i))
        events.sort()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(events), unit="frame", desc=f"simulate {scenario}")
        for _t, name, i in events:
            src = rig.sources[name]
            frame = src[i]
            w.append(name, frame)
            if name == radar0 and device_points is not None:
                w.append(points_stream, PointCloudFrame(frame.index, frame.timestamp_ns, device_points(frame), i))
            if name == radar0:
                tl = rig.label_time_s(i)
                j = rig.world.joints(tl)[0]
                w.append_labels("gt", EPOCH_NS + int(round(tl * 1e9)), j, np.ones(j.shape[:2], np.float32), i)
                if radar_time_labels_2d:
                    js = convert(j, "rtpose15", radar_time_labels_2d)[0]
                    for c in cams:
                        uv, ok = project(c.sensor.model, c.sensor.T_rig_sensor, js)
                        w.append_labels(radar_time_label_set(radar_time_labels_2d, c.name),
                                        EPOCH_NS + int(round(tl * 1e9)), uv.astype(np.float32),
                                        ok.astype(np.float32), i)
            elif labels_2d and isinstance(src, SimCameraSource):
                uv, ok = src.keypoints(i)
                w.append_labels(f"gt_2d_{name}", EPOCH_NS + int(round(src.true_time_s(i) * 1e9)), uv,
                                ok.astype(np.float32), i)
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    return {"scenario": scenario, "seed": seed, "frames": {n: len(s) for n, s in rig.sources.items()}}


def radar_time_label_set(skeleton: str, camera: str) -> str:
    """Name of the label set ``simulate_session(radar_time_labels_2d=skeleton)`` writes for ``camera``."""
    return f"gt_2d_{skeleton}_{camera}"
