"""2D detection over a session's camera streams: batched reads, a per-frame cache on disk, resumable.

The cache is a sidecar directory (default ``<session>.detections/``, next to the session, so a session is
never modified by detection): ``<detector-key>/<camera>/chunk_<first>.npz`` with ``keypoints (n, P, J, 2)``
px, ``confidence (n, P, J)``, ``world (n, P, J, 3)`` m (NaN when the detector gives no 3D shape) and
``silhouette (n, P)`` px (:meth:`~rfpose.annotation.detectors.Detection2D.silhouette_widths_px`, NaN without
a person mask) for stream positions ``first .. first+n``. A chunk is written to a temporary file and renamed,
so a kill loses at most the chunk in progress and a rerun continues from there. ``<detector-key>`` is the
detector's name plus a hash of its settings, so different settings never mix.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rfpose.annotation.detectors import PoseDetector2D
from rfpose.errors import FormatError
from rfpose.skeletons import get_skeleton

MAX_PEOPLE = 4


@dataclass
class CameraDetections:
    """Detections of every frame of one camera stream, in the detector's native skeleton."""

    camera: str
    skeleton: str
    timestamps_ns: np.ndarray  # (N,) the stream's host timestamps
    keypoints: np.ndarray  # (N, P, J, 2) px, NaN where no person/joint
    confidence: np.ndarray  # (N, P, J)
    world: np.ndarray  # (N, P, J, 3) m, NaN where not given
    detector: dict  # the detector's describe()
    silhouette_px: np.ndarray | None = None  # (N, P) mask width through the pelvis, NaN where not given

    @property
    def num_people(self) -> np.ndarray:
        return (self.confidence > 0).any(-1).sum(-1)


def default_cache_dir(session_path: str | Path) -> Path:
    p = Path(session_path)
    return p.with_name(p.name + ".detections")


def detector_key(describe: dict) -> str:
    h = hashlib.sha1(json.dumps(describe, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"{describe.get('name', 'detector')}-{h}"


def _save_chunk(path: Path, **arrays) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def detect_stream(reader, camera: str, detector: PoseDetector2D, cache_dir: str | Path, chunk: int = 32,
                  progress: bool = True) -> CameraDetections:
    """Run ``detector`` on every frame of ``camera`` (reading ``chunk`` images at a time), reusing the
    chunks already in the cache."""
    stream = reader.stream(camera)
    n = len(stream)
    describe = detector.describe() if hasattr(detector, "describe") else {"name": detector.name}
    sk = get_skeleton(detector.skeleton)
    J = sk.num_joints
    folder = Path(cache_dir) / detector_key(describe) / camera
    folder.mkdir(parents=True, exist_ok=True)
    (folder.parent / "detector.json").write_text(json.dumps(describe, indent=1, default=str))
    kp = np.full((n, MAX_PEOPLE, J, 2), np.nan)
    conf = np.zeros((n, MAX_PEOPLE, J))
    world = np.full((n, MAX_PEOPLE, J, 3), np.nan)
    silhouette = np.full((n, MAX_PEOPLE), np.nan)
    todo = []
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        f = folder / f"chunk_{start:07d}.npz"
        if f.exists():
            try:
                with np.load(f) as z:
                    if z["keypoints"].shape[:1] != (stop - start,) or z["keypoints"].shape[2] != J:
                        raise ValueError(f"shape {z['keypoints'].shape}")
                    kp[start:stop], conf[start:stop], world[start:stop] = z["keypoints"], z["confidence"], z["world"]
                    silhouette[start:stop] = z["silhouette"]
                continue
            except Exception as e:  # a corrupt or foreign chunk is recomputed
                f.unlink(missing_ok=True)
                if not isinstance(e, (ValueError, OSError, KeyError, EOFError)):
                    raise FormatError(f"{f}: unreadable detection cache chunk ({e})") from e
        todo.append((start, stop))
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=sum(b - a for a, b in todo), unit="img", desc=f"detect {camera}")
    for start, stop in todo:
        images = stream.read_block(start, stop)
        for k, img in enumerate(images):
            i = start + k
            d = detector.detect(img, int(stream.source_indices[i]))
            if d.skeleton != detector.skeleton:
                d = d.to(detector.skeleton)
            p = min(d.num_people, MAX_PEOPLE)
            kp[i, :p], conf[i, :p] = d.keypoints_px[:p], d.confidence[:p]
            if d.world_m is not None:
                world[i, :p] = d.world_m[:p]
            silhouette[i, :p] = d.silhouette_widths_px()[:p]
            if bar is not None:
                bar.update(1)
        _save_chunk(folder / f"chunk_{start:07d}.npz", keypoints=kp[start:stop], confidence=conf[start:stop],
                    world=world[start:stop], silhouette=silhouette[start:stop])
    if bar is not None:
        bar.close()
    return CameraDetections(camera, detector.skeleton, np.asarray(stream.timestamps_ns), kp, conf, world, describe,
                            silhouette)
