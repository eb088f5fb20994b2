"""The one DATASET.zarr reader: random access, causal or centred temporal windows, an in-RAM cache.

The zarr group is opened lazily (a reader pickled into a DataLoader worker reopens it there: zarr handles
are not shared across processes); only the small bookkeeping arrays are read up front. Temporal windows
of T frames are formed from the frames of the same session, a missing frame replaced by its neighbour
(:func:`session_windows`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from rfpose.dataset.format import SPLIT_NAMES, SPLITS, SUPPORTED_VERSIONS, TENSOR_ARRAYS
from rfpose.dataset.preprocess_config import PreprocessConfig
from rfpose.dataset.spec import InputSpec, spec_from_attrs
from rfpose.errors import ConfigError, FormatError, UnknownNameError

log = logging.getLogger(__name__)


def open_dataset(path: str | Path):
    """DATASET.zarr's root group, read-only, after checking the format marker (no completeness check)."""
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


def dataset_spec(group, path: str | Path = "dataset") -> InputSpec:
    """The InputSpec a dataset provides (its root ``input_spec`` attribute)."""
    return spec_from_attrs(group.attrs.get("input_spec"), path)


def session_windows(session_index: np.ndarray, frame_index: np.ndarray, frames: int,
                    target: int | None = None) -> np.ndarray:
    """(N, frames) sample indices of each sample's temporal window within its session: the samples of frames
    ``f - target … f - target + frames - 1`` of the sample's own session (its ``frame_index`` f), the sample
    itself at position ``target`` (default ``frames // 2``; ``frames - 1`` is causal: the sample and the
    ``frames - 1`` before it, oldest first). A frame the dataset lacks (before the session's first or after
    its last frame, or a frame preprocess skipped, e.g. a flagged label) is replaced by its neighbour on the
    target's side, so a window never holds a frame from further away in time than the one it stands for."""
    session_index = np.asarray(session_index, np.int64)
    frame_index = np.asarray(frame_index, np.int64)
    n = len(session_index)
    t = frames // 2 if target is None else target
    out = np.empty((n, frames), dtype=np.int64)
    if n == 0:
        return out
    span = int(frame_index.max() - frame_index.min()) + frames + 1
    key = session_index * span + (frame_index - frame_index.min())
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    out[:, t] = np.arange(n)
    for o in list(range(t - 1, -1, -1)) + list(range(t + 1, frames)):
        want = key + (o - t)
        pos = np.clip(np.searchsorted(sorted_key, want), 0, n - 1)
        found = sorted_key[pos] == want  # same session: a frame offset never reaches the next session's keys
        out[:, o] = np.where(found, order[pos], out[:, o + 1 if o < t else o - 1])
    return out


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


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


class DatasetReader:
    """Read a DATASET.zarr (layout: :mod:`rfpose.dataset.writer`).

    ``len(r)`` samples; ``r[i]`` a dict of numpy arrays for sample i; ``r.indices(split)`` the samples of a
    split; ``r.windows(T, target)`` every sample's temporal window; ``r.read(name, rows)`` tensors of
    several samples; ``r.cache(name, rows)`` holds those rows in RAM for later reads. ``r.spec`` is the
    :class:`InputSpec`, ``r.preprocess_config`` the :class:`PreprocessConfig` it was built with (None for
    datasets not built from sessions), ``r.radar`` the radar it was built for.
    """

    def __init__(self, path: str | Path, require_complete: bool = True):
        self.path = Path(path)
        self._root = open_dataset(self.path)
        self.attrs = dict(self._root.attrs)
        if require_complete and self.attrs.get("complete") is False:
            raise FormatError(f"{self.path}: dataset is incomplete (interrupted build? rerun rfpose preprocess)")
        self.format = self.attrs.get("format", "rtpose")
        self.input_spec = self.attrs.get("input_spec")
        for name in ("session_index", "frame_index", "split"):
            if name not in self._root:
                raise FormatError(f"{self.path}: array {name!r} missing")
        self.session_index = np.asarray(self._root["session_index"][:]).astype(np.int64)
        self.frame_index = np.asarray(self._root["frame_index"][:]).astype(np.int64)
        self.split = np.asarray(self._root["split"][:])
        self._offsets = self._root["points_offsets"][:] if self.format == "points" else None
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    # -- metadata -------------------------------------------------------------------------------
    @property
    def root(self):
        if self._root is None:
            self._root = open_dataset(self.path)
        return self._root

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_root"] = None
        return state

    @property
    def spec(self) -> InputSpec:
        return spec_from_attrs(self.input_spec, self.path)

    @property
    def preprocess_config(self) -> PreprocessConfig | None:
        doc = (self.attrs.get("config") or {}).get("preprocess")
        return PreprocessConfig.from_dict(doc) if isinstance(doc, dict) else None

    @property
    def label_set(self) -> str | None:
        """Name of the session label set the samples' labels came from (``rfpose preprocess --labels``)."""
        config = self.preprocess_config
        return config.labels if config is not None else None

    @property
    def radar(self) -> dict | None:
        """``{"board": name, "params": RadarParams.summary()}`` of the radar the tensors were computed for."""
        config = self.attrs.get("config") or {}
        if "board" not in config or "radar" not in config:
            return None
        return {"board": config["board"], "params": config["radar"]}

    def __contains__(self, name: str) -> bool:
        return name in self.root

    def require(self, names) -> None:
        n = len(self)
        for name in names:
            if name not in self.root:
                raise FormatError(f"{self.path}: array {name!r} missing")
            if name != "points_values" and name != "points_offsets" and self.root[name].shape[0] != n:
                raise FormatError(f"{self.path}: array {name!r} has {self.root[name].shape[0]} samples, "
                                  f"'split' has {n}")

    # -- samples --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.session_index.shape[0])

    def indices(self, split: str | int) -> np.ndarray:
        if isinstance(split, str) and split not in SPLITS:
            raise UnknownNameError("split", split, SPLIT_NAMES)
        code = SPLITS[split] if isinstance(split, str) else int(split)
        return np.flatnonzero(self.split == code)

    def labels(self, name: str) -> np.ndarray | None:
        """A whole label array (``joints``, ``confidence``, ``joints_2d``) as float32, None if absent."""
        return np.asarray(self.root[name][:], dtype=np.float32) if name in self.root else None

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if self.format == "points":
            out["points"] = self.points([i])[0]
        else:
            for name in TENSOR_ARRAYS[self.format]:
                out[name] = self.root[name][i]
        for k in ("joints", "confidence", "joints_2d", "timestamp_ns", "subject"):
            if k in self.root:
                out[k] = self.root[k][i]
        out["session_index"], out["frame_index"] = self.session_index[i], self.frame_index[i]
        return out

    # -- windows --------------------------------------------------------------------------------
    def windows(self, frames: int, target: int | None = None) -> np.ndarray:
        """(N, frames) sample indices of every sample's window (see :func:`session_windows`)."""
        return session_windows(self.session_index, self.frame_index, frames, target)

    def window_indices(self, i: int, length: int = 8, target_position: int = 4) -> np.ndarray:
        """Sample indices of the temporal window around sample i, clamped at its session's edges."""
        return self.windows(length, target_position)[i]

    def read(self, name: str, rows: np.ndarray, index=slice(None)) -> np.ndarray:
        """(len(rows), ...) samples ``rows`` of tensor array ``name`` in the stored dtype, ``index`` applied
        to each sample's axes. Served from :meth:`cache` when it holds them; otherwise one basic-indexing
        read per distinct row (zarr's orthogonal selection took 52 ms per full RT-Pose frame against 30 ms)."""
        rows = np.asarray(rows)
        cached_rows, block = self._cache.get(name, (np.zeros(0, np.int64), None))
        if len(cached_rows):
            pos = np.minimum(np.searchsorted(cached_rows, rows), len(cached_rows) - 1)
            if np.array_equal(cached_rows[pos], rows):
                return block[pos][(slice(None), *_as_tuple(index))]
        uniq, inverse = np.unique(rows, return_inverse=True)
        arr = self.root[name]
        block = np.stack([np.asarray(arr[(int(i), *_as_tuple(index))]) for i in uniq])
        return block[inverse]

    def points(self, rows) -> list[np.ndarray]:
        """Point clouds of samples ``rows`` (points format): one (n_i, 5) float32 (x, y, z, v, snr) array each."""
        if self._offsets is None:
            raise FormatError(f"{self.path}: a {self.format} dataset has no point clouds")
        values = self.root["points_values"]
        return [values[int(self._offsets[i]):int(self._offsets[i + 1])] for i in np.asarray(rows).reshape(-1)]

    def hupr_window(self, i: int, length: int = 8, target_position: int = 4) -> tuple[np.ndarray, np.ndarray]:
        """Both HuPR views over the window of ``length`` around sample i: two (length, ...) arrays."""
        idx = self.window_indices(i, length, target_position)
        return self.read("x_hori", idx), self.read("x_vert", idx)

    def cache(self, name: str, rows: np.ndarray, max_ram_fraction: float = 0.8) -> np.ndarray:
        """Hold samples ``rows`` of ``name`` in RAM in the stored dtype (read and decoded once); later
        :meth:`read` calls for those rows are served from it. Refused when it would take more than
        ``max_ram_fraction`` of the available memory. Returns the cached block (sorted unique rows)."""
        x = self.root[name]
        rows = np.unique(np.asarray(rows))
        need = len(rows) * int(np.prod(x.shape[1:])) * x.dtype.itemsize
        free = available_memory_bytes()
        if free is not None and need > max_ram_fraction * free:
            raise ConfigError(f"{self.path}: caching {len(rows)} samples of {name!r} needs {_size(need)}, "
                              f"{_size(free)} of RAM is available; train without the cache")
        log.info("caching %d samples of %s in RAM (%s)", len(rows), name, _size(need))
        block = np.empty((len(rows), *x.shape[1:]), dtype=x.dtype)
        step = max(int(x.chunks[0]), 64)
        for lo in range(0, len(rows), step):
            block[lo:lo + step] = x.get_orthogonal_selection((rows[lo:lo + step],))
        self._cache[name] = (rows, block)
        return block


def _as_tuple(index) -> tuple:
    return index if isinstance(index, tuple) else (index,)
