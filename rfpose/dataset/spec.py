"""The dataset–model contract: what a model expects as input, and the check that a dataset provides it.

Every registered model declares an :class:`InputSpec`. A training run saves it next to its weights, and a
dataset (DATASET.zarr) carries one in its root attributes (:func:`spec_from_attrs` reads it, including the
older layouts); evaluation refuses a dataset whose spec differs instead of silently feeding a network
tensors it was not trained on.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from rfpose.dataset.format import HUPR_FORMAT, RTPOSE_FORMAT
from rfpose.errors import FormatError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoxelGrid:
    """Cartesian voxel grid of an RT-Pose style tensor, axes in the tensor's (z, y, x) order.

    ``roi_min_m`` is the coordinate of voxel index 0 on each axis (metres, radar frame: x forward, y left,
    z up); voxel ``i`` sits at ``roi_min_m + i * voxel_size_m``.
    """

    voxel_size_m: tuple[float, float, float]
    roi_min_m: tuple[float, float, float]

    @classmethod
    def from_centres(cls, z_m, y_m, x_m) -> VoxelGrid:
        """The grid of uniformly spaced voxel centres per axis (metres)."""
        centres = [np.asarray(c, dtype=np.float64) for c in (z_m, y_m, x_m)]
        steps = []
        for a, c in zip("zyx", centres):
            step = float(c[1] - c[0]) if len(c) > 1 else 1.0
            if len(c) > 1 and not np.allclose(np.diff(c), step, rtol=1e-4, atol=1e-6):
                raise FormatError(f"input_spec axes {a}_m are not uniformly spaced")
            steps.append(step)
        return cls(tuple(steps), tuple(float(c[0]) for c in centres))

    def scaled(self, stride: tuple[int, int, int]) -> VoxelGrid:
        """The grid of a feature map that is ``stride`` times coarser (voxel i sits on input voxel stride*i)."""
        return VoxelGrid(tuple(v * s for v, s in zip(self.voxel_size_m, stride)), self.roi_min_m)


# RT-Pose roi1 crop of the 4Dradar2xyz grid (rtpose.md §2): z bins 13-28, y 32-95, x 17-176.
RTPOSE_GRID = VoxelGrid(
    voxel_size_m=(11.6 / 32, 20.1 / 128, 11.6 / 256),
    roi_min_m=(-5.8 + 13 * 11.6 / 32, -10.05 + 32 * 20.1 / 128, 17 * 11.6 / 256),
)


@dataclass(frozen=True)
class InputSpec:
    """The per-sample input a model takes.

    Attributes:
        tensor_format: one of the dataset contract's formats (``rtpose-dzyx-magnitude``, ``hupr-ra-re-complex``,
            ``points-xyzvs``).
        shape: per-sample model input shape (no batch axis). rtpose: (doppler, z, y, x); hupr: per view
            (frames, doppler, re/im, range, azimuth, elevation).
        normalisation: free text saying how values were scaled (compared verbatim).
        skeleton: joint set of the labels and outputs (``rtpose15``, ``hupr14``).
        grid: voxel geometry (rtpose only).
        image_size_px: side of the square label image (hupr only; HuPR uses 256).
    """

    tensor_format: str
    shape: tuple[int, ...]
    normalisation: str
    skeleton: str
    grid: VoxelGrid | None = None
    image_size_px: int | None = None
    extra: dict = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["shape"] = list(self.shape)
        if self.grid is not None:
            d["grid"] = {"voxel_size_m": list(self.grid.voxel_size_m), "roi_min_m": list(self.grid.roi_min_m)}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> InputSpec:
        grid = d.get("grid")
        return cls(
            tensor_format=d["tensor_format"],
            shape=tuple(-1 if s is None else int(s) for s in d["shape"]),
            normalisation=str(d.get("normalisation", "")),
            skeleton=d["skeleton"],
            grid=None if grid is None else VoxelGrid(tuple(map(float, grid["voxel_size_m"])),
                                                       tuple(map(float, grid["roi_min_m"]))),
            image_size_px=d.get("image_size_px"),
            extra=dict(d.get("extra") or {}),
        )

    def with_(self, **changes) -> InputSpec:
        return replace(self, **changes)

    def describe(self) -> str:
        g = ""
        if self.grid is not None:
            g = (f", grid voxel {_fmt(self.grid.voxel_size_m)} m from {_fmt(self.grid.roi_min_m)} m")
        return (f"{self.tensor_format} {tuple(self.shape)} skeleton={self.skeleton} "
                f"normalisation={self.normalisation!r}{g}")


def _fmt(v) -> str:
    return "(" + ", ".join(f"{x:.4g}" for x in v) + ")"


def spec_differences(a: InputSpec, b: InputSpec, *, check_normalisation: bool = True,
                     check_shape: bool = True) -> list[str]:
    """Human-readable list of the fields in which two specs disagree (empty if compatible)."""
    diffs = []
    if a.tensor_format != b.tensor_format:
        diffs.append(f"tensor_format {a.tensor_format!r} != {b.tensor_format!r}")
    if a.skeleton != b.skeleton:
        diffs.append(f"skeleton {a.skeleton!r} != {b.skeleton!r}")
    if check_shape and tuple(a.shape) != tuple(b.shape):
        diffs.append(f"shape {tuple(a.shape)} != {tuple(b.shape)}")
    if check_normalisation and a.normalisation != b.normalisation:
        diffs.append(f"normalisation {a.normalisation!r} != {b.normalisation!r}")
    if check_shape and (a.grid is None) != (b.grid is None):
        diffs.append("one spec has a voxel grid, the other none")
    elif check_shape and a.grid is not None and b.grid is not None:
        for name in ("voxel_size_m", "roi_min_m"):
            va, vb = getattr(a.grid, name), getattr(b.grid, name)
            if any(abs(x - y) > 1e-4 for x, y in zip(va, vb)):
                diffs.append(f"grid.{name} {_fmt(va)} != {_fmt(vb)}")
    return diffs


class SpecMismatchError(FormatError):
    """A dataset's input spec differs from the one a model (or a training run) was built for."""

    def __init__(self, what: str, model_spec: InputSpec, data_spec: InputSpec, diffs: list[str]):
        self.model_spec, self.data_spec, self.diffs = model_spec, data_spec, diffs
        super().__init__(f"{what}: dataset input spec does not match the model's ({'; '.join(diffs)}). "
                         f"model expects [{model_spec.describe()}]; dataset provides [{data_spec.describe()}]")


def spec_from_attrs(spec: dict, path="dataset") -> InputSpec:
    """The :class:`InputSpec` of a dataset's root ``input_spec`` attribute. The voxel grid is read from
    ``grid`` (written since the dataset package), else from the per-axis voxel centres ``axes.{z,y,x}_m``
    (``rfpose preprocess`` before it) or per-axis ``min_m``/``step_m`` (the synthetic writer before it)."""
    if not isinstance(spec, dict) or "tensor_format" not in spec or "shape" not in spec:
        raise FormatError(f"{path}: root attribute 'input_spec' missing or incomplete")
    fmt = spec["tensor_format"]
    shape = tuple(-1 if s is None else int(s) for s in spec["shape"])
    grid = _grid_from_attrs(spec, shape[1:]) if fmt == RTPOSE_FORMAT else None
    if fmt == RTPOSE_FORMAT and grid is None:
        raise FormatError(f"{path}: rtpose input_spec needs a voxel grid ('grid': {{voxel_size_m, roi_min_m}} "
                          f"or per-axis 'axes' with min_m/step_m) for shape {shape}")
    return InputSpec(tensor_format=fmt, shape=shape, normalisation=str(spec.get("normalisation", "")),
                     skeleton=str(spec.get("skeleton", "")), grid=grid,
                     image_size_px=int(spec.get("image_size_px", 256)) if fmt == HUPR_FORMAT else None)


def _grid_from_attrs(spec: dict, shape_zyx) -> VoxelGrid | None:
    g = spec.get("grid")
    if isinstance(g, dict) and "voxel_size_m" in g and "roi_min_m" in g:
        return VoxelGrid(tuple(map(float, g["voxel_size_m"])), tuple(map(float, g["roi_min_m"])))
    axes = spec.get("axes") or {}
    if all(isinstance(axes.get(f"{a}_m"), list) and len(axes[f"{a}_m"]) >= 2 for a in "zyx"):
        return VoxelGrid.from_centres(*(axes[f"{a}_m"] for a in "zyx"))
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


def check_spec(model_spec: InputSpec, data_spec: InputSpec, what: str = "input spec", **kw) -> None:
    diffs = spec_differences(model_spec, data_spec, **kw)
    if diffs:
        raise SpecMismatchError(what, model_spec, data_spec, diffs)
