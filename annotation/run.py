"""``rfpose annotate`` on one session: detect (cached), lift, refine, write the label set.

The label set (``auto`` by default) holds rtpose15 joints in the radar frame (m), one entry per labelled
radar frame (``frame_index`` = the radar stream position, timestamp = the radar frame's timestamp plus half
its chirping), per-joint confidence, and in its attrs the per-entry ``quality`` and ``flags`` (bits:
1 low quality, 2 incomplete, 4 more people than the detector handles) and the list ``flagged_frames``.
Its provenance names the detector (and version), the calibration, the cameras/LiDAR used and every
parameter.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from rfpose.annotation.detect import default_cache_dir, detect_stream
from rfpose.annotation.detectors import create_detector
from rfpose.annotation.lidar_depth import LidarCloud
from rfpose.annotation.pipeline import FLAG_NAMES, SKELETON, AnnotateParams, Annotation, annotate
from rfpose.annotation.rig import load_rig
from rfpose.errors import ConfigError


def detect_session(reader, detector_name: str, cameras: list[str] | None = None, cache_dir=None,
                   progress: bool = True, detector_options: dict | None = None):
    """Detections of every camera stream (cached). Returns ``({camera: CameraDetections}, describe, seconds)``."""
    rig = load_rig(reader, cameras=cameras)
    cache = Path(cache_dir) if cache_dir else default_cache_dir(reader.path)
    out, describe, secs = {}, {}, 0.0
    for cam in rig.cameras:
        opts = dict(detector_options or {})
        if detector_name == "groundtruth":
            opts.setdefault("session", reader)
            opts["camera"] = cam.name
        if detector_name == "mediapipe":
            opts.setdefault("segmentation", True)  # the person mask's width gives the LiDAR offsets' girth
        det = create_detector(detector_name, **opts)
        try:
            t0 = time.perf_counter()
            out[cam.name] = detect_stream(reader, cam.name, det, cache, progress=progress)
            secs += time.perf_counter() - t0
            describe = out[cam.name].detector
        finally:
            det.close()
    return out, describe, secs


def annotate_session(reader, detector: str = "mediapipe", cameras: list[str] | None = None,
                     use_lidar: bool = True, params: AnnotateParams = AnnotateParams(), cache_dir=None,
                     progress: bool = True, detector_options: dict | None = None) -> tuple[Annotation, dict]:
    """Run the stage on an open session. Returns the annotation and a JSON-ready summary."""
    rig = load_rig(reader, cameras=cameras, lidars=None if use_lidar else [])
    if not rig.cameras:
        raise ConfigError(f"{reader.path}: the session has no camera stream to annotate from")
    dets, describe, det_s = detect_session(reader, detector, [c.name for c in rig.cameras], cache_dir, progress,
                                           detector_options)
    t0 = time.perf_counter()
    cloud = LidarCloud.from_session(reader, rig.lidars[0]) if rig.lidars else None
    single = detector == "mediapipe"
    ann = annotate(rig, dets, reader.stream(rig.radar).timestamps_ns, cloud, params, single_person_detector=single)
    lift_s = time.perf_counter() - t0
    n = len(ann.frame_index)
    flagged = {name: int(((ann.flags & bit) != 0).sum()) for bit, name in FLAG_NAMES.items()}
    summary = {"session": str(reader.path), "detector": describe, "radar": rig.radar,
               "cameras": [c.name for c in rig.cameras], "lidar": [l.name for l in rig.lidars],
               "radar_frames": n, "labelled": int(ann.labelled.sum()), "flagged": flagged,
               "mean_quality": float(ann.quality[ann.quality > 0].mean()) if (ann.quality > 0).any() else 0.0,
               "detector_seconds": round(det_s, 3), "labelling_seconds": round(lift_s, 3),
               "labelling_fps": round(n / lift_s, 1) if lift_s > 0 else None, **ann.stats}
    ann.stats["provenance"] = {"method": "rfpose annotate", "detector": describe, "calibration": rig.calibration,
                               "radar": rig.radar, "cameras": summary["cameras"], "lidar": summary["lidar"],
                               "reference_camera": ann.reference_camera, "parameters": params.to_dict(),
                               "floor": ann.stats.get("floor"),
                               "frame": "radar frame, metres", "time": "radar timestamp + half the chirping"}
    return ann, summary


def write_labels(session_path, name: str, ann: Annotation, force: bool = False) -> int:
    """Write the labelled radar frames of ``ann`` as label set ``name``; returns the entries written."""
    from rfpose.session import add_label_set, open_session
    from rfpose.session.writer import remove_label_set

    if name in open_session(session_path).label_sets:
        if not force:
            raise ConfigError(f"label set {name!r} already exists; --force replaces it", str(session_path))
        remove_label_set(session_path, name)
    keep = np.isfinite(ann.joints).all(-1).any(-1).any(-1)  # any person with any joint
    idx = np.flatnonzero(keep)
    add_label_set(session_path, name, SKELETON, ann.timestamps_ns[idx], ann.joints[idx],
                  ann.confidence[idx].astype(np.float32),
                  frame_index=ann.frame_index[idx], provenance=ann.stats.get("provenance"),
                  attrs={"stream": (ann.stats.get("provenance") or {}).get("radar", "radar"), "frame": "radar",
                         "quality": np.round(ann.quality[idx], 4).tolist(), "flags": ann.flags[idx].tolist(),
                         "flag_bits": {str(k): v for k, v in FLAG_NAMES.items()},
                         "flagged_frames": ann.frame_index[idx][ann.flags[idx] != 0].tolist()})
    return len(idx)
