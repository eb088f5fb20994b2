"""The typed preprocessing configuration a dataset records (root attrs ``config.preprocess``), declared once.

:class:`PreprocessConfig` holds everything that decides a dataset's content: the tensor format, the
streams and label set it was built from, the split, and the chain's settings (voxel grid, Doppler/angle
windows, clutter removal, Doppler pooling). ``rfpose preprocess`` writes it; a training run copies it into
its ``config.json``; ``rfpose.preprocessing.factory.build_processor`` rebuilds the exact processor from it
(core cannot import the preprocessing stage, so the factory lives there).

The voxel grid's defaults (:data:`RTPOSE_ROI`, RT-Pose's training ROI) are declared here and nowhere else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from rfpose.dataset.format import FORMATS
from rfpose.errors import ConfigError, UnknownNameError

#: chain windows over the loops (Doppler) and the virtual array (angle); RT-Pose uses none
CHAIN_WINDOWS = ("none", "hann", "hamming", "blackman")
#: the label set ``rfpose preprocess`` uses unless ``--labels`` names another (the simulator's truth or an
#: imported label set of that name)
DEFAULT_LABELS = "gt"


@dataclass(frozen=True)
class CartesianGrid:
    """Voxel centres of an RT-Pose style tensor: the first and last centre per axis (m, radar frame: x forward,
    y left, z up) and the voxel counts ``(n_z, n_y, n_x)``."""

    x_m: tuple[float, float]
    y_m: tuple[float, float]
    z_m: tuple[float, float]
    n_zyx: tuple[int, int, int]

    def centres(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(z, y, x) voxel centres in metres."""
        return tuple(np.linspace(lo, hi, n) for (lo, hi), n in zip((self.z_m, self.y_m, self.x_m), self.n_zyx))


#: RT-Pose's training ROI (rtpose.md §2 step 7): 160 x over 0.77–7.98 m, 64 y over −5.03–4.87 m, 16 z over
#: −1.09–4.35 m. A smaller ROI at the same voxel size cuts preprocessing and training cost.
RTPOSE_ROI = CartesianGrid(x_m=(0.77, 7.98), y_m=(-5.03, 4.87), z_m=(-1.09, 4.35), n_zyx=(16, 64, 160))


#: the :class:`PreprocessConfig` fields that change a sample's tensor
TENSOR_FIELDS = ("format", "grid_x_m", "grid_y_m", "grid_z_m", "grid_n_zyx", "doppler_window", "angle_window",
                 "clutter_removal", "doppler_pool", "cfar", "points_from", "hupr_image_size", "hupr_doppler_bins",
                 "hupr_elevation")

#: how a hupr dataset stores elevation: "bins" (HuPR's 8 elevation FFT bins) or "mean" (each map z-scored per
#: elevation bin, then averaged over elevation: the first step of every HuPR model, done once at preprocessing)
HUPR_ELEVATION = ("bins", "mean")

#: where a points dataset's points come from: "adc" (rfpose's CFAR on the radar stream's raw ADC) or
#: "stream" (a point-cloud stream as the device sent it, e.g. the demo firmware's UART points)
POINTS_FROM = ("adc", "stream")


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything that decides the dataset's content (saved in root attrs ``config.preprocess``)."""

    format: str = "rtpose"
    radar_stream: str = "radar"
    hori_stream: str = "radar_hori"
    vert_stream: str = "radar_vert"
    labels: str = DEFAULT_LABELS
    """the session label set the dataset was built from"""
    include_flagged: bool = False  # keep label entries an annotation flagged (label attrs "flags" != 0)
    camera_stream: str | None = None  # None: the first camera stream, if any
    frames_per_task: int = 8
    val_subjects: tuple[str, ...] = ()
    test_subjects: tuple[str, ...] = ()
    val_fraction: float = 0.0
    test_fraction: float = 0.0
    hupr_image_size: int = 256
    hupr_doppler_bins: int = 16
    """hupr: central Doppler bins kept (HuPR keeps 16; its models use the central 8)"""
    hupr_elevation: str = "bins"
    """hupr: "bins" keeps the 8 elevation bins; "mean" stores their z-scored mean, what the models compute from
    them first (8 times smaller; see :data:`HUPR_ELEVATION`)"""
    cfar: str = "ca"
    points_from: str = "adc"
    """points: "adc" (CFAR on the raw ADC of ``radar_stream``) or "stream" (``radar_stream`` is a point-cloud
    stream, e.g. demo-firmware UART points, stored as recorded); ``rfpose preprocess`` sets it from the
    stream's kind"""
    # rtpose voxel grid: centres span these limits (m, radar frame); counts (n_z, n_y, n_x)
    grid_x_m: tuple[float, float] = RTPOSE_ROI.x_m
    grid_y_m: tuple[float, float] = RTPOSE_ROI.y_m
    grid_z_m: tuple[float, float] = RTPOSE_ROI.z_m
    grid_n_zyx: tuple[int, int, int] = RTPOSE_ROI.n_zyx
    # rtpose chain windows over the loops and the virtual array (RT-Pose: none; see CartesianConfig)
    doppler_window: str = "none"
    angle_window: str = "none"
    clutter_removal: bool = False
    """rtpose: subtract the mean over loops (static clutter) before the Doppler FFT"""
    doppler_pool: int = 2
    """rtpose: max-pool magnitudes over this many adjacent Doppler bins (RT-Pose: 2; 1 = off)"""

    def __post_init__(self):
        if self.format not in FORMATS:
            raise UnknownNameError("dataset format", self.format, FORMATS)
        if self.frames_per_task < 1:
            raise ConfigError("frames_per_task must be ≥ 1")
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1):
            raise ConfigError("val/test fractions must be in [0, 1) and sum below 1")
        for name in ("grid_x_m", "grid_y_m", "grid_z_m"):
            lo, hi = getattr(self, name)
            if not lo < hi:
                raise ConfigError(f"{name} must be (min, max) with min < max, got {(lo, hi)}")
        if len(self.grid_n_zyx) != 3 or min(self.grid_n_zyx) < 1:
            raise ConfigError(f"grid_n_zyx must be three voxel counts ≥ 1, got {self.grid_n_zyx}")
        for name in ("doppler_window", "angle_window"):
            if getattr(self, name) not in CHAIN_WINDOWS:
                raise UnknownNameError(name.replace("_", " "), getattr(self, name), CHAIN_WINDOWS)
        if self.points_from not in POINTS_FROM:
            raise UnknownNameError("points source", self.points_from, POINTS_FROM)
        if self.hupr_elevation not in HUPR_ELEVATION:
            raise UnknownNameError("hupr elevation storage", self.hupr_elevation, HUPR_ELEVATION)
        if not (isinstance(self.hupr_doppler_bins, int) and self.hupr_doppler_bins >= 2
                and self.hupr_doppler_bins % 2 == 0):
            raise ConfigError(f"hupr_doppler_bins must be an even integer ≥ 2, got {self.hupr_doppler_bins!r}")
        if not (isinstance(self.doppler_pool, int) and self.doppler_pool >= 1):
            raise ConfigError(f"doppler_pool must be an integer ≥ 1, got {self.doppler_pool!r}")

    @property
    def grid(self) -> CartesianGrid:
        return CartesianGrid(tuple(map(float, self.grid_x_m)), tuple(map(float, self.grid_y_m)),
                             tuple(map(float, self.grid_z_m)), tuple(map(int, self.grid_n_zyx)))

    def tensor_differences(self, other: PreprocessConfig) -> list[tuple[str, object, object]]:
        """(field, self's value, other's value) for every setting that changes the tensors (not the streams,
        labels, splits or task size)."""
        return [(name, getattr(self, name), getattr(other, name)) for name in TENSOR_FIELDS
                if getattr(self, name) != getattr(other, name)]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k in ("val_subjects", "test_subjects", "grid_x_m", "grid_y_m", "grid_z_m", "grid_n_zyx"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PreprocessConfig:
        """The config of a saved dict; fields it lacks (a dataset written before they existed) take their
        defaults, which are what that older build used. Unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"preprocess config has unknown fields {sorted(unknown)}")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**kw)
