"""Export trained models to ONNX or TorchScript, with a sidecar JSON describing inputs and outputs.

The exported graph takes the model's input tensors (batch axis dynamic) and returns its raw outputs in a
fixed order (``output_names``); decoding (argmax / NMS, metres or pixels) stays in Python so the same
code serves every runtime. ``FILE.json`` next to the export carries the model name, overrides, input spec,
input/output names and shapes.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from rfpose.errors import ConfigError, UnknownNameError

log = logging.getLogger(__name__)
FORMATS = ("onnx", "torchscript")


class TupleOutputs(nn.Module):
    """Wraps a model whose forward returns a dict so that it returns a tuple in ``names`` order."""

    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model, self.names = model, list(names)

    def forward(self, *inputs):
        out = self.model(*inputs)
        return tuple(out[n] for n in self.names)


def input_names(model) -> list[str]:
    from rfpose.models.families import get_family

    family = get_family(model)
    return list(family.model_inputs or family.input_arrays)


def output_names(model) -> list[str]:
    with torch.no_grad():
        return list(model(*model.example_inputs(1)).keys())


def export_model(model, fmt: str, path: str | Path, run_config: dict | None = None) -> Path:
    """Write ``model`` (eval mode, CPU) as ``fmt`` to ``path`` plus ``path + '.json'``; returns the path."""
    if fmt not in FORMATS:
        raise UnknownNameError("export format", fmt, list(FORMATS))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    outs = output_names(model)
    wrapper = TupleOutputs(model, outs).eval()
    example = model.example_inputs(1)
    ins = input_names(model)
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # shape checks are static per export
    if fmt == "onnx":
        dyn = {n: {0: "batch"} for n in ins + outs}
        try:
            # the legacy (TorchScript-based) exporter: the torch.export-based one needs onnxscript, which
            # is not a dependency; both give the same graph for these convolutional models
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                torch.onnx.export(wrapper, example, str(path), input_names=ins, output_names=outs,
                                  dynamic_axes=dyn, opset_version=17, dynamo=False)
        except Exception as e:  # the exporter raises many types; report one clear error
            raise ConfigError(f"ONNX export of {getattr(model, 'model_name', 'model')} failed: {e}") from e
    else:
        # TorchScript is deprecated upstream but still the simplest self-contained CPU artefact
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            traced = torch.jit.trace(wrapper, example, check_trace=False)
        traced.save(str(path))
    meta = {"format": fmt, "model": getattr(model, "model_name", None),
            "overrides": getattr(model, "model_overrides", {}), "input_spec": model.spec.to_dict(),
            "inputs": {n: [None, *t.shape[1:]] for n, t in zip(ins, example)}, "outputs": outs,
            "run": run_config or {}}
    Path(str(path) + ".json").write_text(json.dumps(meta, indent=2, default=str))
    return path


def onnx_feeds(session, names: list[str], inputs) -> dict:
    """ONNX Runtime's feed of ``inputs`` (the model's arguments, named ``names``): the exporter drops an input
    the graph never reads (``mars-cnn`` ignores the points' mask), so only the session's inputs are fed."""
    wanted = {i.name for i in session.get_inputs()}
    return {n: (t.numpy() if isinstance(t, torch.Tensor) else t) for n, t in zip(names, inputs) if n in wanted}


def run_exported(path: str | Path, fmt: str, inputs: tuple[torch.Tensor, ...], names: list[str] | None = None
                 ) -> list[np.ndarray]:
    """Run an exported file on ``inputs`` (onnxruntime on CPU, or TorchScript) → list of numpy outputs.
    ``names``: the inputs' names (default: the sidecar JSON's, else the session's in order)."""
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        if names is None:
            meta = Path(str(path) + ".json")
            names = list(json.loads(meta.read_text())["inputs"]) if meta.exists() else \
                [i.name for i in sess.get_inputs()]
        return sess.run(None, onnx_feeds(sess, names, inputs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path))
    with torch.no_grad():
        return [o.numpy() for o in module(*inputs)]


def parity(model, path: str | Path, fmt: str, seed: int = 0, batch: int = 1) -> float:
    """Largest |exported − eager| / max|eager| over all outputs on a random input."""
    g = torch.Generator().manual_seed(seed)
    inputs = tuple(torch.rand(t.shape[0] * batch, *t.shape[1:], generator=g) for t in model.example_inputs(1))
    with torch.no_grad():
        ref = model.eval()(*inputs)
    got = run_exported(path, fmt, inputs, input_names(model))
    worst = 0.0
    for name, arr in zip(ref.keys(), got):
        r = ref[name].numpy()
        worst = max(worst, float(np.abs(arr - r).max() / max(np.abs(r).max(), 1e-12)))
    return worst
