"""Training runs: typed config, the model family's recipe, checkpoints, resume, logs, DDP.

A run directory holds ``config.json`` (the resolved :class:`TrainConfig`, the model name and overrides, its
:class:`~rfpose.dataset.InputSpec`, and the dataset's :class:`~rfpose.dataset.PreprocessConfig` and radar, so
the directory alone deploys), ``last.pt`` / ``best.pt`` checkpoints, ``metrics.csv`` (one
row per epoch) and TensorBoard event files under ``tb/``. Launched under ``torchrun`` with more than one
process, training uses DistributedDataParallel over gloo (CPU), a DistributedSampler, and only rank 0
validates, logs and writes checkpoints.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from rfpose.errors import ConfigError, FormatError
from rfpose.models.augment import AugmentConfig
from rfpose.dataset import DatasetReader, InputSpec, check_spec
from rfpose.models.data import DataOptions, PoseDataset
from rfpose.models.evaluate import LABEL_KEYS, check_preprocessing, collate, predict
from rfpose.models.families import Recipe, get_family
from rfpose.models.registry import create_model, model_entry

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    model: str
    """registered model name"""
    data: str
    """DATASET.zarr"""
    out: str
    """run directory"""
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    grad_clip: float | None = None
    optimizer: str | None = None
    """adamw-onecycle | adam; default from the model family's recipe"""
    max_minutes: float | None = None
    """stop (after saving) once this much wall time has passed"""
    seed: int = 0
    device: str = "cpu"
    workers: int = 0
    limit_train: int | None = None
    limit_val: int | None = None
    cache: bool = False
    """hold the training split in RAM (zarr read and decode once, not every epoch; workers must be 0), and the
    validation split too when the RAM left allows"""
    val_batch_size: int | None = None
    """default from the recipe"""
    resume: bool = False
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model_overrides: dict = field(default_factory=dict)
    threads: int | None = None
    """torch intra-op threads (default: torch's)"""
    stop_after_epoch: int | None = None
    """end this invocation after that epoch (simulates an interruption; resume continues)"""

    def resolved(self) -> TrainConfig:
        """Fill unset fields from the model family's recipe."""
        r = get_family(model_entry(self.model).family).recipe_for(self.model)
        c = TrainConfig(**{f.name: getattr(self, f.name) for f in fields(self)})
        c.epochs = c.epochs or r.epochs
        c.batch_size = c.batch_size or r.batch_size
        c.lr = c.lr if c.lr is not None else r.lr
        c.weight_decay = c.weight_decay if c.weight_decay is not None else r.weight_decay
        c.grad_clip = c.grad_clip if c.grad_clip is not None else r.grad_clip
        c.optimizer = c.optimizer or r.optimizer
        c.val_batch_size = c.val_batch_size or r.val_batch_size
        if c.augment.enabled is None:
            c.augment = dataclasses.replace(c.augment, enabled=r.augment)
        if c.cache and c.workers:
            raise ConfigError("the in-RAM cache (--cache) needs --workers 0: each worker would hold a copy")
        if c.optimizer not in ("adamw-onecycle", "adam"):
            raise ConfigError(f"unknown optimizer {c.optimizer!r}; valid: adam, adamw-onecycle")
        return c

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["augment"] = AugmentConfig(**d.get("augment", {}))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# ---------------------------------------------------------------- model from a dataset
def build_model_for_data(name: str, data_spec: InputSpec, extra_overrides: dict | None = None):
    """Create ``name`` adapted to the dataset's shape/grid; a different tensor format or skeleton is an error."""
    family = get_family(model_entry(name).family)
    overrides = {**family.overrides_for_data(data_spec), **(extra_overrides or {})}
    model = create_model(name, **overrides)
    check_spec(model.spec, data_spec, f"model {name!r} on this dataset", check_normalisation=True)
    return model, overrides


# ---------------------------------------------------------------- distributed helpers
def _dist_setup() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class EpochSampler(torch.utils.data.Sampler):
    """Deterministic shuffle per (seed, epoch) so a resumed run sees the same order as an uninterrupted one."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(np.random.default_rng((self.seed, self.epoch)).permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


def _make_optimizer(model, cfg: TrainConfig, recipe: Recipe, steps_per_epoch: int):
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adamw-onecycle":
        opt = torch.optim.AdamW(params, lr=cfg.lr, betas=recipe.betas, weight_decay=cfg.weight_decay)
        return opt, _one_cycle(opt, cfg, recipe, cfg.epochs * steps_per_epoch)
    opt = torch.optim.Adam(params, lr=cfg.lr, betas=recipe.betas, weight_decay=cfg.weight_decay)
    every = recipe.lr_decay_every or 10**12
    return opt, torch.optim.lr_scheduler.StepLR(opt, step_size=every, gamma=recipe.lr_decay)


def _one_cycle(opt, cfg: TrainConfig, recipe: Recipe, total_steps: int, steps_done: int = 0):
    """RT-Pose's OneCycle over ``total_steps``, positioned after ``steps_done`` of them."""
    return torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=max(total_steps, 1), pct_start=recipe.pct_start, anneal_strategy="cos",
        div_factor=10.0, final_div_factor=1e4, cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
        last_epoch=steps_done - 1)


def _epochs_in_budget(cfg: TrainConfig, epochs_done: int, elapsed_s: float, per_epoch_s: float) -> int:
    """How many epochs the run can complete within ``--max-minutes`` (``elapsed_s`` of it gone) at
    ``per_epoch_s`` seconds an epoch, never more than ``cfg.epochs`` nor fewer than done."""
    left = int((cfg.max_minutes * 60 - elapsed_s) // per_epoch_s) if per_epoch_s > 0 else cfg.epochs
    return max(epochs_done, min(cfg.epochs, epochs_done + left))


# ---------------------------------------------------------------- run files
def save_json(path: Path, doc: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str))
    tmp.replace(path)


def _save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".pt.tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_run(run_dir: str | Path, which: str = "best", device: str = "cpu"):
    """(model with weights, run config dict) of a training run; ``which`` = best | last."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.exists():
        raise FormatError(f"{run_dir}: not a training run (no config.json)")
    try:
        doc = json.loads(cfg_path.read_text())
        name, overrides = doc["model"]["name"], doc["model"]["overrides"]
    except (json.JSONDecodeError, KeyError) as e:
        raise FormatError(f"{cfg_path}: malformed run config ({e})") from None
    ckpt = run_dir / f"{which}.pt"
    if not ckpt.exists() and which == "best":
        ckpt = run_dir / "last.pt"
    if not ckpt.exists():
        raise FormatError(f"{run_dir}: no checkpoint ({which}.pt or last.pt)")
    model = create_model(name, **overrides)
    try:
        state = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
    except Exception as e:
        raise FormatError(f"{ckpt}: cannot load checkpoint ({e})") from None
    return model.to(device).eval(), doc


# ---------------------------------------------------------------- training
@dataclass
class _RunState:
    """What a training loop carries from epoch to epoch (and a checkpoint restores)."""

    model: torch.nn.Module
    net: torch.nn.Module  # the model, or its DDP wrapper
    optimizer: torch.optim.Optimizer
    scheduler: object
    overrides: dict
    start_epoch: int = 0
    best: float | None = None
    best_epoch: int = -1
    best_loss: float = math.inf  # the best epoch's validation loss: breaks ties of the selection metric
    global_step: int = 0


def train(cfg: TrainConfig) -> dict:
    """Train (or resume) a run; returns the final summary (best metric, epochs done, last losses)."""
    rank, world = _dist_setup()
    cfg = cfg.resolved()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    family = get_family(model_entry(cfg.model).family)
    out = Path(cfg.out)
    data = DatasetReader(cfg.data)
    if cfg.resume:
        _check_resumable(cfg, out, data)
    _seed_all(cfg.seed)
    model, overrides = build_model_for_data(cfg.model, data.spec, cfg.model_overrides)
    model.to(cfg.device, memory_format=family.memory_format)
    train_set, val_set = _datasets(cfg, model, family)
    sampler, loader = _loader(cfg, train_set, rank, world)
    steps_per_epoch = max(len(loader), 1)
    optimizer, scheduler = _make_optimizer(model, cfg, family.recipe_for(cfg.model), steps_per_epoch)
    run = _RunState(model, torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model,
                    optimizer, scheduler, overrides)
    if cfg.resume:
        _restore(run, cfg, out)
    writer = None
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        save_json(out / "config.json", run_config(cfg, model, family, overrides, data, len(train_set), len(val_set),
                                                  world))
        writer = _tensorboard(out)

    t_start = time.monotonic()
    stopped_early = False
    history = []
    epoch = run.start_epoch - 1
    # (epochs done, seconds) the pace is timed from; an epoch that fills the in-RAM cache is slower than the rest
    paced_from = None if cfg.cache else (run.start_epoch, 0.0)
    for epoch in range(run.start_epoch, cfg.epochs):
        sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        row, stopped_early = _train_epoch(run, cfg, family, loader, epoch, t_start, rank, world, writer)
        if (cfg.max_minutes is not None and cfg.optimizer == "adamw-onecycle" and not stopped_early
                and paced_from is not None):
            _fit_schedule_to_budget(run, cfg, family, epoch, steps_per_epoch, t_start, world, paced_from)
        if rank == 0:
            _validate_and_save(run, cfg, family, val_set, data.spec.skeleton, epoch, row, out, writer)
        if paced_from is None:
            paced_from = (epoch + 1, _elapsed(t_start, world))
        history.append(row)
        if world > 1:
            dist.barrier()
        if stopped_early or (cfg.stop_after_epoch is not None and epoch + 1 >= cfg.stop_after_epoch):
            break
        if epoch + 1 >= cfg.epochs:  # the schedule was shortened to end here
            break
    if writer is not None:
        writer.close()
    result = {"epochs_done": epoch + 1, "best_metric": run.best, "best_epoch": run.best_epoch + 1,
              "stopped_early": stopped_early, "history": history, "run": str(out)}
    if world > 1:
        dist.destroy_process_group()
    return result


def run_config(cfg: TrainConfig, model, family, overrides: dict, data: DatasetReader, n_train: int, n_val: int,
               world: int) -> dict:
    """The run's ``config.json``: the model, its input spec, the training config, and the dataset's
    preprocessing config and radar, so the run directory alone deploys (``rfpose.app`` live pipeline)."""
    pre = data.preprocess_config
    return {"model": {"name": cfg.model, "family": family.name, "overrides": overrides},
            "input_spec": model.spec.to_dict(), "train": cfg.to_dict(), "world_size": world,
            "dataset": {"path": str(Path(cfg.data).resolve()), "format": data.spec.tensor_format,
                        "train_samples": n_train, "val_samples": n_val},
            "preprocess": pre.to_dict() if pre is not None else None, "radar": data.radar}


def _check_resumable(cfg: TrainConfig, out: Path, data: DatasetReader) -> None:
    if not (out / "last.pt").exists():
        raise FormatError(f"{out}: nothing to resume (no last.pt)")
    saved = json.loads((out / "config.json").read_text())
    if saved["model"]["name"] != cfg.model:
        raise ConfigError(f"{out}: run was trained as {saved['model']['name']!r}, not {cfg.model!r}")
    check_spec(InputSpec.from_dict(saved["input_spec"]), data.spec, f"resume {out} on {cfg.data}")
    check_preprocessing(saved, data.preprocess_config, f"resume {out} on {cfg.data}")


def _datasets(cfg: TrainConfig, model, family) -> tuple[PoseDataset, PoseDataset]:
    train_set = PoseDataset(cfg.data, model, DataOptions("train", cfg.limit_train,
                                                         cfg.augment if cfg.augment.enabled else None, cfg.seed,
                                                         cache=cfg.cache))
    try:  # validated every epoch: uncached, each pass re-reads and decodes its zarr chunks
        # at most a quarter of the RAM the training cache left: the rest is the training's working set
        val_set = PoseDataset(cfg.data, model, DataOptions("val", cfg.limit_val, None, cfg.seed, cache=cfg.cache,
                                                           cache_ram_fraction=0.25))
    except ConfigError as e:  # no RAM left for it beside the training split: read it from the zarr
        log.warning("validation split not cached: %s", e)
        val_set = PoseDataset(cfg.data, model, DataOptions("val", cfg.limit_val, None, cfg.seed))
    if len(train_set) == 0:
        raise FormatError(f"{cfg.data}: the train split is empty")
    family.check_training_data(train_set.reader)
    return train_set, val_set


def _loader(cfg: TrainConfig, train_set: PoseDataset, rank: int, world: int):
    if world > 1:
        sampler = torch.utils.data.DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True,
                                                      seed=cfg.seed, drop_last=True)
    else:
        sampler = EpochSampler(len(train_set), cfg.seed)
    per_rank_batch = max(cfg.batch_size // world, 1)
    loader = torch.utils.data.DataLoader(train_set, batch_size=per_rank_batch, sampler=sampler, collate_fn=collate,
                                         num_workers=cfg.workers, drop_last=len(train_set) >= per_rank_batch * world,
                                         multiprocessing_context="spawn" if cfg.workers > 0 else None)
    return sampler, loader


def _restore(run: _RunState, cfg: TrainConfig, out: Path) -> None:
    state = torch.load(out / "last.pt", map_location=cfg.device, weights_only=False)
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    run.start_epoch, run.best, run.best_epoch = state["epoch"] + 1, state["best"], state["best_epoch"]
    run.best_loss = state.get("best_loss", math.inf)
    run.global_step = state["global_step"]
    cfg.epochs = min(cfg.epochs, state.get("epochs", cfg.epochs))  # a schedule fitted to a time budget
    torch.set_rng_state(state["torch_rng"])
    log.info("resuming %s at epoch %d", out, run.start_epoch)


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(out / "tb"))
    except ImportError:  # pragma: no cover
        log.warning("tensorboard not installed; only metrics.csv is written")
        return None


def _train_epoch(run: _RunState, cfg: TrainConfig, family, loader, epoch: int, t_start: float, rank: int,
                 world: int, writer) -> tuple[dict, bool]:
    """One pass over the training split → (metrics row, stopped at the time budget)."""
    run.net.train()
    total, count, parts_sum = 0.0, 0, {}
    stopped = False
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=rank != 0 or None, leave=False)
    for batch in bar:
        inputs = [t.to(cfg.device, memory_format=family.memory_format) for t in batch["inputs"]]
        labels = {k: batch[k].to(cfg.device) for k in LABEL_KEYS}
        loss, parts = run.model.loss(run.net(*inputs), labels)
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
        run.optimizer.step()
        run.scheduler.step()
        run.global_step += 1
        n = len(batch["index"])
        total += float(loss.detach()) * n
        count += n
        for k, v in parts.items():
            parts_sum[k] = parts_sum.get(k, 0.0) + v * n
        if rank == 0:
            bar.set_postfix(loss=f"{float(loss.detach()):.4g}")
            if writer is not None:
                writer.add_scalar("train/loss_step", float(loss.detach()), run.global_step)
        if _time_up(cfg, t_start, world):
            stopped = True
            break
    row = {"epoch": epoch + 1, "train_loss": total / max(count, 1), "lr": run.optimizer.param_groups[0]["lr"],
           **{f"train_{k}": v / max(count, 1) for k, v in parts_sum.items()},
           "elapsed_s": time.monotonic() - t_start}
    return row, stopped


def _fit_schedule_to_budget(run: _RunState, cfg: TrainConfig, family, epoch: int, steps_per_epoch: int,
                            t_start: float, world: int, paced_from: tuple[int, float]) -> None:
    """OneCycle anneals over cfg.epochs; if two or more of them do not fit in the time budget at the pace
    since ``paced_from`` (epochs done, seconds), shorten the cycle so the run ends annealed instead of being cut
    at a high learning rate (losing only the last epoch, whose learning rate is already a few % of the
    maximum, is left to the budget stop)."""
    if epoch + 1 >= cfg.epochs or epoch + 1 <= paced_from[0]:
        return
    elapsed = _elapsed(t_start, world)
    per_epoch = (elapsed - paced_from[1]) / (epoch + 1 - paced_from[0])
    fit = _epochs_in_budget(cfg, epoch + 1, elapsed, per_epoch)
    if fit < cfg.epochs - 1:
        log.warning("%g min budget: %d epochs fit at %.0f s/epoch; OneCycle shortened from %d epochs",
                    cfg.max_minutes, fit, per_epoch, cfg.epochs)
        cfg.epochs = fit
        run.scheduler = _one_cycle(run.optimizer, cfg, family.recipe_for(cfg.model), fit * steps_per_epoch,
                                   run.global_step)


def _validate_and_save(run: _RunState, cfg: TrainConfig, family, val_set, skeleton: str, epoch: int, row: dict,
                       out: Path, writer) -> None:
    """Rank 0: validate, pick the best epoch, write checkpoints, metrics.csv and TensorBoard scalars."""
    if len(val_set):
        summary = family.summarise(predict(run.model, val_set, cfg.val_batch_size, cfg.device), skeleton)
        name, value, higher = family.selection_metric(summary)
        loss = row["val_loss"] = summary["loss"]
        row[f"val_{name}"] = value
    else:  # no validation split: select on training loss
        name, value, higher = "train_loss", row["train_loss"], False
        loss = value
    best = run.best
    # a tie (an AP still 0 after several epochs) goes to the lower validation loss, not to the first epoch
    improved = (best is None or (value > best if higher else value < best) or not math.isfinite(best)
                or (value == best and loss is not None and loss < run.best_loss))
    if improved and math.isfinite(value):
        run.best, run.best_epoch, run.best_loss = value, epoch, loss
    state = {"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
             "scheduler": run.scheduler.state_dict(), "epoch": epoch, "best": run.best, "best_epoch": run.best_epoch,
             "best_loss": run.best_loss,
             "selection_metric": name, "global_step": run.global_step, "torch_rng": torch.get_rng_state(),
             "model_name": cfg.model, "overrides": run.overrides, "epochs": cfg.epochs}
    _save_checkpoint(out / "last.pt", state)
    if run.best_epoch == epoch:
        _save_checkpoint(out / "best.pt", state)
    _append_csv(out / "metrics.csv", row)
    if writer is not None:
        for k, v in row.items():
            if k != "epoch" and isinstance(v, (int, float)):
                writer.add_scalar(k.replace("_", "/", 1), v, epoch + 1)
        writer.flush()
    log.info("epoch %d: %s", epoch + 1, {k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()})


def _elapsed(t_start: float, world: int) -> float:
    """Seconds since ``t_start``, the same on every rank (their maximum), so ranks take the same decisions."""
    t = torch.tensor([time.monotonic() - t_start], dtype=torch.float64)
    if world > 1:  # every rank must stop at the same step or DDP deadlocks
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def _time_up(cfg: TrainConfig, t_start: float, world: int) -> bool:
    return cfg.max_minutes is not None and _elapsed(t_start, world) > cfg.max_minutes * 60


def _append_csv(path: Path, row: dict) -> None:
    rows = []
    if path.exists():
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    rows.append({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    cols = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
