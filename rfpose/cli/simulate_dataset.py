"""Build a fixed, seeded dataset preset from the simulator (sessions → DATASET.zarr).

  rfpose simulate-dataset --list
  rfpose simulate-dataset --preset sim-bench-v1 --out data/sim-bench-v1
  rfpose simulate-dataset --preset sim-bench-v1 --out /tmp/smoke --subjects 3 --frames-per-session 2

Writes OUT/sessions/<subject>-<scenario>.zarr (radar only; the simulator's ground-truth skeletons as
labels), then OUT/dataset.zarr through ``rfpose.preprocessing`` (split by subject, never by frame) and
OUT/preset.json (the resolved preset). Rerunning resumes: finished sessions are kept and the dataset
build skips finished tasks. Everything is seeded, so the same preset gives the same data.

sim-bench-v1 (see docs/models.md for the reasoning):
  * board: mmwcas (the RT-Pose cascade: 12 TX × 16 RX, TDM, 77 GHz, 64.985 MHz/µs, 5 Msps), with the chirp
    reduced to 128 ADC samples (bandwidth 1.66 GHz, 9 cm range bins, same 11.5 m max range) and 32 loops
    (16 Doppler channels after RT-Pose's pair max-pool) — a quarter of the raw data per frame;
  * tensor grid: RT-Pose's 16 × 64 × 160 voxel ROI (the preprocessing default);
  * 6 subjects (seeds 1–6: heights 1.55–1.95 m and builds 0.85–1.25 drawn by the simulator), each doing all
    six RT-Pose actions in a clean room plus walking in a cluttered room: 7 sessions × 20 frames each;
  * split by subject: 4 train, 1 val (seed 5), 1 test (seed 6) → 560 / 140 / 140 frames.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimDatasetPreset:
    name: str
    description: str
    board: str = "mmwcas"
    adc_samples: int | None = 128
    """override of the board cfg's ADC samples per chirp (None: keep)"""
    loops: int | None = 32
    """override of the board cfg's chirp loops per frame (None: keep)"""
    subject_seeds: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
    """one simulated subject per seed (body height and build drawn by the simulator from the seed)"""
    scenarios: tuple[str, ...] = ("walk", "wave", "random-poses", "walk-sit", "walk-wave", "lift-leg",
                                  "cluttered-walk")
    frames_per_session: int = 20
    val_seeds: tuple[int, ...] = (5,)
    test_seeds: tuple[int, ...] = (6,)
    format: str = "rtpose"

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, SimDatasetPreset] = {p.name: p for p in (
    SimDatasetPreset("sim-bench-v1", "RT-Pose-like cascade, 6 subjects x (6 actions clean + walk cluttered), "
                     "20 frames each, split by subject"),
)}


def get_preset(name: str) -> SimDatasetPreset:
    from rfpose.errors import UnknownNameError

    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownNameError("dataset preset", name, list(PRESETS)) from None


def reduced_cfg(board_name: str, adc_samples: int | None, loops: int | None) -> str:
    """The board's default .cfg with the ADC sample count and loop count replaced (validated)."""
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
        elif parts and parts[0] == "frameCfg" and loops is not None:
            parts[3] = str(loops)
            line = " ".join(parts)
        lines.append(line)
    text = "\n".join(lines) + "\n"
    try:
        validate_cfg(parse_cfg(text, f"<{board_name} reduced>"), board)
    except ConfigError as e:
        raise ConfigError(f"preset chirp reduction is invalid for {board_name}: {e}") from None
    return text


def build_preset(preset: SimDatasetPreset, out: str | Path, scheduler: str | None = "synchronous",
                 progress: bool = True) -> dict:
    """Simulate every session of ``preset`` into ``out/sessions`` and build ``out/dataset.zarr``."""
    import zarr
    from tqdm import tqdm

    from rfpose.preprocessing.dataset import PreprocessConfig, build_dataset
    from rfpose.sim.session_writer import simulate_session

    out = Path(out)
    (out / "sessions").mkdir(parents=True, exist_ok=True)
    (out / "preset.json").write_text(json.dumps(preset.to_dict(), indent=2))
    cfg_text = reduced_cfg(preset.board, preset.adc_samples, preset.loops)
    jobs = [(seed, sc) for seed in preset.subject_seeds for sc in preset.scenarios]
    paths, subject_of_seed = [], {}
    for seed, scenario in tqdm(jobs, desc="simulate", disable=None if progress else True):
        path = out / "sessions" / f"seed{seed}-{scenario}.zarr"
        done = False
        if path.exists():
            try:
                done = "subject" in zarr.open_group(str(path), mode="r").attrs
            except Exception:
                done = False
        if not done:
            simulate_session(str(path), scenario, preset.frames_per_session, seed=seed, board=preset.board,
                             camera=False, lidar=False, cfg_text=cfg_text, overwrite=True)
            g = zarr.open_group(str(path), mode="r+")
            # the simulator derives the body from the seed; one subject per seed across scenarios.
            # Written last: it also marks the session as complete for a resumed build.
            g.attrs["subject"] = str(g.attrs["subjects"][0]["subject_id"]) if g.attrs.get("subjects") else f"seed{seed}"
        subject_of_seed[seed] = str(zarr.open_group(str(path), mode="r").attrs["subject"])
        paths.append(str(path))
    cfg = PreprocessConfig(format=preset.format,
                           val_subjects=tuple(subject_of_seed[s] for s in preset.val_seeds),
                           test_subjects=tuple(subject_of_seed[s] for s in preset.test_seeds))
    summary = build_dataset(paths, str(out / "dataset.zarr"), cfg, scheduler=scheduler, progress=progress)
    return {"preset": preset.name, "sessions": len(paths), "subjects": subject_of_seed, "dataset": summary}


def add_arguments(p) -> None:
    p.add_argument("--list", action="store_true", help="list the presets and exit")
    p.add_argument("--preset", default="sim-bench-v1")
    p.add_argument("--out", help="output directory (sessions/, dataset.zarr, preset.json)")
    p.add_argument("--subjects", type=int, help="use only the first N subject seeds (smoke runs; changes the preset)")
    p.add_argument("--frames-per-session", type=int, help="override frames per session (smoke runs)")
    p.add_argument("--scheduler", default="synchronous",
                   help="dataset build: 'synchronous' (default), 'local' (dask LocalCluster) or a scheduler address")


def run(args) -> int:
    from rfpose.errors import ConfigError

    if args.list:
        for name, pr in PRESETS.items():
            print(f"{name}  {pr.description}")
        return 0
    if not args.out:
        raise ConfigError("--out DIR is required (or --list)")
    preset = get_preset(args.preset)
    if args.subjects:
        seeds = preset.subject_seeds[: args.subjects]
        if len(seeds) < 3:
            raise ConfigError("--subjects must be at least 3 (train, val and test need one subject each)")
        preset = replace(preset, name=f"{preset.name}-s{len(seeds)}", subject_seeds=seeds,
                         val_seeds=(seeds[-2],), test_seeds=(seeds[-1],))
    if args.frames_per_session:
        preset = replace(preset, name=f"{preset.name}-f{args.frames_per_session}",
                         frames_per_session=args.frames_per_session)
    scheduler = None if args.scheduler == "local" else args.scheduler
    summary = build_preset(preset, args.out, scheduler=scheduler)
    print(json.dumps(summary))
    return 0
