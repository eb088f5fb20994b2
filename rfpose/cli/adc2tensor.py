"""Turn a raw ADC capture into radar tensors.

  rfpose adc2tensor ADC.bin --cfg FILE.cfg --board NAME --out OUT.npy [--format polar|cartesian|hupr|points]
                    [--frames A:B]

ADC.bin is a headerless, frame-contiguous capture (``capture-adc`` output or mmWave Studio's
``adc_data.bin``); for the cascade (``--board mmwcas``) a directory or glob holding the four per-chip
``master/slave1/slave2/slave3 *_data.bin`` files.

Outputs (frame axis first):
  polar      (F, doppler, range, azimuth, elevation) complex64 (``--magnitude``: float32)
  cartesian  (F, doppler, z, y, x) float32, RT-Pose ROI by default
  hupr       (F, 16, 64, 64, 8) complex64
  points     OUT.npz with ``values`` (M, 5) float32 (x, y, z, v, snr) and ``offsets`` (F+1,) int64:
             frame i's points are values[offsets[i]:offsets[i+1]]

A JSON sidecar (OUT.json) records the axes, the configuration used, the shapes and the source.
A capture that is not a whole number of frames (truncated) is an error naming the left-over bytes;
``--allow-partial`` decodes the whole frames instead, with a warning.
"""

from __future__ import annotations

FORMATS = ("polar", "cartesian", "hupr", "points")
#: the dataset format whose chain each output format runs
DATASET_FORMAT = {"cartesian": "rtpose", "hupr": "hupr", "points": "points"}


def _frames(text: str | None) -> slice | None:
    if not text:
        return None
    from rfpose.errors import ConfigError

    try:
        parts = [int(p) if p.strip() else None for p in text.split(":")]
    except ValueError:
        raise ConfigError(f"--frames {text!r} must look like A:B (Python slice of frame indices)") from None
    if len(parts) == 1:
        return slice(parts[0], parts[0] + 1)
    if len(parts) > 3:
        raise ConfigError(f"--frames {text!r} must look like A:B or A:B:STEP")
    return slice(*parts)


def add_arguments(p) -> None:
    p.add_argument("adc", help="adc_data.bin (or, for the cascade, a directory / glob of the per-chip files)")
    p.add_argument("--cfg", required=True, help="the radar .cfg used for the capture")
    p.add_argument("--board", required=True, help="board preset (see 'rfpose cfg boards')")
    p.add_argument("--out", required=True, help="output .npy (.npz for points)")
    p.add_argument("--format", choices=FORMATS, default="polar")
    p.add_argument("--frames", help="frame selection A:B (Python slice)")
    p.add_argument("--batch", type=int, default=8, help="frames processed per batch")
    p.add_argument("--magnitude", action="store_true", help="polar: write |X| as float32")
    p.add_argument("--window", default="hann", help="range window: none, hann, hamming, blackman (polar)")
    p.add_argument("--doppler-window", default="none", help="polar, cartesian: window over the loops")
    p.add_argument("--angle-window", default="none", help="polar, cartesian: window over the virtual array")
    p.add_argument("--clutter-removal", action="store_true", help="polar, cartesian: remove static clutter (mean over loops)")
    p.add_argument("--azimuth-fft", type=int, default=None)
    p.add_argument("--elevation-fft", type=int, default=None)
    p.add_argument("--cfar", choices=("ca", "os"), default="ca", help="points: CFAR method")
    p.add_argument("--allow-partial", action="store_true",
                   help="decode the whole frames of a truncated capture (warning) instead of failing")


def build_processor(fmt: str, params, board, args=None):
    """The processor for a format, and the JSON-ready (config, axes). cartesian, hupr and points are the
    dataset formats' chains (``rfpose.preprocessing.factory``, as ``rfpose preprocess`` builds them) without
    the float16 storage; polar is the chain's first half."""
    from rfpose.dataset import PreprocessConfig
    from rfpose.preprocessing.factory import build_processor as dataset_processor
    from rfpose.preprocessing.polar import PolarConfig, PolarProcessor

    az = getattr(args, "azimuth_fft", None)
    el = getattr(args, "elevation_fft", None)
    windows = {"doppler_window": getattr(args, "doppler_window", "none"),
               "angle_window": getattr(args, "angle_window", "none")}
    clutter = getattr(args, "clutter_removal", False)
    if fmt == "polar":
        kw = {}
        if az:
            kw["azimuth_fft"] = az
        elif board.capture == "tda2":
            kw["azimuth_fft"] = 128
        if el:
            kw["elevation_fft"] = el
        proc = PolarProcessor(params, board, PolarConfig(
            range_window=getattr(args, "window", "hann"), clutter_removal=clutter,
            output="magnitude" if getattr(args, "magnitude", False) else "complex", **windows, **kw))
        return proc, proc.to_dict(), proc.axes.to_dict()
    if fmt not in DATASET_FORMAT:
        raise ValueError(fmt)
    config = PreprocessConfig(format=DATASET_FORMAT[fmt], cfar=getattr(args, "cfar", "ca"), clutter_removal=clutter,
                              **windows)
    chain_options = {k: v for k, v in (("azimuth_fft", az), ("elevation_fft", el)) if v} if fmt == "cartesian" else {}
    proc = dataset_processor(config, params, board, **chain_options).chain
    if fmt == "cartesian":
        return proc, proc.to_dict(), proc.axes_dict()
    if fmt == "hupr":
        return proc, proc.to_dict(), proc.axes.to_dict()
    return proc, proc.to_dict(), {"fields": ["x", "y", "z", "v", "snr"],
                                  "units": ["m", "m", "m", "m/s (positive = receding)", "dB"],
                                  "frame": "radar: x forward, y left, z up"}


def run(args) -> int:
    import json
    import logging
    from pathlib import Path

    import numpy as np
    from tqdm import tqdm

    from rfpose.boards import get_board
    from rfpose.errors import FormatError
    from rfpose.preprocessing.decode import count_frames, read_adc_bin
    from rfpose.radar_config import load_cfg

    log = logging.getLogger("rfpose.adc2tensor")
    board = get_board(args.board)
    cfg = load_cfg(args.cfg, board)
    params = cfg.derive(board)
    sel = _frames(args.frames)
    # validates the file and reports a truncated tail before any work
    first = read_adc_bin(args.adc, params, slice(0, 1), board=board, strict=not args.allow_partial)
    del first
    n_total = count_frames(args.adc, params, board)
    frames = list(range(n_total)[sel]) if sel is not None else list(range(n_total))
    if not frames:
        raise FormatError(f"{args.adc}: frame selection {args.frames} is empty ({n_total} frames)")
    proc, config, axes = build_processor(args.format, params, board, args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results = []
    groups = [frames[i:i + args.batch] for i in range(0, len(frames), args.batch)]
    for g in tqdm(groups, desc=f"adc2tensor {args.format}", unit="batch", disable=len(groups) < 2):
        step = g[1] - g[0] if len(g) > 1 else 1
        x = read_adc_bin(args.adc, params, slice(g[0], g[-1] + 1, step), board=board)
        if args.format == "points":
            results.extend(proc(f) for f in x)
        else:
            results.append(proc(x))
    if args.format == "points":
        offsets = np.zeros(len(results) + 1, np.int64)
        offsets[1:] = np.cumsum([len(r) for r in results])
        values = np.concatenate(results) if results else np.zeros((0, 5), np.float32)
        if out.suffix != ".npz":
            out = out.with_suffix(".npz")
        np.savez(out, values=values, offsets=offsets)
        shapes = {"values": list(values.shape), "offsets": list(offsets.shape)}
        dtype = "float32"
    else:
        arr = np.concatenate(results)
        np.save(out, arr)
        shapes = {"tensor": list(arr.shape)}
        dtype = str(arr.dtype)
    sidecar = {
        "format": args.format, "source": str(args.adc), "cfg": str(args.cfg), "board": board.name,
        "frames": frames if len(frames) <= 64 else {"first": frames[0], "last": frames[-1], "count": len(frames)},
        "frames_in_file": n_total, "dtype": dtype, "shapes": shapes, "axes": axes, "config": config,
        "radar": params.summary(), "output": str(out),
    }
    out.with_suffix(".json").write_text(json.dumps(sidecar, indent=1))
    log.info("wrote %s (%s) and %s", out, shapes, out.with_suffix(".json"))
    return 0
