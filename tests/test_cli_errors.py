"""Bad invocations through the real ``main()`` (issue 20): each one exits 2 (a refused overwrite too)
with exactly one line on stderr and no traceback, before doing any work."""

from __future__ import annotations

import json
import socket

import pytest

from rfpose.cli import main


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    (d / "afile").write_text("x")
    (d / "adir").mkdir()
    (d / "adc.bin").write_bytes(bytes(64))
    (d / "exists.bin").write_bytes(b"old")
    (d / "fresh.json").write_text("{}")
    (d / "out.npy").write_bytes(b"old")
    (d / "data.json").write_text("{}")       # unrelated file beside the output data.npy
    (d / "run").mkdir()
    (d / "run" / "config.json").write_text("{}")
    (d / "model.onnx").write_bytes(b"old")
    (d / "eval.json").write_text("{}")
    (d / "rig.toml").write_text("[[sensors]]\nname = ['a']\nkind = 'radar'\nboard = 'awr1843boost'\n")
    cfg = (d.parent / "tiny.cfg")
    from rfpose.boards import get_board

    text = get_board("awr1843boost").default_config().to_text()
    lines = [ln for ln in text.splitlines()]
    for i, ln in enumerate(lines):
        if ln.startswith("profileCfg"):
            w = ln.split()
            w[8] = "5e-324"
            lines[i] = " ".join(w)
    (d / "tiny.cfg").write_text("\n".join(lines) + "\n")
    (d / "good.cfg").write_text(text)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return d, port


CAP = ["capture-adc", "--board", "awr1843boost", "--frames", "2"]
A2T = ["adc2tensor", "{d}/adc.bin", "--board", "awr1843boost", "--cfg", "{d}/good.cfg"]

BAD = [
    # (argv, what the one line must say)
    (CAP + ["--out", "{d}/afile/x.bin"], "afile is a file"),
    (CAP + ["--out", "{d}/adir"], "is a directory"),
    (CAP + ["--out", "{d}/exists.bin"], "already exists"),
    (CAP + ["--out", "{d}/fresh.bin"], "fresh.json already exists"),       # its sidecar would be replaced
    (["capture-adc", "--board", "awr1843boost", "--frames", "0", "--out", "{d}/n.bin"], "--frames: 0 is outside"),
    (CAP + ["--out", "{d}/n.bin", "--packet-delay-us", "1"], "--packet-delay-us: 1 is outside"),
    (CAP + ["--out", "{d}/n.bin", "--fpga-ip", "300.1.2.3"], "not an IPv4 address"),
    (CAP + ["--out", "{d}/n.bin", "--host-ip", "localhost"], "not an IPv4 address"),
    (A2T + ["--out", "{d}/out.npy"], "out.npy already exists"),
    (A2T + ["--out", "{d}/data.npy"], "data.json already exists"),
    (A2T + ["--out", "{d}/t.npy", "--frames", "0:2:0"], "STEP must be at least 1"),
    (A2T + ["--out", "{d}/t.npy", "--batch", "0"], "--batch: 0 is outside"),
    (A2T + ["--out", "{d}/t.npy", "--batch", "-1"], "--batch: -1 is outside"),
    (["adc2tensor", "{d}/adc.bin", "--board", "awr1843boost", "--cfg", "{d}/adir", "--out", "{d}/t.npy"],
     "is a directory, expected a file"),
    (["adc2tensor", "{d}/adc.bin", "--board", "awr1843boost", "--cfg", "{d}/good.cfg", "--out", "{d}/afile/t.npy"],
     "afile is a file"),
    (["train", "--model", "hupr", "--data", "{d}/adir", "--out", "{d}/r", "--epochs", "-1"], "--epochs: -1 is outside"),
    (["train", "--model", "hupr", "--data", "{d}/adir", "--out", "{d}/r", "--device", "cuda"], "no CUDA device"),
    (["train", "--model", "hupr", "--data", "{d}/adir", "--out", "{d}/r", "--device", "gpu7"], "not a torch device"),
    (["train", "--model", "hupr", "--data", "{d}/adir", "--out", "{d}/run"], "already holds files"),
    (["train", "--model", "hupr", "--data", "{d}/adir", "--out", "{d}/afile"], "is a file, expected a directory"),
    (["export", "{d}/run", "--format", "onnx", "--out", "{d}/model.onnx"], "model.onnx already exists"),
    (["evaluate", "{d}/run", "--data", "{d}/adir", "--out", "{d}/eval.json"], "eval.json already exists"),
    (["evaluate", "{d}/run", "--data", "{d}/adir", "--batch-size", "0"], "--batch-size: 0 is outside"),
    (["emulate", "dca1000", "--loss-rate", "2"], "--loss-rate: 2 is outside"),
    (["emulate", "dca1000", "--fpga-ip", "1.2.3"], "not an IPv4 address"),
    (["emulate", "uart", "--corrupt-rate", "nan"], "not a finite number"),
    (["simulate-dataset", "--out", "{d}/sd", "--subjects", "0"], "--subjects: 0 is outside"),
    (["simulate-dataset", "--out", "{d}/sd", "--subjects", "-1"], "--subjects: -1 is outside"),
    (["simulate-dataset", "--out", "{d}/sd", "--train-takes", "3"], "--train-takes 3: preset sim-bench-v1 has 2"),
    (["simulate-dataset", "--out", "{d}/sd", "--scheduler", "tcp://127.0.0.1:{port}"], "no dask scheduler reachable"),
    (["simulate-dataset", "--out", "{d}/sd", "--scheduler", "tcp://nowhere"], "not synchronous, local or"),
    (["preprocess", "{d}/adir", "--out", "{d}/ds.zarr", "--scheduler", "127.0.0.1:{port}"], "no dask scheduler"),
    (["preprocess", "{d}/adir", "--out", "{d}/ds.zarr", "--val-fraction", "1.5"], "--val-fraction: 1.5 is outside"),
    (["preprocess", "{d}/adir", "--out", "{d}/ds.zarr", "--format", "hupr", "--hupr-doppler-bins", "3"],
     "hupr_doppler_bins must be an even integer"),
    (["simulate", "--frames", "0"], "--frames: 0 is outside"),
    (["simulate", "--out", "{d}/afile/s.zarr", "--frames", "1"], "afile"),
    (["record", "--rig", "{d}/rig.toml", "--out", "{d}/s.zarr"], "must be a string"),
    (["record", "--rig", "{d}/adir", "--out", "{d}/s.zarr"], "no such rig file"),
    (["record", "--rig", "{d}/rig.toml", "--out", "{d}/s.zarr", "--duration", "-3"], "--duration: -3 is outside"),
    (["cfg", "show", "{d}/tiny.cfg", "--board", "awr1843boost", "--json"], "below one step"),
    (["cfg", "show", "{d}/adir"], "adir"),
    (["bench", "calibration", "--seeds", "0,x"], "--seeds: 'x' is not a whole number"),
    (["bench", "capture", "--delays-us", "25,2"], "--delays-us: 2 is outside [5, 500]"),
    (["simulate-dataset", "--out", "{d}/x", "--held-out", "train:3"], "expected val:SEEDS or test:SEEDS"),
    (["simulate-dataset", "--out", "{d}/x", "--held-out", "val:9,9"], "a seed repeats"),
    (["bench", "capture", "--delays-us", ","], "--delays-us: ',' holds no value"),
]


@pytest.mark.parametrize("argv, says", BAD, ids=[" ".join(a[:2]) + f" #{i}" for i, (a, _) in enumerate(BAD)])
def test_bad_invocation_is_one_line_and_exit_2(place, capsys, argv, says):
    d, port = place
    argv = [a.format(d=d, port=port) for a in argv]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own refusal
        code = e.code
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith(f"rfpose {argv[0]}") and says in lines[0], lines[0]


def test_force_replaces_what_a_refusal_protects(place, tmp_path, capsys):
    """--force (or --overwrite) is the way to replace an existing output: capture-adc with --emulate."""
    out = tmp_path / "adc.bin"
    out.write_bytes(b"old")
    argv = ["capture-adc", "--board", "awr1843boost", "--frames", "1", "--out", str(out), "--emulate",
            "--host-ip", "127.0.61.1", "--fpga-ip", "127.0.61.2"]
    assert main(argv) == 2 and out.read_bytes() == b"old"
    assert main(argv + ["--force"]) == 0
    assert out.stat().st_size > 3 and json.loads(out.with_suffix(".json").read_text())["num_frames"] == 1


def test_cfg_json_never_prints_infinity(place, capsys):
    d, _ = place
    assert main(["cfg", "show", str(d / "good.cfg"), "--json"]) == 0
    text = capsys.readouterr().out
    assert "Infinity" not in text and "NaN" not in text and json.loads(text)
