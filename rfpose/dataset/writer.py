"""The one DATASET.zarr writer (``rfpose preprocess``, the synthetic test datasets, any future builder).

Layout (zarr v3 group; per-sample arrays have the sample axis first, tensors chunked by whole samples and
compressed with Blosc zstd; constants in :mod:`rfpose.dataset.format`):

- root attrs: ``rfpose_dataset_format`` "1.0", ``format`` (rtpose | hupr | points), ``input_spec`` (the
  :class:`~rfpose.dataset.spec.InputSpec` as a dict plus ``dtype`` and ``axes``), ``config`` (for
  ``rfpose preprocess``: ``preprocess`` — the :class:`~rfpose.dataset.PreprocessConfig` —, ``processor``,
  ``radar`` (the radar parameters), ``board``), ``sessions`` (list of {path, name, subject, action, scene}),
  ``split_names`` ["train", "val", "test"], ``complete`` (False until :meth:`DatasetWriter.finish`).
- tensors (:data:`~rfpose.dataset.format.TENSOR_ARRAYS`): rtpose ``x`` (N, D, Z, Y, X) float16; hupr
  ``x_hori``, ``x_vert`` (N, D, 2, R, A, E) float16; points ``points_values`` (M, 5) float32 (x, y, z, v, snr)
  and ``points_offsets`` (N+1,) int64 (gathered from per-task parts by :meth:`DatasetWriter.finish`).
- labels: ``joints`` (N, P, J, 3) float32 metres in the radar frame (NaN for absent people),
  ``confidence`` (N, P, J), ``joints_2d`` (N, P, J, 2) pixels when known.
- bookkeeping: ``timestamp_ns`` int64, ``session_index`` int32, ``frame_index`` int32 (radar frame index in
  its session), ``subject`` int32, ``split`` uint8 (0 train, 1 val, 2 test).
- ``_done`` (tasks,) bool: one chunk per task, so parallel workers mark their work without racing.

Labels and bookkeeping are written at creation; tensors are written by sample range (possibly from
several processes, each opening the store with :meth:`DatasetWriter.open`); the dataset is readable once
:meth:`DatasetWriter.finish` sets ``complete``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from rfpose.dataset.format import COMPRESSORS, DATASET_FORMAT_VERSION, FORMATS, SPLIT_NAMES, TENSOR_ARRAYS
from rfpose.dataset.preprocess_config import PreprocessConfig
from rfpose.errors import ConfigError, FormatError, UnknownNameError


@dataclass
class SampleTable:
    """Labels and bookkeeping of every sample (sample axis first; shapes in the module docstring)."""

    joints: np.ndarray
    confidence: np.ndarray
    timestamp_ns: np.ndarray
    session_index: np.ndarray
    frame_index: np.ndarray
    subject: np.ndarray
    split: np.ndarray
    joints_2d: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.joints)
        for name in ("confidence", "timestamp_ns", "session_index", "frame_index", "subject", "split", "joints_2d"):
            a = getattr(self, name)
            if a is not None and len(a) != n:
                raise FormatError(f"sample table: {name} has {len(a)} samples, joints {n}")


def jsonable(x):
    """``x`` with numpy values turned into JSON types (what zarr attrs can hold)."""
    return json.loads(json.dumps(x, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


class DatasetWriter:
    """Writes one DATASET.zarr. :meth:`create` a new one, :meth:`resume` an interrupted build, :meth:`open`
    it from a worker process; then :meth:`write` tensors, :meth:`mark_done` tasks and :meth:`finish`."""

    def __init__(self, root, path: str | Path):
        self.root, self.path = root, Path(path)
        self.format = self.root.attrs["format"]

    # -- opening ----------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, format: str, input_spec: dict, config: dict, sessions: list[dict],
               samples: SampleTable, tasks: int = 0, attrs: dict | None = None) -> DatasetWriter:
        """A new dataset of ``len(samples.joints)`` samples (an existing ``path`` is replaced: callers
        decide about overwriting, see :meth:`resume`). ``input_spec["shape"]`` is the per-sample tensor
        shape; ``tasks`` the number of done markers."""
        if format not in FORMATS:
            raise UnknownNameError("dataset format", format, FORMATS)
        root = zarr.open_group(str(path), mode="w", zarr_format=3)
        n = len(samples.joints)
        small = min(max(n, 1), 4096)

        def arr(name, shape, dtype, chunks, fill=0):
            return root.create_array(name, shape=shape, dtype=dtype, chunks=chunks, compressors=COMPRESSORS,
                                     fill_value=fill)

        if format == "points":
            root.create_group("_parts")
        else:
            shape = tuple(int(s) for s in input_spec["shape"])
            for name in TENSOR_ARRAYS[format]:
                arr(name, (n, *shape), "float16", (1, *shape))
        for name in ("joints", "confidence", "joints_2d", "timestamp_ns", "session_index", "frame_index",
                     "subject", "split"):
            a = getattr(samples, name)
            if a is None:
                continue
            a = np.asarray(a)
            fill = np.nan if name in ("joints", "joints_2d") else 0
            arr(name, a.shape, a.dtype, (small, *a.shape[1:]), fill)[:] = a
        root.create_array("_done", shape=(tasks,), dtype="bool", chunks=(1,), fill_value=False)
        root.attrs.update(jsonable({
            "rfpose_dataset_format": DATASET_FORMAT_VERSION, "format": format, "input_spec": input_spec,
            "config": config, "split_names": list(SPLIT_NAMES), "complete": False, "sessions": sessions,
            **(attrs or {})}))
        return cls(root, path)

    @classmethod
    def open(cls, path: str | Path) -> DatasetWriter:
        """An existing dataset, for writing (a worker's tasks)."""
        return cls(zarr.open_group(str(path), mode="r+"), path)

    @classmethod
    def resume(cls, path: str | Path, config: dict, session_paths: list[str],
               overwrite: bool = False) -> DatasetWriter | None:
        """The build at ``path`` to continue, or None when a new one must be created (nothing there, or
        ``overwrite`` removed it). A store built with another config or from other sessions is refused."""
        path = Path(path)
        if not path.exists():
            return None
        is_zarr = (path / "zarr.json").exists()
        if overwrite:
            if not is_zarr and any(path.iterdir()):
                raise ConfigError("refusing to overwrite: not a zarr store", str(path))
            shutil.rmtree(path)
            return None
        if not is_zarr:
            raise ConfigError("output exists and is not a dataset (pass --overwrite to replace)", str(path))
        root = zarr.open_group(str(path), mode="r+")
        attrs = dict(root.attrs)
        if attrs.get("rfpose_dataset_format") != DATASET_FORMAT_VERSION or "_done" not in root:
            raise ConfigError("output exists and is not a resumable rfpose dataset (pass --overwrite)", str(path))
        if _normalised(attrs.get("config")) != _normalised(jsonable(config)):
            raise ConfigError("output exists with a different config; pass --overwrite to rebuild", str(path))
        built_from = [s["path"] for s in attrs.get("sessions", [])]
        if built_from != list(session_paths):
            raise ConfigError(f"output exists, built from {len(built_from)} other sessions than the "
                              f"{len(session_paths)} given; pass --overwrite to rebuild", str(path))
        return cls(root, path)

    # -- writing ----------------------------------------------------------------------------------
    @property
    def complete(self) -> bool:
        return bool(self.root.attrs.get("complete", False))

    def done(self) -> np.ndarray:
        """(tasks,) bool: which tasks have written their output."""
        return np.asarray(self.root["_done"][:], bool)

    def write(self, start: int, stop: int, **tensors: np.ndarray) -> None:
        """Samples ``start:stop`` of the tensor arrays (rtpose ``x=``; hupr ``x_hori=``, ``x_vert=``), in the
        stored dtype (see :func:`rfpose.dataset.format.to_float16`)."""
        expected = set(TENSOR_ARRAYS[self.format])
        if self.format == "points" or set(tensors) != expected:
            raise FormatError(f"{self.path}: a {self.format} dataset takes tensors {sorted(expected)}, "
                              f"got {sorted(tensors)}")
        for name, value in tensors.items():
            self.root[name][start:stop] = value

    def write_points(self, task: int, points: list[np.ndarray]) -> None:
        """One task's point clouds ((n_i, 5) float32 each, its samples in order); gathered by :meth:`finish`."""
        values = np.concatenate(points) if points else np.zeros((0, 5), np.float32)
        parts = self.root["_parts"]
        name = f"t{task:07d}"
        if name in parts:
            del parts[name]
        arr = parts.create_array(name, shape=values.shape, dtype="float32", chunks=(max(len(values), 1), 5),
                                 attributes={"counts": [int(len(p)) for p in points]})
        if len(values):
            arr[:] = values

    def mark_done(self, task: int) -> None:
        self.root["_done"][task] = True

    def finish(self) -> None:
        """Gather the point parts (points format) and mark the dataset complete (readable)."""
        if self.format == "points":
            self._gather_points()
        self.root.attrs["complete"] = True
        if self.format == "points" and "_parts" in self.root:
            del self.root["_parts"]  # only after "complete": a crash before this point can still re-gather

    def _gather_points(self) -> None:
        parts = self.root["_parts"]
        vals, counts = [], []
        for name in sorted(parts.array_keys()):
            a = parts[name]
            counts.extend(a.attrs["counts"])
            vals.append(a[:] if a.shape[0] else np.zeros((0, 5), np.float32))
        values = np.concatenate(vals) if vals else np.zeros((0, 5), np.float32)
        offsets = np.zeros(len(counts) + 1, np.int64)
        offsets[1:] = np.cumsum(counts)
        for name in TENSOR_ARRAYS["points"]:
            if name in self.root:
                del self.root[name]
        self.root.create_array("points_values", shape=values.shape, dtype="float32",
                               chunks=(max(min(len(values), 1 << 16), 1), 5), compressors=COMPRESSORS)[:] = values
        self.root.create_array("points_offsets", shape=offsets.shape, dtype="int64", chunks=(len(offsets),),
                               compressors=COMPRESSORS)[:] = offsets


def _normalised(config):
    """A config doc with its ``preprocess`` part through :class:`PreprocessConfig` (fields added since the
    store was written take their defaults, so an older build of the same config still resumes)."""
    if not isinstance(config, dict) or not isinstance(config.get("preprocess"), dict):
        return config
    try:
        pre = PreprocessConfig.from_dict(config["preprocess"]).to_dict()
    except ConfigError:
        return config
    return {**config, "preprocess": pre}
