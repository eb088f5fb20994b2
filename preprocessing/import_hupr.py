"""Import the published HuPR dataset (robert80203/HuPR…, HF ``nirajpkini/HuPR``) into a hupr DATASET.zarr.

Layout read (``docs/import.md``; ``hupr.md`` §2, §7):

- ``DIR/hrnet_annot_{train,val,test}.json``: each a list with one entry per sequence, in the order of HuPR's
  config lists ``DATASET.{train,val,test}Name`` (built in: ``config/mscsa_prgcn.yaml``'s 193 / 21 / 21 sequences;
  another HuPR YAML with ``--config``). An entry is a list of ``{"image": "<frame>.jpg", "joints": 14 × [x, y],
  "bbox": [x1, y1, x2, y2]}``; joints are hupr14 pixels in the 256 × 256 label image (rfpose's hupr14 order is
  HuPR's ``idxToJoints``, so they are copied unchanged);
- ``DIR/single_<id>/{hori,vert}/<9-digit frame>.npy``: complex (16 Doppler, 64 range, 64 azimuth, 8 elevation).

HuPR's loader assumes 600 frames per sequence (``index % 600``); here a frame is the number in its ``image``
name, paired with the radar files of that number, and a sequence may have any number of frames (annotated
frames without both radar files are counted and skipped; temporal windows stay inside a sequence).

Conversion to rfpose's hupr format (D, re/im, range, azimuth, elevation): range ascending (HuPR stores bins
94 … 31, far first), azimuth and elevation flipped back to rfpose's order (sin increasing toward +y / up;
HuPR flips both), values divided by N·L·V = 256 · 64 · 12 (the chain's coherent gain, as ``rfpose preprocess``
scales) and stored as float16 with real and imaginary parts on axis 1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rfpose.dataset import HUPR_FORMAT, DatasetWriter, SampleTable, to_float16
from rfpose.errors import ConfigError, FormatError, ShapeError

from rfpose.preprocessing.published import ImportSummary, read_json

MAP_SHAPE = (16, 64, 64, 8)  # (Doppler, range, azimuth, elevation)
SCALE = 256 * 64 * 12  # N samples · L loops · V virtual channels
IMAGE_SIZE_PX = 256
FRAME_PERIOD_NS = 100_000_000  # 10 fps
VIEWS = ("hori", "vert")
LAYOUT_VERSION = "HuPR 2023 (robert80203/HuPR 53ab077; HF nirajpkini/HuPR)"
#: HuPR's published split, ``config/mscsa_prgcn.yaml`` (the order of the entries in hrnet_annot_<split>.json)
HUPR_SPLITS = {
    "train": [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 33, 35, 36,
              37, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 58, 59, 60, 61, 62, 63, 64, 66, 71, 73, 74, 75, 76, 77, 78,
              79, 80, 81, 83, 84, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 31, 32, 53, 54, 55, 67, 68, 69, 70,
              72, 85, 86, 100, 157, 158, 160, 167, 168, 169, 170, 177, 179, 180, 187, 188, 189, 190, 228, 229, 230,
              259, 260, 263, 264, 269, 270, 273, 274, 102, 103, 104, 105, 106, 107, 108, 109, 110, 119, 121, 122,
              123, 124, 133, 134, 135, 138, 147, 148, 149, 150, 151, 152, 153, 154, 155, 162, 163, 165, 166, 171,
              172, 173, 174, 175, 176, 182, 183, 184, 185, 186, 191, 192, 193, 195, 196, 198, 199, 200, 201, 202,
              203, 204, 206, 207, 208, 209, 210, 211, 212, 213, 215, 216, 223, 224, 225, 226, 231, 232, 233, 234,
              235, 236, 258, 261, 262, 265, 266, 267, 268, 271, 272, 275, 276],
    "val": [1, 14, 34, 57, 65, 98, 56, 99, 159, 178, 101, 120, 137, 156, 161, 164, 181, 194, 197, 205, 257],
    "test": [15, 16, 38, 40, 41, 42, 17, 39, 244, 245, 246, 249, 250, 251, 252, 253, 254, 247, 248, 255, 256],
}
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}


def read_split_config(path: str | Path) -> dict[str, list[int]]:
    """``DATASET.{train,val,test}Name`` of a HuPR YAML config."""
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read HuPR config ({str(e).splitlines()[0]})", str(path)) from None
    ds = doc.get("DATASET") if isinstance(doc, dict) else None
    if not isinstance(ds, dict):
        raise ConfigError("no DATASET section", str(path))
    out = {}
    for split in SPLIT_CODES:
        ids = ds.get(f"{split}Name")
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise ConfigError(f"DATASET.{split}Name must be a list of sequence numbers", str(path))
        out[split] = ids
    return out


def convert_map(m: np.ndarray) -> np.ndarray:
    """A HuPR map (16, 64, 64, 8) complex → rfpose's (16, 2, 64, 64, 8) float32: range ascending, azimuth and
    elevation flipped, divided by :data:`SCALE`, real and imaginary parts on axis 1."""
    m = m[:, ::-1, ::-1, ::-1] / SCALE
    return np.stack([m.real, m.imag], axis=1).astype(np.float32)


def load_map(path: Path, map_shape=MAP_SHAPE) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise FormatError(f"{path}: not a readable .npy ({e})") from None
    if tuple(a.shape) != tuple(map_shape) or not np.iscomplexobj(a):
        raise ShapeError(f"{path}: {a.dtype} {tuple(a.shape)}, expected complex {tuple(map_shape)} "
                         "(Doppler, range, azimuth, elevation)")
    return convert_map(a)


def read_annotations(path: Path) -> list[list[tuple[int, np.ndarray]]]:
    """Per sequence entry: (frame, (14, 2) joints) of every annotated image."""
    doc = read_json(path)
    if not isinstance(doc, list):
        raise FormatError(f"{path}: expected a list with one entry per sequence, got {type(doc).__name__}")
    out = []
    for s, entry in enumerate(doc):
        if not isinstance(entry, list):
            raise FormatError(f"{path}: sequence entry {s}: expected a list of annotations")
        rows = []
        for k, block in enumerate(entry):
            where = f"{path}: sequence entry {s} annotation {k}"
            if not isinstance(block, dict) or "image" not in block or "joints" not in block:
                raise FormatError(f"{where}: needs fields 'image' and 'joints'")
            stem = Path(str(block["image"])).stem
            if not stem.isdigit():
                raise FormatError(f"{where}: field 'image' {block['image']!r} is not '<frame number>.jpg'")
            try:
                joints = np.asarray(block["joints"], dtype=np.float32)
            except (TypeError, ValueError):
                raise FormatError(f"{where}: field 'joints' must be 14 × [x, y] numbers") from None
            if joints.shape != (14, 2):
                raise FormatError(f"{where}: field 'joints' has shape {joints.shape}, expected (14, 2)")
            rows.append((int(stem), joints))
        out.append(rows)
    return out


def import_hupr(root: str | Path, out: str | Path, *, splits: dict[str, list[int]] | None = None,
                map_shape=MAP_SHAPE, overwrite: bool = False) -> ImportSummary:
    """Read the HuPR tree at ``root`` and write a hupr DATASET.zarr at ``out`` (through the one writer).

    ``splits``: sequence numbers per split in annotation-file order (default HuPR's :data:`HUPR_SPLITS`).
    ``map_shape``: the shape each map file must have (HuPR's unless a test writes small maps)."""
    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise FormatError(f"{root}: not a directory")
    if out.exists() and not overwrite:
        raise ConfigError("output exists (pass --force to replace it)", str(out))
    splits = splits or HUPR_SPLITS
    res = ImportSummary(out=str(out))
    rows = []  # (split, seq, frame, joints, hori file, vert file)
    skipped_frames = 0
    for split in SPLIT_CODES:
        path = root / f"hrnet_annot_{split}.json"
        if not path.exists():
            res.notes.append(f"{path.name} missing: no {split} split")
            continue
        entries = read_annotations(path)
        ids = splits[split]
        if len(entries) > len(ids):
            raise FormatError(f"{path}: {len(entries)} sequence entries, but the {split} list names only "
                              f"{len(ids)} sequences (pass the HuPR config the file was made with: --config)")
        if len(entries) < len(ids):
            res.notes.append(f"{path.name}: {len(entries)} entries for {len(ids)} {split} sequences; "
                             "the first ones are paired, as HuPR's loader does")
        absent = []
        for seq, entry in zip(ids, entries):
            d = root / f"single_{seq}"
            if not entry:
                continue
            if not all((d / v).is_dir() for v in VIEWS):
                absent.append(seq)
                continue
            have = [{int(p.stem): p for p in (d / v).glob("*.npy") if p.stem.isdigit()} for v in VIEWS]
            for frame, joints in entry:
                if frame in have[0] and frame in have[1]:
                    rows.append((split, seq, frame, joints, have[0][frame], have[1][frame]))
                else:
                    skipped_frames += 1
        if absent:
            res.notes.append(f"{split}: {len(absent)} annotated sequences have no single_<id>/hori and vert "
                             f"directories and are skipped ({', '.join(map(str, absent[:8]))}"
                             f"{' …' if len(absent) > 8 else ''})")
    if skipped_frames:
        res.notes.append(f"{skipped_frames} annotated frames lack a hori or vert map and are skipped")
    if not rows:
        raise FormatError(f"{root}: no annotated frame has both radar maps (hrnet_annot_*.json and "
                          "single_<id>/{hori,vert}/<frame>.npy)")
    rows.sort(key=lambda r: (SPLIT_CODES[r[0]], r[1], r[2]))
    seqs = list(dict.fromkeys((r[0], r[1]) for r in rows))
    sess_of = {k: i for i, k in enumerate(seqs)}
    n = len(rows)
    frame = np.array([r[2] for r in rows], np.int32)
    joints_2d = np.stack([r[3] for r in rows])[:, None].astype(np.float32)  # (N, 1, 14, 2)
    samples = SampleTable(
        joints=np.full((n, 1, 14, 3), np.nan, np.float32), confidence=np.ones((n, 1, 14), np.float32),
        joints_2d=joints_2d, timestamp_ns=frame.astype(np.int64) * FRAME_PERIOD_NS,
        session_index=np.array([sess_of[(r[0], r[1])] for r in rows], np.int32), frame_index=frame,
        subject=np.array([r[1] for r in rows], np.int32),
        split=np.array([SPLIT_CODES[r[0]] for r in rows], np.uint8))
    sessions = [{"path": str(root / f"single_{seq}"), "name": f"single_{seq}", "subject": seq, "action": None,
                 "scene": None, "split": split} for split, seq in seqs]
    D, R, A, E = map_shape
    input_spec = {"tensor_format": HUPR_FORMAT, "shape": [D, 2, R, A, E], "dtype": "float16",
                  "normalisation": f"HuPR's published complex map divided by {SCALE} (N·L·V, the chain's coherent "
                                   "gain); re/im on axis 1",
                  "skeleton": "hupr14", "image_size_px": IMAGE_SIZE_PX,
                  "axes": {"order": ["doppler", "re_im", "range", "azimuth", "elevation"],
                           "doppler_bins": "HuPR's 16 central bins (24–39 of 64 after fftshift)",
                           "range": "ascending (HuPR's bins 31–94)"}}
    config = {"import": {
        "source": "hupr", "layout": LAYOUT_VERSION, "dir": str(root.resolve()),
        "splits": {s: list(v) for s, v in splits.items()},
        "split_source": "HuPR config/mscsa_prgcn.yaml" if splits is HUPR_SPLITS else "given",
        "conversions": [
            "range reversed to ascending, azimuth and elevation flipped (rfpose axis order)",
            f"values / {SCALE}, re/im stacked on axis 1, float16",
            "joints: hupr14 pixels in the 256 × 256 label image, copied unchanged (same joint order)",
            "frame = the number in the annotation's 'image' name (no 600-frame assumption)",
            "timestamps: frame × 100 ms (10 fps)"],
        "notes": res.notes}}
    writer = DatasetWriter.create(out, format="hupr", input_spec=input_spec, config=config, sessions=sessions,
                                  samples=samples)
    for i, row in enumerate(rows):
        hori, vert = (to_float16(load_map(p, map_shape))[None] for p in row[4:])
        writer.write(i, i + 1, x_hori=hori, x_vert=vert)
    writer.finish()
    res.frames, res.sequences = n, len(seqs)
    res.splits = {s: int((samples.split == c).sum()) for s, c in SPLIT_CODES.items()}
    return res


__all__ = ["HUPR_SPLITS", "MAP_SHAPE", "SCALE", "convert_map", "import_hupr", "load_map",
           "read_annotations", "read_split_config"]
