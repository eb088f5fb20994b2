"""Non-learned baselines for the 3-D (rtpose) benchmark, scored with the same metric code as the models
(the 2-D (hupr) benchmark's are in :mod:`rfpose.models.baselines_2d`; :func:`evaluate_baselines` serves both).

* ``mean-at-root``: the training split's mean root-relative pose, placed at the TRUE root of each test
  person. Its MRPE is 0 by construction; its MPJPE is what a model gains by looking at the body at all.
* ``mean-at-peak``: the same mean pose placed at the DETECTED radar peak: the arg-max voxel of the
  Doppler-summed magnitude of the input tensor, converted to metres with the dataset's voxel grid, plus a
  fixed vertical offset (peak height → pelvis) taken as the median over the training split. Without
  clutter removal the static bin dominates the sum, so this peak often sits on a wall or furniture.
* ``mean-at-moving-peak``: as ``mean-at-peak`` with the Doppler channel holding 0 m/s left out of the sum
  (a one-line moving-target indicator), i.e. the strongest *moving* reflector. The stronger of the two
  peak baselines, and the localisation a model must beat.
* ``mean-pose``: one constant pose for every frame, the training split's mean pose (absolute, radar
  frame): what a model scores that ignores its input (MARS's "constant pose" anchor). Any dataset format.

The peak baselines need an rtpose dataset; ``mean-at-root`` and ``mean-pose`` read labels only. A points
dataset's summaries include MARS's per-axis MAE (its family's metrics).

Poses are (J, 3) metres in the radar frame (x forward, y left, z up). Input tensors are the dataset's
``x`` (N, D, Z, Y, X).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from rfpose.errors import FormatError, ShapeError, UnknownNameError
from rfpose.dataset import VoxelGrid

log = logging.getLogger(__name__)

BASELINES = ("mean-at-root", "mean-at-peak", "mean-at-moving-peak", "mean-pose")
PEAK_KINDS = {"mean-at-peak": "all", "mean-at-moving-peak": "moving"}


@dataclass(frozen=True)
class BaselineFit:
    """What the baselines learn from the training split (saved with every output)."""

    mean_pose_m: list  # (J, 3) root-relative mean pose, metres
    peak_to_root_dz_m: dict  # peak kind ("all" | "moving") → median (root z − peak z) over the training split, m
    train_people: int
    train_frames: int
    mean_abs_pose_m: list | None = None  # (J, 3) mean pose in the radar frame, metres (mean-pose)

    def to_dict(self) -> dict:
        return asdict(self)


def valid_people(joints: np.ndarray, root: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``joints`` (N, P, J, 3) NaN-padded → (poses (M, J, 3), frame index (M,)) of people with all joints finite."""
    if joints.ndim != 4 or joints.shape[-1] != 3:
        raise ShapeError(f"joints must be (N, P, J, 3), got {joints.shape}")
    ok = np.isfinite(joints).all(axis=(-1, -2))
    n, p = np.nonzero(ok)
    return joints[n, p], n


def mean_root_relative_pose(joints: np.ndarray, root: int = 0) -> np.ndarray:
    """Mean root-relative pose (J, 3) over every labelled person in ``joints`` (N, P, J, 3)."""
    poses, _ = valid_people(joints, root)
    if len(poses) == 0:
        raise FormatError("no labelled person to average a mean pose from")
    return (poses - poses[:, root : root + 1]).mean(axis=0)


def static_channel(velocity_mps) -> int:
    """Index of the Doppler channel whose (pooled) velocity is closest to 0 m/s."""
    return int(np.argmin(np.abs(np.asarray(velocity_mps, np.float64))))


def peak_positions(x: np.ndarray, grid: VoxelGrid, exclude_channels=()) -> np.ndarray:
    """Position (N, 3) x/y/z metres of the strongest voxel of each Doppler-summed tensor ``x`` (N, D, Z, Y, X),
    the channels ``exclude_channels`` left out of the sum."""
    if x.ndim != 5:
        raise ShapeError(f"input tensors must be (N, D, Z, Y, X), got {x.shape}")
    keep = np.setdiff1d(np.arange(x.shape[1]), np.asarray(exclude_channels, int))
    if len(keep) == 0:
        raise ShapeError("every Doppler channel is excluded")
    power = x[:, keep].astype(np.float32).sum(axis=1)  # (N, Z, Y, X)
    flat = power.reshape(len(power), -1).argmax(axis=1)
    iz, iy, ix = np.unravel_index(flat, power.shape[1:])
    z0, y0, x0 = grid.roi_min_m
    dz, dy, dx = grid.voxel_size_m
    return np.stack([x0 + ix * dx, y0 + iy * dy, z0 + iz * dz], axis=1)


def iter_peaks(x_array, indices: np.ndarray, grid: VoxelGrid, static: int, batch: int = 64,
               progress: bool = False) -> dict[str, np.ndarray]:
    """Peaks {"all", "moving"} → (len(indices), 3) of samples ``indices`` of a (zarr or numpy) ``x`` array,
    read ``batch`` at a time; "moving" leaves out Doppler channel ``static``."""
    from tqdm import tqdm

    out = {"all": np.empty((len(indices), 3), np.float64), "moving": np.empty((len(indices), 3), np.float64)}
    for a in tqdm(range(0, len(indices), batch), desc="radar peaks", disable=None if progress else True, leave=False):
        idx = indices[a : a + batch]
        lo, hi = int(idx.min()), int(idx.max()) + 1
        block = np.asarray(x_array[lo:hi])[idx - lo]  # one contiguous read; splits are contiguous runs
        out["all"][a : a + len(idx)] = peak_positions(block, grid)
        out["moving"][a : a + len(idx)] = peak_positions(block, grid, (static,))
    return out


def fit(train_joints: np.ndarray, train_peaks: dict[str, np.ndarray], root: int = 0) -> BaselineFit:
    """Fit the baselines on the training split: ``train_joints`` (N, P, J, 3), ``train_peaks`` kind → (N, 3)."""
    mean = mean_root_relative_pose(train_joints, root)
    poses, frames = valid_people(train_joints, root)
    dz = {k: float(np.median(poses[:, root, 2] - p[frames, 2])) for k, p in train_peaks.items()}
    return BaselineFit(mean.tolist(), dz, int(len(poses)), int(len(train_joints)),
                       np.nanmean(poses, axis=0).astype(np.float64).tolist())


def predict(kind: str, fitted: BaselineFit, joints: np.ndarray, peaks: dict | None, root: int = 0) -> np.ndarray:
    """Predictions (N, 1, J, 3) for frames with labels ``joints`` (N, P, J, 3) (used only by mean-at-root:
    the first labelled person's true root) and detected ``peaks`` {"all", "moving"} → (N, 3) (peak kinds)."""
    mean = np.asarray(fitted.mean_pose_m, np.float64)
    N = len(joints)
    if kind == "mean-at-root":
        roots = np.full((N, 3), np.nan)
        for n in range(N):
            ok = np.isfinite(joints[n, :, root]).all(-1)
            if ok.any():
                roots[n] = joints[n, np.argmax(ok), root]
    elif kind == "mean-pose":
        pose = np.asarray(fitted.mean_abs_pose_m, np.float64)
        return np.broadcast_to(pose, (N, 1, *pose.shape)).astype(np.float32)
    elif kind in PEAK_KINDS:
        pk = None if peaks is None else peaks.get(PEAK_KINDS[kind])
        if pk is None or pk.shape != (N, 3):
            raise ShapeError(f"{kind} needs peaks (N, 3) for N = {N}, got {None if pk is None else pk.shape}")
        roots = pk + np.array([0.0, 0.0, fitted.peak_to_root_dz_m[PEAK_KINDS[kind]]])
    else:
        raise UnknownNameError("baseline", kind, BASELINES)
    return (roots[:, None, None, :] + mean[None, None]).astype(np.float32)


def evaluate_baselines(data, split: str = "test", kinds=None, progress: bool = True) -> list[dict]:
    """Fit on the train split of DATASET.zarr ``data`` and score each baseline on ``split`` (``kinds``: None =
    every baseline of the dataset's format). rtpose datasets: the 3-D baselines above, summaries as
    :func:`rfpose.models.evaluate.summarise_3d` returns them; hupr datasets: the 2-D baselines of
    :mod:`rfpose.models.baselines_2d`. Each summary adds ``baseline`` and ``fit``."""
    from rfpose.dataset import HUPR_FORMAT, RTPOSE_FORMAT, DatasetReader
    from rfpose.models.baselines_2d import BASELINES_2D, evaluate_baselines_2d
    from rfpose.models.evaluate import summarise_3d
    from rfpose.models.families import get_family, list_families
    from rfpose.skeletons import get_skeleton

    reader = DatasetReader(data)
    spec = reader.spec
    if spec.tensor_format == HUPR_FORMAT:
        return evaluate_baselines_2d(reader, data, split, BASELINES_2D if kinds is None else kinds)
    if kinds is None:  # every baseline the dataset allows: the peak ones need voxel tensors
        kinds = BASELINES if spec.tensor_format == RTPOSE_FORMAT else tuple(k for k in BASELINES if k not in PEAK_KINDS)
    for k in kinds:
        if k not in BASELINES:
            raise UnknownNameError("baseline", k, BASELINES)
    train_idx, eval_idx = reader.indices("train"), reader.indices(split)
    need_peaks = any(k in PEAK_KINDS for k in kinds)
    if need_peaks and spec.tensor_format != RTPOSE_FORMAT:
        raise FormatError(f"{data}: the peak baselines ({', '.join(PEAK_KINDS)}) need an rtpose dataset (voxel "
                          f"tensors), got {spec.tensor_format}; mean-at-root and mean-pose need labels only")
    family = next((f for f in map(get_family, list_families()) if f.overrides_for_data(spec)), None)
    root = get_skeleton(spec.skeleton).root
    if len(train_idx) == 0:
        raise FormatError(f"{data}: the train split is empty; nothing to fit the baselines on")
    if len(eval_idx) == 0:
        raise FormatError(f"{data}: split {split!r} is empty")
    joints = reader.labels("joints")
    train_peaks = eval_peaks = None
    if need_peaks:
        velocity = (reader.input_spec.get("axes") or {}).get("velocity_mps")
        if velocity is None or len(velocity) != spec.shape[0]:
            raise FormatError(f"{data}: input_spec axes velocity_mps missing or not one per Doppler channel")
        static = static_channel(velocity)
        x = reader.root["x"]
        train_peaks = iter_peaks(x, train_idx, spec.grid, static, progress=progress)
        eval_peaks = iter_peaks(x, eval_idx, spec.grid, static, progress=progress)
    fitted = fit(joints[train_idx], train_peaks or {}, root)
    gt = joints[eval_idx]
    out = []
    for k in kinds:
        pred = predict(k, fitted, gt, eval_peaks, root)
        result = {"pred": pred, "scores": np.ones(pred.shape[:2], np.float32), "joints": gt,
                  "joints_2d": np.zeros(gt.shape[:-1] + (2,), np.float32), "session": reader.session_index[eval_idx],
                  "index": eval_idx, "loss": float("nan")}
        summary = (family.summarise if family is not None else summarise_3d)(result, spec.skeleton,
                                                                              reader.attrs.get("sessions"))
        out.append({"baseline": k, "data": str(data), "split": split, "fit": fitted.to_dict(), **summary})
    return out
