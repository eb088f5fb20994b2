"""What a model expects as input, and the check that a dataset provides exactly that.

Every registered model declares an :class:`InputSpec`. A training run saves it next to its weights, and a
dataset (DATASET.zarr) carries one in its root attributes; evaluation refuses a dataset whose spec differs
instead of silently feeding a network tensors it was not trained on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from rfpose.errors import FormatError

#: tensor formats the models understand (the dataset contract's ``input_spec.tensor_format``)
RTPOSE_FORMAT = "rtpose-dzyx-magnitude"
HUPR_FORMAT = "hupr-ra-re-complex"


@dataclass(frozen=True)
class VoxelGrid:
    """Cartesian voxel grid of an RT-Pose style tensor, axes in the tensor's (z, y, x) order.

    ``roi_min_m`` is the coordinate of voxel index 0 on each axis (metres, radar frame: x forward, y left,
    z up); voxel ``i`` sits at ``roi_min_m + i * voxel_size_m``.
    """

    voxel_size_m: tuple[float, float, float]
    roi_min_m: tuple[float, float, float]

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
        tensor_format: one of the dataset contract's formats (``rtpose-dzyx-magnitude``, ``hupr-ra-re-complex``).
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
            shape=tuple(int(s) for s in d["shape"]),
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


def check_spec(model_spec: InputSpec, data_spec: InputSpec, what: str = "input spec", **kw) -> None:
    diffs = spec_differences(model_spec, data_spec, **kw)
    if diffs:
        raise SpecMismatchError(what, model_spec, data_spec, diffs)
