"""Reading the MARS dataset (SizheAn/MARS) in its upstream layout: point clouds, Kinect labels, the split.

Layout under ``MARS_DIR`` (see ``shared/data/mars/README.md``)::

    synced_data/woutlier/subjectK/radar_dataM.mat                  K = 1..4, M = 1..10
    synced_data/woutlier/subjectK/timesplit/kinect_data_<split>.csv
    feature/labels_<split>.npy                                     (frames, 57), optional

- ``radar_dataM.mat`` is MATLAB v7.3 (HDF5): ``radar_data_cropped`` seen by h5py as (8, N) float64, rows
  ``Frame #, # Obj, X, Y, Z, Doppler, Intensity, Abs Time``; a frame is a run of rows with one frame number.
- The split, which upstream never documented: inside each movement file with n frames, in frame order, the
  first ceil(0.6 n) frames are train, the next ceil(0.2 n) validate, the rest test; a split's frames are
  concatenated over movements 1..10 of a subject. Row i of ``kinect_data_<split>.csv`` (75 columns: 25
  Kinect joints' X, then Y, then Z) labels the subject's i-th frame of that split; ``labels_<split>.npy``
  holds the 19-joint labels (x of 19 joints, then y, then z) of subjects 1..4 stacked.

Frames: MARS uses TI's demo convention, x lateral (positive to the radar's right, looking out of the
radar), y depth (away from the radar), z up. rfpose's radar frame is x forward, y left, z up, so

    x_rfpose = y_mars,   y_rfpose = -x_mars,   z_rfpose = z_mars

(a rotation by +90° about z; Doppler, a radial velocity, and intensity are unchanged). The signs follow
from the labels: the subjects face the radar (FootLeft nearer than AnkleLeft) and ShoulderLeft has the
larger MARS x in every frame, so the subject's left, which faces the radar's right, is +x_mars.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rfpose.errors import FormatError

MARS_SPLITS = ("train", "validate", "test")
#: upstream split name -> rfpose split name
SPLIT_TO_RFPOSE = {"train": "train", "validate": "val", "test": "test"}
SPLIT_FRACTIONS = (0.6, 0.2)
RADAR_VARIABLE = "radar_data_cropped"
RADAR_COLUMNS = ("frame", "num_obj", "x", "y", "z", "doppler", "intensity", "abs_time")
POINT_FIELDS = ("x", "y", "z", "doppler", "intensity")
MAX_POINTS = 64  # the TI demo's output limit in MARS (and the CNN's 8×8 map)

KINECT25 = ("SpineBase", "SpineMid", "Neck", "Head", "ShoulderLeft", "ElbowLeft", "WristLeft", "HandLeft",
            "ShoulderRight", "ElbowRight", "WristRight", "HandRight", "HipLeft", "KneeLeft", "AnkleLeft",
            "FootLeft", "HipRight", "KneeRight", "AnkleRight", "FootRight", "SpineShoulder", "HandTipLeft",
            "ThumbLeft", "HandTipRight", "ThumbRight")
HAND_JOINTS = ("HandLeft", "HandRight", "HandTipLeft", "ThumbLeft", "HandTipRight", "ThumbRight")
#: Kinect-25 indices of MARS's 19 joints, in MARS's order (the ``kinect19`` skeleton)
KINECT19_FROM_25 = np.array([i for i, j in enumerate(KINECT25) if j not in HAND_JOINTS])

#: rotation taking MARS coordinates (x lateral right, y depth, z up) to rfpose's (x forward, y left, z up)
MARS_TO_RADAR = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


def mars_to_radar(xyz: np.ndarray) -> np.ndarray:
    """(..., 3) MARS coordinates → rfpose radar frame (same units)."""
    xyz = np.asarray(xyz)
    return np.stack([xyz[..., 1], -xyz[..., 0], xyz[..., 2]], axis=-1)


def split_sizes(n: int) -> tuple[int, int, int]:
    """(train, validate, test) frame counts of a movement file with ``n`` frames (upstream's time split)."""
    n_train = min(n, math.ceil(SPLIT_FRACTIONS[0] * n))
    n_val = min(n - n_train, math.ceil(SPLIT_FRACTIONS[1] * n))
    return n_train, n_val, n - n_train - n_val


@dataclass
class RadarFile:
    """The frames of one ``radar_dataM.mat``.

    ``points`` (M, 5) float64 (x, y, z, Doppler m/s, intensity) in the MARS frame, frame ``i`` being
    ``points[offsets[i]:offsets[i+1]]`` in file order; ``frame_number`` (n,) the radar's counter;
    ``time_s`` (n,) host time of the frame's first point, seconds since the Unix epoch.
    """

    path: str
    frame_number: np.ndarray
    offsets: np.ndarray
    points: np.ndarray
    time_s: np.ndarray

    def __len__(self) -> int:
        return len(self.frame_number)


def parse_radar_rows(rows: np.ndarray, where: str = "radar data") -> RadarFile:
    """Frames from the (N, 8) rows of ``radar_data_cropped`` (MATLAB's orientation).

    Raises FormatError on a wrong shape, non-finite or decreasing frame numbers, or a ``# Obj`` column that
    disagrees with the frame's row count.
    """
    rows = np.asarray(rows, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != len(RADAR_COLUMNS):
        raise FormatError(f"{where}: expected (N, {len(RADAR_COLUMNS)}) rows {RADAR_COLUMNS}, got {rows.shape}")
    if not np.isfinite(rows[:, :7]).all():
        raise FormatError(f"{where}: non-finite values in frame, count or point columns")
    frame = rows[:, 0]
    if len(frame) and np.any(np.diff(frame) < 0):
        bad = int(np.flatnonzero(np.diff(frame) < 0)[0]) + 1
        raise FormatError(f"{where}: frame numbers decrease at row {bad} ({frame[bad - 1]:g} → {frame[bad]:g})")
    starts = np.flatnonzero(np.r_[True, np.diff(frame) != 0]) if len(frame) else np.zeros(0, np.int64)
    offsets = np.r_[starts, len(frame)].astype(np.int64)
    counts = np.diff(offsets)
    claimed = rows[starts, 1]
    if np.any(claimed != counts):
        i = int(np.flatnonzero(claimed != counts)[0])
        raise FormatError(f"{where}: frame {frame[starts[i]]:g} has {counts[i]} rows but '# Obj' says "
                          f"{claimed[i]:g}")
    return RadarFile(where, frame[starts].astype(np.int64), offsets, rows[:, 2:7].copy(), rows[starts, 7].copy())


def read_radar_mat(path: str | Path) -> RadarFile:
    """Read one ``radar_dataM.mat`` (MATLAB v7.3 / HDF5)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if RADAR_VARIABLE not in f:
                raise FormatError(f"{path}: no variable {RADAR_VARIABLE!r} (found {sorted(f.keys())})")
            data = f[RADAR_VARIABLE][()]
    except OSError as e:
        raise FormatError(f"{path}: not a MATLAB v7.3 (HDF5) file ({e})") from None
    return parse_radar_rows(np.asarray(data).T, str(path))


def read_kinect_csv(path: str | Path) -> np.ndarray:
    """(rows, 25, 3) Kinect joints in metres, MARS frame, from a ``kinect_data_<split>.csv``."""
    path = Path(path)
    with path.open() as f:
        header = f.readline().strip().split(",")
    expected = [f"{j}_{a}" for a in "XYZ" for j in KINECT25]
    if header != expected:
        raise FormatError(f"{path}: header is not the 75 Kinect columns (X of 25 joints, then Y, then Z); "
                          f"first differing column: {next((h for h, e in zip(header, expected) if h != e), '?')}")
    try:
        values = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise FormatError(f"{path}: {e}") from None
    if values.shape[1] != 75:
        raise FormatError(f"{path}: {values.shape[1]} columns, expected 75")
    return values.reshape(-1, 3, 25).transpose(0, 2, 1)


def labels57_to_joints(labels: np.ndarray) -> np.ndarray:
    """Upstream's (n, 57) label rows (19 x, 19 y, 19 z) → (n, 19, 3)."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.shape[1] != 57:
        raise FormatError(f"labels: expected (frames, 57), got {labels.shape}")
    return labels.reshape(-1, 3, 19).transpose(0, 2, 1)


def joints_to_labels57(joints: np.ndarray) -> np.ndarray:
    """(n, 19, 3) → upstream's (n, 57) rows (inverse of :func:`labels57_to_joints`)."""
    return np.asarray(joints).transpose(0, 2, 1).reshape(-1, 57)


@dataclass
class MarsFrames:
    """One subject's frames of one movement file that fall in one upstream split."""

    subject: int
    movement: int
    split: str  # upstream name: train | validate | test
    first_frame: int  # index of the first frame in the movement file
    radar: RadarFile
    joints: np.ndarray | None = None  # (n, 19, 3) MARS frame, None if unlabelled

    @property
    def n(self) -> int:
        return len(self.radar)


@dataclass
class MarsData:
    """All frames of a MARS tree, grouped by (subject, movement, split), with what was labelled."""

    root: str
    blocks: list[MarsFrames] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def frames(self, split: str, labelled: bool = True, subject: int | None = None) -> int:
        return sum(b.n for b in self.blocks if b.split == split and (b.joints is not None or not labelled)
                   and (subject is None or b.subject == subject))


def _sub(radar: RadarFile, lo: int, hi: int) -> RadarFile:
    a, b = int(radar.offsets[lo]), int(radar.offsets[hi])
    return RadarFile(radar.path, radar.frame_number[lo:hi], radar.offsets[lo:hi + 1] - a, radar.points[a:b],
                     radar.time_s[lo:hi])


def _numbered(folder: Path, pattern: str) -> dict[int, Path]:
    rx = re.compile(pattern)
    out = {}
    for p in folder.iterdir() if folder.is_dir() else []:
        m = rx.fullmatch(p.name)
        if m:
            out[int(m.group(1))] = p
    return dict(sorted(out.items()))


def _read_labels_npy(path: Path) -> np.ndarray:
    try:
        labels = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise FormatError(f"{path}: not a .npy array ({e})") from None
    try:
        return labels57_to_joints(labels)
    except FormatError as e:
        raise FormatError(f"{path}: {e}") from None


def load_mars(mars_dir: str | Path, variant: str = "woutlier") -> MarsData:
    """Read a MARS tree: every movement file's frames split by upstream's rule, labelled where labels exist.

    Labels of a subject's split come from its ``kinect_data_<split>.csv``, else from that subject's rows of
    ``feature/labels_<split>.npy``; where both exist they must agree exactly. A split without labels keeps
    its frames unlabelled and adds a line to ``notes``.
    """
    root = Path(mars_dir)
    base = root / "synced_data" / variant
    subjects = _numbered(base, r"subject(\d+)")
    if not subjects:
        raise FormatError(f"{base}: no subjectK folders (expected MARS's synced_data/{variant}/subjectK/)")
    data = MarsData(str(root))
    per_subject: dict[int, dict[str, list[MarsFrames]]] = {}
    for k, folder in subjects.items():
        files = _numbered(folder, r"radar_data(\d+)\.mat")
        if not files:
            raise FormatError(f"{folder}: no radar_dataM.mat files")
        per_subject[k] = {s: [] for s in MARS_SPLITS}
        for m, path in files.items():
            radar = read_radar_mat(path)
            lo = 0
            for split, size in zip(MARS_SPLITS, split_sizes(len(radar))):
                block = MarsFrames(k, m, split, lo, _sub(radar, lo, lo + size))
                per_subject[k][split].append(block)
                data.blocks.append(block)
                lo += size

    for split in MARS_SPLITS:
        npy_path = root / "feature" / f"labels_{split}.npy"
        npy = _read_labels_npy(npy_path) if npy_path.exists() else None
        npy_row = 0
        missing = []
        for k in subjects:
            blocks = per_subject[k][split]
            n = sum(b.n for b in blocks)
            csv_path = subjects[k] / "timesplit" / f"kinect_data_{split}.csv"
            joints = None
            if csv_path.exists():
                joints = read_kinect_csv(csv_path)[:, KINECT19_FROM_25]
                if len(joints) != n:
                    raise FormatError(f"{csv_path}: {len(joints)} rows, but the split rule gives subject {k} "
                                      f"{n} {split} frames")
            if npy is not None and npy_row + n <= len(npy):
                from_npy = npy[npy_row:npy_row + n]
                if joints is not None and not np.array_equal(joints, from_npy):
                    raise FormatError(f"{csv_path}: labels differ from rows {npy_row}–{npy_row + n - 1} of {npy_path}")
                joints = from_npy if joints is None else joints
            npy_row += n
            if joints is None:
                missing.append((k, n))
                continue
            row = 0
            for b in blocks:
                b.joints = joints[row:row + b.n]
                row += b.n
        if npy is not None and npy_row != len(npy):
            raise FormatError(f"{npy_path}: {len(npy)} rows, but the split rule gives {npy_row} {split} frames")
        if missing:
            who = ", ".join(str(k) for k, _ in missing)
            data.notes.append(f"{split}: no labels for subject{'s' if len(missing) > 1 else ''} {who} "
                              f"({sum(n for _, n in missing)} frames; neither timesplit/kinect_data_{split}.csv nor "
                              f"feature/labels_{split}.npy): skipped")
    return data


# ------------------------------------------------------------------------------------------------
# writing an rfpose points dataset
# ------------------------------------------------------------------------------------------------

NORMALISATION = "none: metres (radar frame), m/s, TI demo intensity"


def write_dataset(data: MarsData, out: str | Path, test_subject: int | None = None, overwrite: bool = False) -> dict:
    """Write the labelled frames of ``data`` as an rfpose points DATASET.zarr (:mod:`rfpose.dataset.writer`).

    One session per (subject, movement, upstream split), so temporal windows never cross a split. Splits
    are upstream's (train → train, validate → val, test → test), or with ``test_subject`` K a
    leave-one-subject-out split: every labelled frame of subject K is test, the others keep train / val.
    Joints are stored as float64 (upstream's labels, exactly), points as float32; both in the radar frame.
    Returns a summary: frames per split and per subject, points, notes.
    """
    from rfpose.dataset import POINTS_INTENSITY_FORMAT, SPLIT_NAMES, DatasetWriter, SampleTable
    from rfpose.errors import ConfigError

    out = Path(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists (pass --force to replace it)")
    blocks = [b for b in data.blocks if b.joints is not None]
    if not blocks:
        raise FormatError(f"{data.root}: no labelled frames")
    if test_subject is not None and not any(b.subject == test_subject for b in blocks):
        raise ConfigError(f"--test-subject {test_subject}: no labelled frames of that subject "
                          f"(subjects: {sorted({b.subject for b in blocks})})")
    split_of = [SPLIT_NAMES.index("test" if test_subject == b.subject else SPLIT_TO_RFPOSE[b.split]) for b in blocks]
    cat = np.concatenate
    samples = SampleTable(
        joints=cat([mars_to_radar(b.joints) for b in blocks])[:, None],  # (N, 1, 19, 3) float64
        confidence=np.ones((sum(b.n for b in blocks), 1, 19), np.float32),
        timestamp_ns=cat([np.round(b.radar.time_s * 1e9).astype(np.int64) for b in blocks]),
        session_index=cat([np.full(b.n, i, np.int32) for i, b in enumerate(blocks)]),
        frame_index=cat([(b.first_frame + np.arange(b.n)).astype(np.int32) for b in blocks]),
        subject=cat([np.full(b.n, b.subject, np.int32) for b in blocks]),
        split=cat([np.full(b.n, s, np.uint8) for b, s in zip(blocks, split_of)]))
    sessions = [{"path": b.radar.path, "name": f"subject{b.subject}-movement{b.movement}-{b.split}",
                 "subject": str(b.subject), "action": f"movement{b.movement}", "scene": None,
                 "mars_split": b.split, "first_frame": int(b.first_frame)} for b in blocks]
    spec = {"tensor_format": POINTS_INTENSITY_FORMAT, "shape": [MAX_POINTS, 5], "dtype": "float32",
            "normalisation": NORMALISATION, "skeleton": "kinect19",
            "axes": {"fields": ["x", "y", "z", "v", "intensity"]}}
    config = {"source": "mars", "mars_dir": str(Path(data.root).resolve()), "variant": "woutlier",
              "split_rule": "per movement file, in frame order: ceil(0.6 n) train, ceil(0.2 n) validate, rest test",
              "test_subject": test_subject, "frame": "radar (x forward = MARS y, y left = -MARS x, z up)"}
    writer = DatasetWriter.create(out, format="points", input_spec=spec, config=config, sessions=sessions,
                                  samples=samples, tasks=len(blocks), attrs={"notes": list(data.notes)})
    for task, b in enumerate(blocks):
        pts = np.concatenate([mars_to_radar(b.radar.points[:, :3]), b.radar.points[:, 3:]], axis=1)
        writer.write_points(task, np.split(pts.astype(np.float32), b.radar.offsets[1:-1]))
        writer.mark_done(task)
    writer.finish()
    counts = {s: int(np.sum(samples.split == i)) for i, s in enumerate(SPLIT_NAMES)}
    per_subject = {int(k): {s: int(np.sum((samples.subject == k) & (samples.split == i)))
                            for i, s in enumerate(SPLIT_NAMES)} for k in np.unique(samples.subject)}
    points = int(sum(len(b.radar.points) for b in blocks))
    return {"out": str(out), "frames": int(len(samples.joints)), "points": points, "splits": counts, "per_subject": per_subject, "notes": list(data.notes)}
