"""A seeded simulator dataset preset and its build (sessions → DATASET.zarr).

Every preset is a :class:`SimDatasetPreset` (or a subclass that overrides how a session is simulated or how
the dataset is preprocessed); :func:`build_preset` simulates its sessions into ``OUT/sessions``, builds
``OUT/dataset.zarr`` (and any :meth:`SimDatasetPreset.extra_datasets`) through ``rfpose.preprocessing``
(split by subject, never by frame) and writes ``OUT/preset.json`` (the resolved preset, also stored in
each dataset's root attrs ``preset``). Rerunning
resumes: finished sessions are kept and the dataset build skips finished tasks.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from rfpose.dataset import PreprocessConfig
from rfpose.sim.motion import RTPOSE_ACTIONS

log = logging.getLogger(__name__)


ACTIONS = RTPOSE_ACTIONS  # RT-Pose's six (rtpose.md §4)


@dataclass(frozen=True)
class SimDatasetPreset:
    """A seeded simulator dataset: subjects × actions × scenes, one session each, split by subject."""

    name: str
    description: str
    board: str = "mmwcas"
    adc_samples: int | None = 128
    """override of the board cfg's ADC samples per chirp (None: keep)"""
    loops: int | None = 32
    """override of the board cfg's chirp loops per frame (None: keep)"""
    frame_period_ms: float | None = None
    """override of the board cfg's frame period in ms (None: keep)"""
    subject_seeds: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    """one simulated subject per seed (body height and build drawn by the simulator from the seed)"""
    scenarios: tuple[str, ...] = ACTIONS
    """simulator scenario names (one person each); every one is run in every scene"""
    scenes: tuple[str | None, ...] = (None,)
    """rooms: "clean" | "cluttered"; None keeps the scenario's own room"""
    frames_per_session: int = 20
    train_takes: int = 1
    """takes of every (scenario, scene) per training subject; val and test subjects get one"""
    val_seeds: tuple[int, ...] = (5,)
    test_seeds: tuple[int, ...] = (6,)
    preprocess: PreprocessConfig = PreprocessConfig()
    """how the dataset is built from the sessions (format, grid, windows …); the build fills in the split"""
    breathing: bool = False
    """the simulator's radar body model: fixed echoes and a breathing chest (``rfpose simulate --breathing``)"""

    def __post_init__(self):
        from rfpose.errors import ConfigError

        seeds = set(self.subject_seeds)
        if len(seeds) != len(self.subject_seeds):
            raise ConfigError(f"preset {self.name}: subject seeds repeat: {self.subject_seeds}")
        if not (set(self.val_seeds) <= seeds and set(self.test_seeds) <= seeds):
            raise ConfigError(f"preset {self.name}: val/test seeds must be subject seeds")
        if set(self.val_seeds) & set(self.test_seeds):
            raise ConfigError(f"preset {self.name}: a subject cannot be both val and test")
        if not seeds - set(self.val_seeds) - set(self.test_seeds):
            raise ConfigError(f"preset {self.name}: no training subject left")
        if self.frames_per_session < 1:
            raise ConfigError(f"preset {self.name}: frames_per_session must be ≥ 1")
        if self.train_takes < 1:
            raise ConfigError(f"preset {self.name}: train_takes must be ≥ 1")

    def sessions(self) -> list[tuple[int, str, str | None, int, int]]:
        """``(seed, scenario, scene, motion_seed, take)`` per session, in build order. The body comes from the
        seed alone; the motion seed numbers the (take, scenario, scene) triples, so each session of a subject
        is a different take (start point, path, gesture timing): walk and walk-wave, clean and cluttered
        differ. Take 0 of every session keeps its motion seed when ``train_takes`` grows."""
        n, pairs = len(self.scenes), len(self.scenes) * len(self.scenarios)
        held_out = set(self.val_seeds) | set(self.test_seeds)
        return [(seed, sc, scene, t * pairs + a * n + k, t) for seed in self.subject_seeds
                for t in range(1 if seed in held_out else self.train_takes)
                for a, sc in enumerate(self.scenarios) for k, scene in enumerate(self.scenes)]

    def simulate_session(self, path: str, scenario: str, seed: int, cfg_text: str, scene: str | None,
                         motion_seed: int) -> None:
        """Write one session to ``path`` (radar only, the simulator's skeletons as labels). Presets that need
        other sensors or rigs override this."""
        from rfpose.sim.session_writer import simulate_session

        simulate_session(path, scenario, self.frames_per_session, seed=seed, board=self.board, camera=False,
                         lidar=False, cfg_text=cfg_text, overwrite=True, scene=scene, motion_seed=motion_seed,
                         breathing=self.breathing)

    def in_dataset(self, seed: int, scenario: str) -> bool:
        """Whether a session goes into ``dataset.zarr`` (all do here); a preset whose held-out sessions are
        evaluated from the raw sessions (a monitor benchmark) keeps them out."""
        return True

    def preprocess_config(self, subject_of_seed: dict[int, str]) -> PreprocessConfig:
        """The dataset's config with the split filled in from ``subject_of_seed`` (the seeds in the dataset)."""
        return replace(self.preprocess,
                       val_subjects=tuple(subject_of_seed[s] for s in self.val_seeds if s in subject_of_seed),
                       test_subjects=tuple(subject_of_seed[s] for s in self.test_seeds if s in subject_of_seed))

    def extra_datasets(self, subject_of_seed: dict[int, str]) -> dict:
        """Further datasets built from the same sessions, ``{file name under OUT: PreprocessConfig}`` (a preset
        whose sessions carry two inputs, e.g. raw ADC and a device's points); none by default."""
        return {}

    def to_dict(self) -> dict:
        from rfpose.sim import SIM_REVISION

        return {**asdict(self), "sim_revision": SIM_REVISION}


def reduced_cfg(board_name: str, adc_samples: int | None, loops: int | None,
                frame_period_ms: float | None = None) -> str:
    """The board's default .cfg with the ADC sample count, loop count and frame period replaced (validated)."""
    from rfpose.boards import get_board
    from rfpose.errors import ConfigError
    from rfpose.radar_config import parse_cfg, validate_cfg

    board = get_board(board_name)
    lines = []
    for line in board.default_cfg_text().splitlines():
        parts = line.split()
        if parts and parts[0] == "profileCfg" and adc_samples is not None:
            parts[10] = str(adc_samples)
            line = " ".join(parts)
        elif parts and parts[0] == "frameCfg" and (loops is not None or frame_period_ms is not None):
            if loops is not None:
                parts[3] = str(loops)
            if frame_period_ms is not None:
                parts[5] = f"{frame_period_ms:g}"
            line = " ".join(parts)
        lines.append(line)
    text = "\n".join(lines) + "\n"
    try:
        validate_cfg(parse_cfg(text, f"<{board_name} reduced>"), board)
    except ConfigError as e:
        raise ConfigError(f"preset chirp reduction is invalid for {board_name}: {e}") from None
    return text


def session_name(seed: int, scenario: str, scene: str | None, take: int = 0) -> str:
    return f"seed{seed}-{scenario}" + (f"-{scene}" if scene else "") + (f"-t{take}" if take else "")


def _session_done(path: Path) -> bool:
    """A session is complete once its ``subject`` attr is written (the last step of :func:`_simulate_one`)
    by the current simulator revision."""
    import zarr

    from rfpose.sim import SIM_REVISION

    if not path.exists():
        return False
    try:
        attrs = zarr.open_group(str(path), mode="r").attrs
    except Exception:  # a half-written session from an interrupted build: simulate it again
        return False
    revision = attrs.get("config", {}).get("simulator", {}).get("revision")
    if revision != SIM_REVISION:
        log.info("%s: simulator revision %s, current %s; simulating it again", path, revision, SIM_REVISION)
        return False
    return "subject" in attrs


def _simulate_one(preset: SimDatasetPreset, path: str, scenario: str, seed: int, cfg_text: str,
                  scene: str | None, motion_seed: int) -> str:
    """Simulate one session of ``preset`` and mark it complete; returns its subject id."""
    import zarr

    from rfpose.sim.scenarios import subject_id

    preset.simulate_session(path, scenario, seed, cfg_text, scene, motion_seed)
    g = zarr.open_group(path, mode="r+")
    # the simulator derives the body from the seed alone: one subject per seed across sessions; a session
    # without people (an empty room) belongs to its seed's subject too, so it lands in that subject's split.
    # Written last: it also marks the session as complete for a resumed build.
    g.attrs["subject"] = str(g.attrs["subjects"][0]["subject_id"]) if g.attrs.get("subjects") else subject_id(seed)
    return str(g.attrs["subject"])


def held_out_only(preset: SimDatasetPreset, split: str, seeds: tuple[int, ...]) -> SimDatasetPreset:
    """``preset`` with ``seeds`` as its ``split`` ("val" or "test") subjects and nothing else to simulate: more
    held-out subjects of the same design (their sessions, takes and lengths as the preset gives that split) for
    a replay such as ``rfpose evaluate-monitor``. One training seed stays in the preset to keep it valid; it is
    never simulated (:func:`simulate_sessions` with ``only_seeds``)."""
    from rfpose.errors import ConfigError

    if split not in ("val", "test"):
        raise ConfigError(f"held-out split must be val or test, got {split!r}")
    train = next(s for s in range(1, 10**6) if s not in seeds)
    return replace(preset, subject_seeds=(train, *seeds), val_seeds=seeds if split == "val" else (),
                   test_seeds=seeds if split == "test" else ())


def simulate_sessions(preset: SimDatasetPreset, out: str | Path, progress: bool = True, workers: int = 1,
                      only_seeds: tuple[int, ...] | None = None) -> tuple[list, list]:
    """Simulate the sessions of ``preset`` (those of ``only_seeds`` if given) into ``out/sessions`` that are not
    there yet, in ``workers`` processes, and write ``out/preset.json``. Returns ``(path, seed, scenario)`` of
    every planned session, and the jobs simulated now."""
    from tqdm import tqdm

    from rfpose.worker_pool import process_pool

    out = Path(out)
    (out / "sessions").mkdir(parents=True, exist_ok=True)
    (out / "preset.json").write_text(json.dumps(preset.to_dict(), indent=2))
    cfg_text = reduced_cfg(preset.board, preset.adc_samples, preset.loops, preset.frame_period_ms)
    plan = [(out / "sessions" / f"{session_name(seed, sc, scene, take)}.zarr", seed, sc, scene, m)
            for seed, sc, scene, m, take in preset.sessions() if only_seeds is None or seed in only_seeds]
    todo = [(preset, str(path), sc, seed, cfg_text, scene, m)
            for path, seed, sc, scene, m in plan if not _session_done(path)]
    bar = tqdm(total=len(plan), initial=len(plan) - len(todo), desc="simulate", disable=None if progress else True)
    if workers > 1 and len(todo) > 1:
        with process_pool(workers) as pool:
            for _ in pool.map(_simulate_one, *zip(*todo)):
                bar.update()
    else:
        for job in todo:
            _simulate_one(*job)
            bar.update()
    bar.close()
    return [(path, seed, sc) for path, seed, sc, *_ in plan], todo


def build_preset(preset: SimDatasetPreset, out: str | Path, scheduler: str | None = "synchronous",
                 progress: bool = True, workers: int = 1) -> dict:
    """Simulate every session of ``preset`` into ``out/sessions`` and build ``out/dataset.zarr``.

    ``workers`` > 1 simulates that many sessions at once in separate processes (the simulator runs on one
    core per process). Returns a summary (sessions, subject of each seed, split sizes, dataset build
    summary). The resolved preset is written to ``out/preset.json`` and to the dataset's root attrs
    ``preset``."""
    import time

    import numpy as np
    import zarr

    from rfpose.preprocessing.dataset import build_dataset

    out = Path(out)
    t0 = time.perf_counter()
    plan, todo = simulate_sessions(preset, out, progress, workers)
    in_data = [(path, seed) for path, seed, sc in plan if preset.in_dataset(seed, sc)]
    paths = [str(path) for path, _ in in_data]
    subject_of_seed = {seed: str(zarr.open_group(str(path), mode="r").attrs["subject"]) for path, seed in in_data}
    t_sim = time.perf_counter() - t0
    t0 = time.perf_counter()
    configs = {"dataset.zarr": preset.preprocess_config(subject_of_seed), **preset.extra_datasets(subject_of_seed)}
    new_in_data = any(preset.in_dataset(seed, sc) for _, _, sc, seed, *_ in todo)
    built = {}
    for name, config in configs.items():
        dataset = out / name
        # a dataset is built after every session exists, so one that predates sessions simulated now (another
        # simulator revision) or was built from another list of sessions (a grown preset) is stale
        stale = dataset.exists() and (new_in_data or [x["path"] for x in zarr.open_group(
            str(dataset), mode="r").attrs.get("sessions", [])] != paths)
        if stale:
            log.info("%s: older than its sessions or built from others; rebuilding", dataset)
        built[name] = build_dataset(paths, str(dataset), config, scheduler=scheduler, progress=progress,
                                    overwrite=stale)
        zarr.open_group(str(dataset), mode="r+").attrs["preset"] = preset.to_dict()
    summary = built.pop("dataset.zarr")
    extra = built
    t_pre = time.perf_counter() - t0
    root = zarr.open_group(str(out / "dataset.zarr"), mode="r")
    split = root["split"][:]
    counts = {name: int((split == code).sum()) for code, name in enumerate(("train", "val", "test"))}
    subjects = {name: sorted({subject_of_seed[s] for s in seeds if s in subject_of_seed}) for name, seeds in (
        ("val", preset.val_seeds), ("test", preset.test_seeds))}
    subjects["train"] = sorted(set(subject_of_seed.values()) - set(subjects["val"]) - set(subjects["test"]))
    return {"preset": preset.name, "sessions": len(plan), "dataset_sessions": len(paths), "subjects": subject_of_seed, "split_subjects": subjects,
            "split_samples": counts, "simulate_s": round(t_sim, 1), "preprocess_s": round(t_pre, 1),
            "frames": int(len(split)), "dataset": summary, **({"extra_datasets": extra} if extra else {}),
            "unique_subjects_per_split_ok":
            bool(all(len(np.unique(split[root["subject"][:] == s])) == 1 for s in np.unique(root["subject"][:])))}


