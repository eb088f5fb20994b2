"""Run a model over a dataset split and compute pose metrics (used per epoch in training and by
``rfpose evaluate``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from rfpose import metrics
from rfpose.errors import ConfigError, FormatError
from rfpose.skeletons import get_skeleton

log = logging.getLogger(__name__)


#: the batch entries a model's ``loss`` may read
LABEL_KEYS = ("joints", "joints_2d", "confidence")


def collate(items: list[dict]) -> dict:
    n_inputs = len(items[0]["inputs"])
    return {
        "inputs": tuple(torch.stack([it["inputs"][k] for it in items]) for k in range(n_inputs)),
        "joints": torch.stack([it["joints"] for it in items]),
        "joints_2d": torch.stack([it["joints_2d"] for it in items]),
        "confidence": torch.stack([it["confidence"] for it in items]),
        "index": torch.tensor([it["index"] for it in items]),
        "session": torch.tensor([it["session"] for it in items]),
    }


@torch.no_grad()
def predict(model, dataset, batch_size: int = 4, device: str = "cpu", workers: int = 0,
            progress: bool = False, flip_test: bool = False) -> dict:
    """Decoded predictions, labels and mean loss over ``dataset`` (numpy arrays). ``flip_test`` averages
    each pose with the mirrored pose predicted on the laterally flipped input (one person per frame;
    models with ``decode_flip``)."""
    from rfpose.models.families import get_family

    if flip_test and not hasattr(model, "decode_flip"):
        raise ConfigError(f"{type(model).__name__} has no flip test")
    family = get_family(model)
    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate,
                                         num_workers=workers,
                                         multiprocessing_context="spawn" if workers > 0 else None)
    preds, scores, joints, joints_2d, sessions, indices, losses = [], [], [], [], [], [], []
    for batch in tqdm(loader, desc="evaluate", disable=None if progress else True, leave=False):
        inputs = [t.to(device) for t in batch["inputs"]]
        out = model(*inputs)
        loss, _ = model.loss(out, {k: v.to(device) for k, v in batch.items() if k in LABEL_KEYS})
        losses.append(float(loss) * len(batch["index"]))
        if flip_test:
            p, s = model.decode_flip(out, model(*family.flip_inputs(tuple(inputs))))
        else:
            p, s = model.decode(out)
        preds.append(p.cpu().numpy())
        scores.append(s.cpu().numpy())
        joints.append(batch["joints"].numpy())
        joints_2d.append(batch["joints_2d"].numpy())
        sessions.append(batch["session"].numpy())
        indices.append(batch["index"].numpy())
    n = sum(len(i) for i in indices)
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros((0,)))
    return {"pred": cat(preds), "scores": cat(scores), "joints": cat(joints), "joints_2d": cat(joints_2d),
            "session": cat(sessions), "index": cat(indices), "loss": sum(losses) / max(n, 1)}


def match_3d(pred: np.ndarray, gt: np.ndarray, root: int = 0):
    """Hungarian matching on root distance per frame → (pred (M, J, 3), gt (M, J, 3), frame (M,), missed, extra)."""
    P, G, F = [], [], []
    missed = extra = 0
    for n in range(len(gt)):
        pairs = metrics.match_people(pred[n, :, root], gt[n, :, root])
        n_gt = int(np.isfinite(gt[n, :, root]).all(-1).sum())
        n_pred = int(np.isfinite(pred[n, :, root]).all(-1).sum())
        missed += n_gt - len(pairs)
        extra += n_pred - len(pairs)
        for pi, gi in pairs:
            P.append(pred[n, pi])
            G.append(gt[n, gi])
            F.append(n)
    J = gt.shape[2] if gt.ndim == 4 else 0
    as_arr = (lambda xs: np.stack(xs) if xs else np.zeros((0, J, 3)))
    return as_arr(P), as_arr(G), np.asarray(F, dtype=np.int64), missed, extra


def summarise(family, result: dict, skeleton_name: str, sessions_meta: list | None = None) -> dict:
    """Metrics dict for a prediction result (see :func:`predict`), as the model family computes them."""
    from rfpose.models.families import get_family

    return get_family(family).summarise(result, skeleton_name, sessions_meta)


def summarise_3d(result: dict, skeleton_name: str, sessions_meta: list | None = None) -> dict:
    """3-D pose metrics (MPJPE family, PCK3D, AUC, per joint and per session) after matching people."""
    sk = get_skeleton(skeleton_name)
    out = {"samples": int(len(result["index"])), "loss": float(result["loss"])}
    if out["samples"] == 0:
        return out
    p, g, frames, missed, extra = match_3d(result["pred"], result["joints"], sk.root)
    out["matched_people"], out["missed_people"], out["extra_people"] = int(len(p)), missed, extra
    if len(p):
        names = None
        sess = result["session"][frames]
        if sessions_meta:
            names = [sessions_meta[int(s)].get("name", str(s)) if int(s) < len(sessions_meta) else str(s)
                     for s in sess]
        out.update(metrics.pose3d_summary(p, g, root=sk.root, sessions=names if names else sess,
                                          joint_names=sk.joints))
    return out


def summarise_2d(result: dict, skeleton_name: str) -> dict:
    """COCO OKS keypoint AP (``ap``, ``ap50``, ``ap75``, ``per_joint_ap``) with the skeleton's sigmas and PCK@0.2
    of the torso diameter (``pck_0_2``, ``per_joint_pck_0_2``), and the paired poses' distances
    (``pixel_errors``: :func:`~rfpose.metrics.pixel_errors_2d`), in the label image's pixels."""
    sk = get_skeleton(skeleton_name)
    out = {"samples": int(len(result["index"])), "loss": float(result["loss"])}
    if out["samples"] == 0:
        return out
    gt2d = result["joints_2d"]
    if not np.isfinite(gt2d).any():
        raise FormatError("2-D evaluation needs 'joints_2d' labels in the dataset")
    out.update(metrics.oks_ap(result["pred"], result["scores"], gt2d, sk.oks_sigmas, joint_names=sk.joints))
    pck = metrics.pck_2d(result["pred"], gt2d, sk.joints)
    out["pck_0_2"], out["per_joint_pck_0_2"] = pck["pck"], pck["per_joint_pck"]
    out["pixel_errors"] = metrics.pixel_errors_2d(result["pred"], gt2d, sk.joints)
    return out


def selection_metric(family, summary: dict) -> tuple[str, float, bool]:
    """(name, value, higher_is_better) used to pick the best checkpoint."""
    from rfpose.models.families import get_family

    return get_family(family).selection_metric(summary)


def check_preprocessing(run_doc: dict, data_config, where: str) -> None:
    """Refuse a dataset prepared differently from the run's (when both record their preprocessing): the
    error names the differing setting (grid, windows, clutter removal, pooling …)."""
    from rfpose.dataset import PreprocessConfig

    if run_doc.get("preprocess") is None or data_config is None:
        return
    diffs = PreprocessConfig.from_dict(run_doc["preprocess"]).tensor_differences(data_config)
    if diffs:
        listed = "; ".join(f"{name}: run {a!r}, dataset {b!r}" for name, a, b in diffs)
        raise FormatError(f"{where}: the dataset was preprocessed differently from the run's ({listed})")


def print_report(summary: dict, file=None) -> None:
    import sys

    file = file or sys.stdout
    scalar = {k: v for k, v in summary.items() if isinstance(v, (int, float))}
    width = max(len(k) for k in scalar) if scalar else 0
    for k, v in scalar.items():
        print(f"{k.ljust(width)}  {v:.4g}" if isinstance(v, float) else f"{k.ljust(width)}  {v}", file=file)
    if "mae_cm" in summary:
        m = summary["mae_cm"]
        print(f"\nmae_cm (MARS's metric: per-axis mean absolute error, cm; radar frame x forward, y left, z up)"
              f"\n  x {m['x']:.2f}  y {m['y']:.2f}  z {m['z']:.2f}  mean {m['mean']:.2f}", file=file)
        for k, m in summary.get("per_subject_mae_cm", {}).items():
            print(f"  subject {k}: x {m['x']:.2f}  y {m['y']:.2f}  z {m['z']:.2f}  mean {m['mean']:.2f}", file=file)
    if "pixel_errors" in summary:
        e = summary["pixel_errors"]
        print(f"\npixel_errors (paired people {e['paired']} of {e['people']})\n  joints: mean {e['joint_px']:.1f} px, "
              f"median {e['joint_median_px']:.1f}; hips' midpoint {e['centre_px']:.1f}; shape (the hips' midpoints "
              f"laid on each other) {e['centre_relative_px']:.1f}", file=file)
    for key in ("session_mean",):
        if key in summary:
            print(f"\n{key} (RT-Pose aggregation: per session, then unweighted over sessions)", file=file)
            for k, v in summary[key].items():
                print(f"  {k.ljust(width)}  {v:.4g}", file=file)
    for key in ("per_joint_mm", "per_joint_ap", "per_joint_pck_0_2"):
        if key in summary:
            print(f"\n{key}", file=file)
            for k, v in summary[key].items():
                print(f"  {k.ljust(14)}  {v:.4g}", file=file)


def write_json(summary: dict, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(summary, indent=2, default=float))


def evaluate_run(run_dir, data, split: str = "test", checkpoint: str = "best", batch_size: int = 4,
                 max_people: int | None = None, limit: int | None = None, device: str = "cpu",
                 progress: bool = True, flip_test: bool = False) -> dict:
    """Evaluate a training run on one split of a dataset (what ``rfpose evaluate`` prints).

    The dataset's input spec must equal the run's; an empty split is a FormatError.
    """
    from rfpose.dataset import InputSpec, check_spec
    from rfpose.models.data import DataOptions, PoseDataset
    from rfpose.models.train import load_run

    model, doc = load_run(run_dir, checkpoint, device)
    ds = PoseDataset(data, model, DataOptions(split, limit))
    data_spec = ds.spec
    check_spec(InputSpec.from_dict(doc["input_spec"]), data_spec, f"evaluate {run_dir} on {data}")
    check_preprocessing(doc, ds.reader.preprocess_config, f"evaluate {run_dir} on {data}")
    if max_people:
        if flip_test and max_people > 1:
            raise ConfigError("--flip-test decodes one person per frame; drop --max-people")
        model.max_people = max_people
    if len(ds) == 0:
        raise FormatError(f"{data}: split {split!r} is empty")
    result = predict(model, ds, batch_size, device, progress=progress, flip_test=flip_test)
    summary = summarise(model, result, data_spec.skeleton, ds.reader.attrs.get("sessions"))
    return {"run": str(run_dir), "model": doc["model"]["name"], "data": str(data), "split": split,
            "checkpoint": checkpoint, "flip_test": flip_test, **summary}
