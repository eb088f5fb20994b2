"""Import the published RT-Pose dataset (ipl-uw/RT-POSE, HF ``uwipl/RT-Pose``) into an rtpose DATASET.zarr.

Layout read (``docs/import.md``; ``rtpose.md`` §2, §7):

- labels ``DIR/Train.json`` and ``DIR/Test.json`` (Test.json is not on HF: missing → a note, no test split),
  ``{seq_id: {frame: [{"Radar_frameID": int, "pose": 15 × [x, y, z]}, ...]}}``, metres in the radar frame
  (x forward, y left, z up) — rfpose's radar frame, so coordinates are copied unchanged;
- sequence names ``DIR/file_meta.txt`` (CSV ``id,name``, what the code reads) or ``DIR/filemeta.json`` (what HF
  ships: ``{id: name}``, a list of names, or a list of ``{id, name}``); neither → the sequence id is its name;
- radar tensors per sequence ``<seq>/DZYX_npy_f16/<frame>.npy`` (RT-Pose's training cache, float16
  (32, 32, 128, 256) = (D, Z, Y, X)) or ``<seq>/radar/npy_DZYX_complex/<frame>.npy`` (the released complex64
  (64, 32, 128, 256)), where ``<seq>`` is ``DIR/<name>``, ``DIR/sequences/<name>``, ``DIR/<id>`` or
  ``DIR/sequences/<id>``;
- ``DIR/Keypoints_meta.txt`` (optional): the joint order of the labels.

Conversion: a complex cube becomes the cache's values as RT-Pose's deleted ``process_rad_tensor.py`` made them
(|x|, max over Doppler pairs 64 → 32, (v − 1)/(1e8 − 1), negatives to 0, float16); then RT-Pose's loader
(``get_cube``): /10, negatives to 0, ROI crop (z 13–28, y 32–95, x 17–176 → (32, 16, 64, 160)). Voxel index i
on an axis is ``start + i·step`` with RT-Pose's grid (x 0 + i·11.6/256, y −10.05 + i·20.1/128,
z −5.8 + i·11.6/32), the convention RT-Pose's decoder uses, so labels and tensors line up as in HRRadarPose.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from rfpose.dataset import RTPOSE_FORMAT, DatasetWriter, SampleTable, VoxelGrid, to_float16
from rfpose.errors import ConfigError, FormatError, ShapeError
from rfpose.skeletons import get_skeleton

from rfpose.preprocessing.published import ImportSummary, read_json

#: RT-Pose's full Cartesian cube (Z, Y, X) and its Doppler bins in each on-disk variant
CUBE_ZYX = (32, 128, 256)
F16_DOPPLER, COMPLEX_DOPPLER = 32, 64
#: voxel index → metres on each axis (z, y, x): start and step of RT-Pose's 4Dradar2xyz grid
GRID_START_M = (-5.8, -10.05, 0.0)
GRID_STEP_M = (11.6 / 32, 20.1 / 128, 11.6 / 256)
#: RT-Pose's loader ROI ``roi1`` as index ranges [start, stop) on (z, y, x)
ROI1 = ((13, 29), (32, 96), (17, 177))
#: RT-Pose's loader scale (``DZYX.NORMALIZING_VALUE``) and the cache's affine map (process_rad_tensor.py)
LOADER_DIVISOR = 10.0
CACHE_OFFSET, CACHE_SCALE = 1.0, 1e8 - 1.0
FRAME_PERIOD_NS = 100_000_000  # 10 Hz (rtpose.md §1)
LAYOUT_VERSION = "RT-Pose 2024 (ipl-uw/RT-POSE 2edc230; HF uwipl/RT-Pose)"

#: Keypoints_meta.txt names → rfpose joint names
_META_NAMES = {"pelvis": "pelvis", "r_hip": "r_hip", "r_knee": "r_knee", "r_ankle": "r_ankle", "l_hip": "l_hip",
               "l_knee": "l_knee", "l_ankle": "l_ankle", "thomx": "thorax", "thorax": "thorax", "head": "head",
               "r_shoulder": "r_shoulder", "r_elbow": "r_elbow", "r_wrist": "r_wrist", "l_shoulder": "l_shoulder",
               "l_elbow": "l_elbow", "l_wrist": "l_wrist"}
#: RT-Pose's configs/cruw_pose/hr3d.py order: left arm at 9–11, right arm at 12–14
_CONFIG_ORDER = ("pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "thorax", "head",
                 "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist")
KEYPOINT_ORDERS = ("auto", "meta", "config")


def roi_grid(roi=ROI1) -> VoxelGrid:
    """The voxel grid (z, y, x sizes and first centres, m) of an ROI given as index ranges."""
    return VoxelGrid(tuple(GRID_STEP_M), tuple(s + r[0] * d for s, r, d in zip(GRID_START_M, roi, GRID_STEP_M)))


def cube_from_f16(cube: np.ndarray, roi=ROI1) -> np.ndarray:
    """A ``DZYX_npy_f16`` cube (32, Z, Y, X) → the loader's input (32, z, y, x) float32: /10, ≥ 0, ROI crop."""
    (z0, z1), (y0, y1), (x0, x1) = roi
    c = cube[:, z0:z1, y0:y1, x0:x1].astype(np.float32) / LOADER_DIVISOR
    return np.maximum(c, 0.0)


def cube_from_complex(cube: np.ndarray, roi=ROI1) -> np.ndarray:
    """A released ``npy_DZYX_complex`` cube (64, Z, Y, X) → the loader's input, through the cache's values:
    |x|, max over Doppler pairs, (v − 1)/(1e8 − 1), negatives to 0, float16 (cropped first: all steps are
    per voxel or along Doppler, so cropping first gives the same values)."""
    (z0, z1), (y0, y1), (x0, x1) = roi
    mag = np.abs(cube[:, z0:z1, y0:y1, x0:x1])
    pooled = mag.reshape(mag.shape[0] // 2, 2, *mag.shape[1:]).max(axis=1)
    f16 = np.maximum((pooled - CACHE_OFFSET) / CACHE_SCALE, 0.0).astype(np.float16)
    return cube_from_f16(f16, ((0, z1 - z0), (0, y1 - y0), (0, x1 - x0)))


# -- labels ---------------------------------------------------------------------------------------------
def read_sequence_names(root: Path) -> tuple[dict[str, str], str]:
    """{sequence id: name} from ``file_meta.txt`` or ``filemeta.json`` (empty if neither), and the file used."""
    txt, js = root / "file_meta.txt", root / "filemeta.json"
    if txt.exists():
        names = {}
        with txt.open(newline="") as f:
            for line, row in enumerate(csv.reader(f), 1):
                if not row or (line == 1 and row[0].strip().lower() == "id"):
                    continue
                if len(row) < 2:
                    raise FormatError(f"{txt}:{line}: expected 'id,name', got {','.join(row)!r}")
                names[row[0].strip()] = row[1].strip()
        return names, txt.name
    if js.exists():
        doc = read_json(js)
        if isinstance(doc, dict):
            return {str(k): str(v if not isinstance(v, dict) else v.get("name", k)) for k, v in doc.items()}, js.name
        if isinstance(doc, list):
            out = {}
            for i, v in enumerate(doc):
                if isinstance(v, dict):
                    if "name" not in v:
                        raise FormatError(f"{js}: entry {i} has no field 'name'")
                    out[str(v.get("id", i))] = str(v["name"])
                else:
                    out[str(i)] = str(v)
            return out, js.name
        raise FormatError(f"{js}: expected an object {{id: name}} or a list, got {type(doc).__name__}")
    return {}, ""


def read_labels(path: Path) -> list[tuple[str, int, np.ndarray]]:
    """(sequence id, radar frame id, (P, 15, 3) poses) of every labelled frame in a Train/Test.json."""
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise FormatError(f"{path}: expected an object {{seq_id: {{frame: [...]}}}}, got {type(doc).__name__}")
    out = []
    for seq, frames in doc.items():
        if not isinstance(frames, dict):
            raise FormatError(f"{path}: sequence {seq}: expected an object {{frame: [...]}}")
        by_radar: dict[int, list] = {}
        for frame, people in frames.items():
            if isinstance(people, dict):
                people = [people]
            if not isinstance(people, list):
                raise FormatError(f"{path}: sequence {seq} frame {frame}: expected a list of people")
            for k, person in enumerate(people):
                where = f"{path}: sequence {seq} frame {frame} person {k}"
                if not isinstance(person, dict) or "pose" not in person or "Radar_frameID" not in person:
                    raise FormatError(f"{where}: needs fields 'Radar_frameID' and 'pose'")
                try:
                    pose = np.asarray(person["pose"], dtype=np.float32)
                    rid = int(person["Radar_frameID"])
                except (TypeError, ValueError):
                    raise FormatError(f"{where}: 'pose' must be 15 × [x, y, z] numbers and 'Radar_frameID' "
                                      "an integer") from None
                if pose.shape != (15, 3):
                    raise FormatError(f"{where}: field 'pose' has shape {pose.shape}, expected (15, 3)")
                by_radar.setdefault(rid, []).append(pose)
        out.extend((str(seq), rid, np.stack(poses)) for rid, poses in sorted(by_radar.items()))
    return out


def meta_permutation(root: Path) -> np.ndarray | None:
    """Index array taking labels in ``Keypoints_meta.txt`` order to rtpose15 (None if the file is absent)."""
    path = root / "Keypoints_meta.txt"
    if not path.exists():
        return None
    names = []
    for line in path.read_text().splitlines():
        parts = line.replace(":", " ").replace(",", " ").split()
        words = [p for p in parts if not p.lstrip("-").isdigit()]
        if words:
            names.append(_META_NAMES.get(words[-1].lower()))
    target = get_skeleton("rtpose15").joints
    if len(names) != 15 or None in names or sorted(names) != sorted(target):
        raise FormatError(f"{path}: expected the 15 RT-Pose joint names (Pelvis … L_Wrist), one per line")
    return np.array([names.index(j) for j in target])


def arms_swapped_fraction(poses: np.ndarray) -> float:
    """Fraction of people (rtpose15, (N, 15, 3)) whose 'right' shoulder lies on the left hip's side: the
    shoulder axis (r − l) against the hip axis (r − l). Near 0: arms as labelled; near 1: arms swapped."""
    sk = get_skeleton("rtpose15")
    sh = poses[:, sk.index("r_shoulder")] - poses[:, sk.index("l_shoulder")]
    hip = poses[:, sk.index("r_hip")] - poses[:, sk.index("l_hip")]
    d = np.einsum("nk,nk->n", sh[:, :2], hip[:, :2])  # horizontal plane
    d = d[np.isfinite(d)]
    return float(np.mean(d < 0)) if len(d) else 0.0


# -- radar files ----------------------------------------------------------------------------------------
def _find_frames(root: Path, seq: str, name: str) -> tuple[dict[int, Path], str]:
    """{radar frame id: file} of a sequence and its variant ("f16" | "complex"); empty if none found."""
    for base in dict.fromkeys((root / name, root / "sequences" / name, root / seq, root / "sequences" / seq)):
        for sub, kind in (("DZYX_npy_f16", "f16"), ("radar/npy_DZYX_complex", "complex"), ("npy_DZYX_complex", "complex")):
            d = base / sub
            if d.is_dir():
                files = {}
                for p in d.glob("*.npy"):
                    if p.stem.isdigit():
                        files[int(p.stem)] = p
                return files, kind
    return {}, ""


def load_cube(path: Path, kind: str, cube_zyx=CUBE_ZYX, roi=ROI1) -> np.ndarray:
    """One frame file → the model's (32, z, y, x) float32 input; a wrong shape or dtype names the file."""
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise FormatError(f"{path}: not a readable .npy ({e})") from None
    if kind == "f16":
        want, ok = (F16_DOPPLER, *cube_zyx), a.dtype == np.float16
        dtype = "float16"
    else:
        want, ok = (COMPLEX_DOPPLER, *cube_zyx), np.iscomplexobj(a)
        dtype = "complex64"
    if tuple(a.shape) != want or not ok:
        raise ShapeError(f"{path}: {a.dtype} {tuple(a.shape)}, expected {dtype} {want} (D, Z, Y, X)")
    return cube_from_f16(a, roi) if kind == "f16" else cube_from_complex(a, roi)


# -- the import -----------------------------------------------------------------------------------------
def import_rtpose(root: str | Path, out: str | Path, *, keypoint_order: str = "auto",
                  val_sequences: tuple[str, ...] = (), cube_zyx=CUBE_ZYX, roi=ROI1,
                  overwrite: bool = False) -> ImportSummary:
    """Read the RT-Pose tree at ``root`` and write an rtpose DATASET.zarr at ``out`` (through the one writer).

    ``keypoint_order``: "meta" (``Keypoints_meta.txt``'s order: right arm at 9–11, = rtpose15), "config"
    (``hr3d.py``'s: left arm at 9–11), "auto" (Keypoints_meta.txt if present, else "meta"; then checked
    against the data: if most labelled shoulders sit on the opposite hip's side the arms are swapped and a
    note says so). ``val_sequences``: sequence ids (or names) whose Train.json frames become the val split.
    ``cube_zyx``/``roi``: the cube shape the files must have and the crop (RT-Pose's unless a test writes
    small cubes)."""
    root, out = Path(root), Path(out)
    if keypoint_order not in KEYPOINT_ORDERS:
        raise ConfigError(f"keypoint order {keypoint_order!r}; valid: {', '.join(KEYPOINT_ORDERS)}")
    if not root.is_dir():
        raise FormatError(f"{root}: not a directory")
    if out.exists() and not overwrite:
        raise ConfigError("output exists (pass --force to replace it)", str(out))
    for (lo, hi), n in zip(roi, cube_zyx):
        if not 0 <= lo < hi <= n:
            raise ConfigError(f"ROI {roi} does not fit the cube {cube_zyx}")
    res = ImportSummary(out=str(out))
    names, names_file = read_sequence_names(root)
    if not names_file:
        res.notes.append("no file_meta.txt or filemeta.json: sequence ids are used as directory names")
    label_files = {"train": root / "Train.json", "test": root / "Test.json"}
    if not label_files["train"].exists():
        raise FormatError(f"{label_files['train']}: missing (RT-Pose's labels)")
    rows = []  # (split, seq id, radar frame, poses)
    for split, path in label_files.items():
        if not path.exists():
            res.notes.append(f"{path.name} missing (HF ships only Train.json): no {split} split")
            continue
        for seq, rid, poses in read_labels(path):
            s = "val" if split == "train" and (seq in val_sequences or names.get(seq, seq) in val_sequences) else split
            rows.append((s, seq, rid, poses))
    if not rows:
        raise FormatError(f"{root}: Train.json/Test.json hold no labelled frames")
    unknown = [v for v in val_sequences if not any(v in (r[1], names.get(r[1])) for r in rows)]
    if unknown:
        res.notes.append(f"--val-sequences {', '.join(unknown)}: no such sequence in the labels")

    perm, order_name = _joint_order(root, keypoint_order, np.concatenate([r[3] for r in rows]), res.notes)

    files: dict[str, tuple[dict[int, Path], str]] = {}
    kept, missing = [], 0
    for row in rows:
        seq = row[1]
        if seq not in files:
            files[seq] = _find_frames(root, seq, names.get(seq, seq))
            if not files[seq][0]:
                res.notes.append(f"sequence {seq} ({names.get(seq, seq)}): no DZYX_npy_f16/ or "
                                 "npy_DZYX_complex/ directory; its labels are skipped")
        if row[2] in files[seq][0]:
            kept.append(row)
        elif files[seq][0]:
            missing += 1
    if missing:
        res.notes.append(f"{missing} labelled frames have no radar file and are skipped")
    if not kept:
        raise FormatError(f"{root}: no labelled frame has a radar file")
    kinds = {files[r[1]][1] for r in kept}

    # one session per (sequence, split): RT-Pose splits within sequences, and temporal windows must not
    # cross from test frames into training frames
    kept.sort(key=lambda r: (r[1], r[0], r[2]))
    keys = list(dict.fromkeys((r[1], r[0]) for r in kept))
    sess_of = {k: i for i, k in enumerate(keys)}
    seq_ids = {seq: i for i, seq in enumerate(dict.fromkeys(r[1] for r in kept))}
    n, P = len(kept), max(len(r[3]) for r in kept)
    joints = np.full((n, P, 15, 3), np.nan, np.float32)
    for i, r in enumerate(kept):
        joints[i, :len(r[3])] = r[3][:, perm]
    frame = np.array([r[2] for r in kept], np.int32)
    split_code = {"train": 0, "val": 1, "test": 2}
    samples = SampleTable(
        joints=joints, confidence=np.isfinite(joints[..., 0]).astype(np.float32),
        timestamp_ns=frame.astype(np.int64) * FRAME_PERIOD_NS,
        session_index=np.array([sess_of[(r[1], r[0])] for r in kept], np.int32), frame_index=frame,
        subject=np.array([seq_ids[r[1]] for r in kept], np.int32),
        split=np.array([split_code[r[0]] for r in kept], np.uint8))
    sessions = [{"path": str(root / names.get(seq, seq)), "name": f"{names.get(seq, seq)}/{split}",
                 "sequence_id": seq, "subject": seq_ids[seq], "action": None, "scene": None} for seq, split in keys]
    grid = roi_grid(roi)
    shape = [F16_DOPPLER, *(hi - lo for lo, hi in roi)]
    input_spec = {"tensor_format": RTPOSE_FORMAT, "shape": shape, "dtype": "float16",
                  "normalisation": "RT-Pose DZYX_npy_f16 cache ((|X| max over Doppler pairs − 1)/(1e8 − 1), ≥ 0) "
                                   "divided by 10, ≥ 0 (RT-Pose's loader)",
                  "skeleton": "rtpose15",
                  "grid": {"voxel_size_m": list(grid.voxel_size_m), "roi_min_m": list(grid.roi_min_m)}}
    config = {"import": {
        "source": "rtpose", "layout": LAYOUT_VERSION, "dir": str(root.resolve()),
        "label_files": [p.name for p in label_files.values() if p.exists()], "sequence_names": names_file or None,
        "radar_files": sorted("DZYX_npy_f16" if k == "f16" else "npy_DZYX_complex" for k in kinds),
        "cube_zyx": list(cube_zyx), "roi_index_zyx": [list(r) for r in roi],
        "keypoint_order": order_name, "val_sequences": list(val_sequences),
        "conversions": [
            "complex cubes: |x|, max over Doppler pairs (64 → 32), (v − 1)/(1e8 − 1), negatives to 0, float16 "
            "(RT-Pose's process_rad_tensor.py)",
            "cube /10, negatives to 0, ROI crop (RT-Pose's get_cube)",
            "voxel index i ↦ start + i·step (z −5.8 + i·0.3625, y −10.05 + i·0.157, x 0 + i·0.0453 m)",
            "poses: metres, radar frame (x forward, y left, z up), copied unchanged",
            f"joints: {order_name} order → rtpose15",
            "timestamps: radar frame id × 100 ms (10 Hz)"],
        "notes": res.notes}}
    writer = DatasetWriter.create(out, format="rtpose", input_spec=input_spec, config=config, sessions=sessions,
                                  samples=samples)
    for i, r in enumerate(kept):
        path, kind = files[r[1]][0][r[2]], files[r[1]][1]
        writer.write(i, i + 1, x=to_float16(load_cube(path, kind, cube_zyx, roi))[None])
    writer.finish()
    res.frames, res.sequences, res.details["keypoint_order"] = n, len(seq_ids), order_name
    res.splits = {s: int((samples.split == c).sum()) for s, c in split_code.items()}
    return res


def _joint_order(root: Path, order: str, poses: np.ndarray, notes: list[str]) -> tuple[np.ndarray, str]:
    """(permutation to rtpose15, the order's name), checking the arms against the hips in the data."""
    identity = np.arange(15)
    config_perm = np.array([_CONFIG_ORDER.index(j) for j in get_skeleton("rtpose15").joints])
    if order == "config":
        perm, name = config_perm, "config (hr3d.py: left arm at 9–11)"
    elif order == "meta":
        perm, name = identity, "meta (Keypoints_meta.txt: right arm at 9–11)"
    else:
        meta = meta_permutation(root)
        perm = identity if meta is None else meta
        name = "Keypoints_meta.txt" if meta is not None else "meta (Keypoints_meta.txt: right arm at 9–11)"
    swapped = arms_swapped_fraction(poses[:, perm])
    if swapped > 0.5:
        if order == "auto":
            perm = perm[config_perm]
            name += f", arms swapped: {swapped:.0%} of shoulders sat on the opposite hip's side"
            notes.append(f"keypoint order: {swapped:.0%} of labelled 'right' shoulders are on the left hip's side; "
                         "arms swapped (RT-Pose's hr3d.py order)")
        else:
            notes.append(f"keypoint order {order}: {swapped:.0%} of labelled 'right' shoulders are on the left "
                         "hip's side; the other order (or --keypoint-order auto) may be right")
    return perm, name


__all__ = ["CUBE_ZYX", "ROI1", "KEYPOINT_ORDERS", "arms_swapped_fraction", "cube_from_complex",
           "cube_from_f16", "import_rtpose", "load_cube", "meta_permutation", "read_labels",
           "read_sequence_names", "roi_grid"]
