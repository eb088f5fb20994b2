"""Export a trained run to ONNX or TorchScript (plus FILE.json with the input spec and output names).

  rfpose export runs/lite --format onnx --out lite.onnx

After writing, the export is run once on a random input and compared with the PyTorch model
(onnxruntime for ONNX); the largest relative difference is printed and must be below 1e-4.
"""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("run_dir", metavar="RUN", help="training run directory")
    p.add_argument("--format", required=True, choices=["onnx", "torchscript"])
    p.add_argument("--out", help="output file (default RUN/model.onnx or RUN/model.pt)")
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--no-check", action="store_true", help="skip the parity check")
    from rfpose.cli.args import add_force

    add_force(p)


def run(args) -> int:
    from pathlib import Path

    from rfpose.errors import RfposeError
    from rfpose.models.export import export_model, parity
    from rfpose.models.train import load_run

    from rfpose.cli.args import output_file

    out = args.out or str(Path(args.run_dir) / ("model.onnx" if args.format == "onnx" else "model.ts"))
    output_file(out, args.force, also=[f"{out}.json"])
    model, doc = load_run(args.run_dir, args.checkpoint)
    path = export_model(model, args.format, out, doc)
    msg = f"wrote {path} (+ {path}.json)"
    if not args.no_check:
        err = parity(model, path, args.format)
        msg += f"; parity max relative difference {err:.2e}"
        if err > 1e-4:
            raise RfposeError(f"{path}: exported model differs from PyTorch by {err:.2e} (> 1e-4)")
    print(msg)
    return 0
