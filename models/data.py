"""Reading DATASET.zarr (the preprocessing ↔ models contract) as torch datasets.

The zarr group is opened lazily inside each DataLoader worker (zarr handles are not shared across
processes); only the labels and the small bookkeeping arrays (split, session, frame index) are read up
front, unless ``DataOptions.cache`` holds a whole RT-Pose split in RAM.
Temporal windows of T frames are formed at load time from consecutive samples of the same session,
clamped at the session's edges: HuPR's with the target at position T//2 (frames t-T/2 … t+T/2-1),
HRRadarPose's (``frames`` > 1) causal, target last (frames t-T+1 … t), stacked along the Doppler axis.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rfpose.errors import ConfigError, FormatError, UnknownNameError
from rfpose.models.augment import AugmentConfig, augment_hupr, augment_voxels
from rfpose.models.spec import HUPR_FORMAT, RTPOSE_FORMAT, RTPOSE_GRID, InputSpec, VoxelGrid
from rfpose.skeletons import get_skeleton

log = logging.getLogger(__name__)

SPLITS = {"train": 0, "val": 1, "test": 2}
SUPPORTED_VERSIONS = ("1.0",)


def open_dataset(path: str | Path):
    """Open DATASET.zarr read-only, checking the format marker."""
    import zarr

    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: dataset not found")
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as e:  # zarr raises several types for a non-group
        raise FormatError(f"{path}: not a zarr group ({e})") from None
    version = group.attrs.get("rfpose_dataset_format")
    if version is None:
        raise FormatError(f"{path}: missing root attribute 'rfpose_dataset_format' (not an rfpose dataset)")
    if str(version) not in SUPPORTED_VERSIONS:
        raise FormatError(f"{path}: dataset format {version!r} not supported (supported: {SUPPORTED_VERSIONS})")
    return group


def _grid_from_attrs(spec: dict, shape_zyx) -> VoxelGrid | None:
    g = spec.get("grid")
    if isinstance(g, dict) and "voxel_size_m" in g and "roi_min_m" in g:
        return VoxelGrid(tuple(map(float, g["voxel_size_m"])), tuple(map(float, g["roi_min_m"])))
    axes = spec.get("axes") or {}
    if all(isinstance(axes.get(f"{a}_m"), list) and len(axes[f"{a}_m"]) >= 2 for a in "zyx"):
        # rfpose.preprocessing writes the voxel centres per axis
        centres = [np.asarray(axes[f"{a}_m"], dtype=np.float64) for a in "zyx"]
        steps = [float(c[1] - c[0]) for c in centres]
        for a, c, st in zip("zyx", centres, steps):
            if not np.allclose(np.diff(c), st, rtol=1e-4, atol=1e-6):
                raise FormatError(f"input_spec axes {a}_m are not uniformly spaced")
        return VoxelGrid(tuple(steps), tuple(float(c[0]) for c in centres))
    if all(isinstance(axes.get(a), dict) for a in "zyx"):
        try:
            step = tuple(float(_first(axes[a], ("step_m", "voxel_size_m", "resolution_m"))) for a in "zyx")
            start = tuple(float(_first(axes[a], ("min_m", "start_m", "first_m"))) for a in "zyx")
            return VoxelGrid(step, start)
        except KeyError:
            pass
    if tuple(shape_zyx) == (16, 64, 160):
        log.warning("dataset input_spec has no voxel grid; assuming RT-Pose's roi1 grid")
        return RTPOSE_GRID
    return None


def _first(d: dict, keys):
    for k in keys:
        if k in d:
            return d[k]
    raise KeyError(keys)


def dataset_spec(group, path: str | Path = "dataset") -> InputSpec:
    """The InputSpec a dataset provides (its root ``input_spec`` attribute)."""
    spec = group.attrs.get("input_spec")
    if not isinstance(spec, dict) or "tensor_format" not in spec or "shape" not in spec:
        raise FormatError(f"{path}: root attribute 'input_spec' missing or incomplete")
    fmt = spec["tensor_format"]
    shape = tuple(int(s) for s in spec["shape"])
    grid = _grid_from_attrs(spec, shape[1:]) if fmt == RTPOSE_FORMAT else None
    if fmt == RTPOSE_FORMAT and grid is None:
        raise FormatError(f"{path}: rtpose input_spec needs a voxel grid ('grid': {{voxel_size_m, roi_min_m}} "
                          f"or per-axis 'axes' with min_m/step_m) for shape {shape}")
    return InputSpec(tensor_format=fmt, shape=shape, normalisation=str(spec.get("normalisation", "")),
                     skeleton=str(spec.get("skeleton", "")), grid=grid,
                     image_size_px=int(spec.get("image_size_px", 256)) if fmt == HUPR_FORMAT else None)


def _require(group, names, path):
    for n in names:
        if n not in group:
            raise FormatError(f"{path}: array {n!r} missing")


def session_windows(session_index: np.ndarray, frame_index: np.ndarray, frames: int,
                    target: int | None = None) -> np.ndarray:
    """(N, frames) sample indices of each sample's temporal window within its session, edge-clamped;
    the sample itself sits at position ``target`` of its window (default ``frames // 2``)."""
    n = len(session_index)
    order = np.lexsort((frame_index, session_index))
    pos = np.empty(n, dtype=np.int64)
    start = np.empty(n, dtype=np.int64)
    length = np.empty(n, dtype=np.int64)
    sess_sorted = session_index[order]
    bounds = np.flatnonzero(np.diff(sess_sorted)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, n]):
        idx = order[lo:hi]
        pos[idx] = np.arange(hi - lo)
        start[idx] = lo
        length[idx] = hi - lo
    offs = np.arange(frames) - (frames // 2 if target is None else target)
    p = np.clip(pos[:, None] + offs[None, :], 0, length[:, None] - 1)
    return order[start[:, None] + p]


@dataclass
class DataOptions:
    split: str = "train"
    limit: int | None = None
    augment: AugmentConfig | None = None
    seed: int = 0
    cache: bool = False
    """hold the split's input tensors in RAM, in the dataset's dtype (RT-Pose format; not with workers)"""


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class PoseDataset(torch.utils.data.Dataset):
    """One split of DATASET.zarr as training samples for a model family.

    Items are dicts: ``inputs`` (tuple of float32 tensors, what ``model(*inputs)`` takes), ``joints``
    (P, J, 3) metres, ``joints_2d`` (P, J, 2) pixels (NaN when the dataset has none), ``index`` (sample
    index in the dataset) and ``session`` (session index).
    """

    def __init__(self, path: str | Path, model, options: DataOptions | None = None):
        self.path = str(path)
        self.options = options or DataOptions()
        if self.options.split not in SPLITS:
            raise UnknownNameError("split", self.options.split, list(SPLITS))
        group = open_dataset(path)
        self.spec = dataset_spec(group, path)
        self.family = model.family
        fmt = RTPOSE_FORMAT if self.family == "hrradarpose" else HUPR_FORMAT
        if self.spec.tensor_format != fmt:
            from rfpose.models.spec import check_spec

            check_spec(model.spec, self.spec, f"{path}")
        arrays = ["x"] if fmt == RTPOSE_FORMAT else ["x_hori", "x_vert"]
        _require(group, arrays + ["joints", "split", "session_index", "frame_index"], path)
        split = np.asarray(group["split"][:])
        self.session_index = np.asarray(group["session_index"][:]).astype(np.int64)
        frame_index = np.asarray(group["frame_index"][:]).astype(np.int64)
        n = len(split)
        for name in arrays + ["joints", "session_index", "frame_index"]:
            if group[name].shape[0] != n:
                raise FormatError(f"{path}: array {name!r} has {group[name].shape[0]} samples, 'split' has {n}")
        self.indices = np.flatnonzero(split == SPLITS[self.options.split])
        if self.options.limit is not None:
            self.indices = self.indices[: self.options.limit]
        # labels are small (N × P × J × 3): read once, not one zarr chunk per item
        self.joints = np.asarray(group["joints"][:], dtype=np.float32)
        self.joints_2d = np.asarray(group["joints_2d"][:], dtype=np.float32) if "joints_2d" in group else None
        self.skeleton = get_skeleton(self.spec.skeleton)
        self.flip_perm = self.skeleton.flip_permutation()
        self.model_spec = model.spec
        if self.family == "hupr":
            self.frames = model.frames
            self.doppler = tuple(model.spec.extra["doppler_bins"])
            self.stride_px = model.stride_px
            self.windows = session_windows(self.session_index, frame_index, self.frames)
        else:
            self.grid = model.spec.grid
            self.frames = model.frames
            self.windows = session_windows(self.session_index, frame_index, self.frames, target=self.frames - 1)
        self._group = None
        self._epoch = 0
        self._cache = self._read_cache(group) if self.options.cache else None

    def _read_cache(self, group) -> np.ndarray:
        """The ``x`` samples of the split's windows (``self.cached_rows``, sorted), as one array in the
        dataset's dtype."""
        if self.family != "hrradarpose":
            raise ConfigError("the in-RAM cache is implemented for the RT-Pose voxel format only")
        x = group["x"]
        self.cached_rows = np.unique(self.windows[self.indices])
        need = len(self.cached_rows) * int(np.prod(x.shape[1:])) * x.dtype.itemsize
        free = available_memory_bytes()
        if free is not None and need > 0.8 * free:
            raise ConfigError(f"{self.path}: caching the {self.options.split} split needs {_size(need)}, "
                              f"{_size(free)} of RAM is available; train without the cache")
        log.info("caching %d %s samples in RAM (%s)", len(self.cached_rows), self.options.split, _size(need))
        cache = np.empty((len(self.cached_rows), *x.shape[1:]), dtype=x.dtype)
        step = max(int(x.chunks[0]), 64)
        for lo in range(0, len(self.cached_rows), step):
            cache[lo:lo + step] = x.get_orthogonal_selection((self.cached_rows[lo:lo + step],))
        return cache

    @property
    def has_2d(self) -> bool:
        return self.joints_2d is not None

    def set_epoch(self, epoch: int) -> None:
        self._epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def _g(self):
        if self._group is None:
            self._group = open_dataset(self.path)
        return self._group

    def _read_window(self, name: str, window: np.ndarray, doppler: slice = slice(None)) -> torch.Tensor:
        """(T, ...) float32 samples of ``window`` (dataset indices). One basic-indexing read per distinct
        sample: zarr's orthogonal selection took 52 ms per full RT-Pose frame against 30 ms. Torch casts
        float16 about 4× faster than numpy."""
        if self._cache is not None:
            return torch.from_numpy(self._cache[np.searchsorted(self.cached_rows, window)]).float()
        uniq, inverse = np.unique(window, return_inverse=True)
        arr = self._g()[name]
        block = np.stack([np.asarray(arr[int(i), doppler]) for i in uniq])
        return torch.from_numpy(block[inverse]).float()

    def __getitem__(self, i: int) -> dict:
        idx = int(self.indices[i])
        joints = torch.from_numpy(self.joints[idx].copy())
        if self.joints_2d is not None:
            j2d = torch.from_numpy(self.joints_2d[idx].copy())
        else:
            j2d = torch.full((*joints.shape[:2], 2), float("nan"))
        aug = self.options.augment
        rng = np.random.default_rng((self.options.seed, self._epoch, idx))
        if self.family == "hupr":
            w = self.windows[idx]
            d = slice(*self.doppler)
            xh, xv = self._read_window("x_hori", w, d), self._read_window("x_vert", w, d)
            if aug is not None:
                xh, xv, j2d = augment_hupr(xh, xv, j2d, self.flip_perm, self.stride_px, aug, rng)
            inputs = (xh, xv)
        else:
            x = self._read_window("x", self.windows[idx]).flatten(0, 1)  # (T·D, Z, Y, X), oldest frame first
            if aug is not None:
                x, joints = augment_voxels(x, joints, self.grid, self.flip_perm, aug, rng)
            inputs = (x,)
        return {"inputs": inputs, "joints": joints, "joints_2d": j2d, "index": idx,
                "session": int(self.session_index[idx])}
