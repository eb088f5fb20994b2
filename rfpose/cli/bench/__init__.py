"""Benchmarks. Each prints a table (or JSON with --json) and can write the JSON to a file.

  rfpose bench dsp      raw ADC to radar tensors, against numpy.fft and the published peers
  rfpose bench capture  DCA1000 emulator to driver over loopback UDP
  rfpose bench model    every registered model: parameters, multiply-adds, latency, throughput
  rfpose bench sim      radar, LiDAR and camera synthesis speed
  rfpose bench detector 2D pose detector against the simulator's projected joints
  rfpose bench monitor  room monitor end to end (frame → MQTT / web), torch vs ONNX Runtime
  rfpose bench mars     MARS (real TI point clouds): import, train mars-cnn and pointpose, evaluate
  rfpose bench calibration  rfpose calibrate on simulated captures against the simulator's truth

Each benchmark is a module here (its arguments and output); the measurements are in
:mod:`rfpose.app.benchmarking`.
"""

from __future__ import annotations

import importlib

#: benchmark name -> module providing ``add_arguments(parser)`` and ``run(args)``
BENCHES = {
    "dsp": "rfpose.cli.bench.dsp",
    "capture": "rfpose.cli.bench.capture",
    "model": "rfpose.cli.bench.model",
    "sim": "rfpose.cli.bench.sim",
    "detector": "rfpose.cli.bench.detector",
    "monitor": "rfpose.cli.bench.monitor",
    "mars": "rfpose.cli.bench.mars",
    "calibration": "rfpose.cli.bench.calibration",
}


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="bench", metavar="BENCH")
    sub.required = True
    for name, module in BENCHES.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if not module.startswith(e.name or "\0"):
                raise
            continue
        b = sub.add_parser(name, help=(mod.__doc__ or name).strip().splitlines()[0])
        b.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
        b.add_argument("--out", help="also write the JSON to this file")
        mod.add_arguments(b)
        b.set_defaults(_bench=mod.run)


def run(args) -> int:
    return args._bench(args) or 0
