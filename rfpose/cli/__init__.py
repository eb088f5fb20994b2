"""The ``rfpose`` command line: one entry point, one module per command.

Each command module defines ``add_arguments(parser)`` and ``run(args) -> int | None`` and keeps heavy
imports inside ``run`` so ``rfpose --help`` stays fast. A :class:`~rfpose.errors.RfposeError` becomes a
one-line message and exit code 2; a user's mistake never shows a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from rfpose.errors import RfposeError

#: command name -> (module under rfpose.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "cfg": ("cfg", "inspect TI mmWave .cfg files"),
    "simulate": ("simulate", "simulate a multi-sensor session on the virtual rig"),
    "simulate-dataset": ("simulate_dataset", "build a fixed, seeded dataset preset from the simulator"),
    "emulate": ("emulate", "run a device emulator (board CLI, DCA1000, UART point clouds)"),
    "record": ("record", "record a session from the sensors in a rig file"),
    "capture-adc": ("capture_adc", "capture raw ADC frames from a DCA1000 into adc_data.bin"),
    "adc2tensor": ("adc2tensor", "turn an adc_data.bin capture into radar tensors"),
    "annotate": ("annotate", "label a session's radar frames with 3D skeletons from cameras and LiDAR"),
    "preprocess": ("preprocess", "turn sessions into a training dataset"),
    "train": ("train", "train a pose model on a dataset"),
    "evaluate": ("evaluate", "evaluate a training run on a dataset split"),
    "evaluate-monitor": ("evaluate_monitor", "replay a simulated fall benchmark through the room monitor; score falls, presence"),
    "baseline": ("baseline", "score the non-learned 3-D baselines (mean pose at true root / radar peak)"),
    "export": ("export", "export a trained model to ONNX or TorchScript"),
    "monitor": ("monitor", "run the radar-only room monitor (MQTT / Home Assistant, web page)"),
    "bench": ("bench", "benchmarks: dsp, capture, model, sim"),
    "calibrate": ("calibrate", "calibrate the rig from calibration captures; apply a calibration to sessions"),
    "import": ("import_data", "import third-party recordings (MARS, RT-Pose, HuPR datasets; TI UART recordings)"),
    "demo": ("demo", "run the whole pipeline on the simulated rig and write a report"),
}


def _available() -> dict[str, object]:
    mods = {}
    for name, (module, _help) in COMMANDS.items():
        try:
            mods[name] = importlib.import_module(f"rfpose.cli.{module}")
        except ModuleNotFoundError as e:
            if e.name != f"rfpose.cli.{module}":
                raise
    return mods


class _Parser(argparse.ArgumentParser):
    """Bad arguments are one line (``rfpose CMD: error: …``) and exit code 2; ``--help`` shows the usage."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from rfpose import __version__

    parser = _Parser(prog="rfpose", description="Human pose estimation from mmWave radar.")
    parser.add_argument("--version", action="version", version=f"rfpose {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, mod in _available().items():
        p = sub.add_parser(name, help=COMMANDS[name][1], description=(mod.__doc__ or "").strip() or None,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = args._run(args)
    except RfposeError as e:
        print(f"rfpose {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"rfpose {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
