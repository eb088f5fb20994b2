"""The live pipeline feeds the model what the dataset reader gives it in training: inputs rounded as the
dataset writer stores them, and the same temporal windows."""

import numpy as np
import pytest
import torch

from rfpose.app.live import FramePairer, FrameWindows, StackedWindows, round_like_dataset
from rfpose.errors import ConfigError
from rfpose.models.data import session_windows
from rfpose.preprocessing.dataset import FLOAT16_MAX


def test_live_rounding_equals_the_dataset_float16_storage():
    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.random(10_000, dtype=np.float32) * 70_000,  # up to above float16's maximum
        np.float32([0.0, 1e-8, 6e-5, 2049.0, 2051.0, 65519.0, 65520.0, 1e9]),  # subnormal, ties, overflow
    ]).reshape(1, 1, -1)
    dataset = np.minimum(x, FLOAT16_MAX).astype(np.float16).astype(np.float32)  # preprocessing.dataset
    live = round_like_dataset(x.copy()).numpy()
    np.testing.assert_array_equal(live, dataset)
    assert live.max() == FLOAT16_MAX and live.dtype == np.float32


@pytest.mark.parametrize("frames,target", [(3, 2), (1, 0), (8, 4), (4, 1), (5, 2)])
def test_live_windows_equal_the_dataset_reader_windows(frames, target):
    """Causal (target last) and HuPR-style (target T//2, future frames) windows over a 6-frame stream, then
    flushed: the same frames, in the same order, as the dataset reader's windows over a 6-frame session."""
    n = 6
    reader = session_windows(np.zeros(n, dtype=int), np.arange(n), frames, target=target)
    win = FrameWindows(frames, target)
    got = []
    for k in range(n):
        ready = win.push(k)
        assert len(ready) == (1 if k >= win.lag else 0)
        got += ready
    got += win.flush()
    assert [k for k, _ in got] == list(range(n))
    for k, w in got:
        assert w == list(reader[k])
    assert win.push("next") == ([(0, ["next"] * frames)] if win.lag == 0 else [])  # a new stream starts clamped


@pytest.mark.parametrize("frames", [1, 2, 3])
@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last_3d])
def test_stacked_windows_equal_the_concatenated_causal_windows(frames, fmt):
    """Frames written in place into their own window (every slot at a stream's start, the newest after) and
    copied into the later windows in the background give, frame after frame, the windows FrameWindows forms
    (the first frame repeated at a stream's start, after a reset too), concatenated on the channel axis
    oldest first, as the hrradarpose family's live_inputs does."""
    C, shape = 2, (2, 3, 4, 5)
    st = StackedWindows(frames, shape, fmt)
    ref = FrameWindows(frames, frames - 1)
    for n in (5, 3):  # two streams
        for i in range(n):
            value = np.full(shape, float(i + 1), np.float32)
            dests = st.destinations()
            assert len(dests) == (frames if i == 0 else 1)
            for dest in dests:
                assert dest.shape == shape
                dest[...] = value
            k, x = st.push()
            (kr, window), = ref.push(value)
            assert k == kr == i and x.shape == (1, frames * C, *shape[1:]) and x.is_contiguous(memory_format=fmt)
            np.testing.assert_array_equal(x[0].numpy(), np.concatenate(window, axis=0))
        st.reset()
        ref.flush()


def test_frame_pairer_pairs_by_time_and_drops_unpartnered():
    from types import SimpleNamespace as F

    pairer = FramePairer(2, period_ns=100)
    out = []
    # the vertical radar runs 12 ns late and its frame near 100 was lost; a stray one at 340 has no partner
    hori = [F(timestamp_ns=t, name=f"h{t}") for t in (0, 100, 200, 300, 400, 500)]
    vert = [F(timestamp_ns=t, name=f"v{t}") for t in (12, 212, 312, 340, 412, 512)]
    for h, v in zip(hori, vert):
        out += pairer.push(0, h)
        out += pairer.push(1, v)
    assert [(a.name, b.name) for a, b in out] == [("h0", "v12"), ("h200", "v212"), ("h300", "v312"),
                                                    ("h400", "v412"), ("h500", "v512")]
    assert pairer.dropped == [1, 1]


def test_pipeline_feeds_a_two_frame_model_the_previous_frame(tmp_path):
    """End to end on simulated AWR1843 frames: the pipeline's poses equal the model run on the two most
    recent voxel tensors computed independently (the first frame doubled)."""
    import json

    from rfpose.boards import get_board
    from rfpose.app.live import RadarPosePipeline
    from rfpose.models import create_model
    from rfpose.preprocessing.cartesian import CartesianProcessor
    from rfpose.preprocessing.decode import decode_radar_words
    from rfpose.radar_config import parse_cfg
    from rfpose.sim.scenarios import build_rig

    radar = build_rig("walk", seed=2, num_frames=3, board="awr1843boost", camera=False, lidar=False).radar
    meta = radar.metadata
    board = get_board(meta["board"])
    params = parse_cfg(meta["cfg_text"], "<cfg>").derive(board)
    processor = CartesianProcessor(params, board, workers=2)
    voxels = [round_like_dataset(processor(decode_radar_words(radar[i].adc, params, board))) for i in range(3)]

    overrides = {"input_shape": list(processor.output_shape), "frames": 2}
    model = create_model("hrradarpose-lite", **overrides).eval()
    (tmp_path / "config.json").write_text(json.dumps({"model": {"name": "hrradarpose-lite", "overrides": overrides}}))
    torch.save({"model": model.state_dict()}, tmp_path / "best.pt")

    pipe = RadarPosePipeline(tmp_path, meta["board"], meta["cfg_text"], threads=2)
    got = [pipe(radar[i].adc).joints for i in range(3)]
    assert pipe.latency_frames == 0 and pipe.flush() == []
    with torch.inference_mode():
        for i, pair in enumerate([(0, 0), (0, 1), (1, 2)]):
            joints, _ = model.decode(model(torch.cat([voxels[k] for k in pair], dim=1)))
            np.testing.assert_allclose(got[i], joints[0].numpy(), rtol=0, atol=1e-5)
    assert not np.allclose(got[1], got[2])


@pytest.mark.parametrize("preset_name", ["sim-bench-hupr-v1", "sim-bench-hupr-v2"])
def test_two_radar_hupr_run_live_inputs_equal_the_dataset_tensors(tmp_path, preset_name):
    """A HuPR-family run on two simulated radars (sim-bench-hupr-v1's rig and chirp): frames of the session's
    horizontal and vertical streams paired by time, preprocessing rebuilt from the run's config; every window
    the pipeline feeds the model equals the dataset reader's stored tensors, and so do the poses. v2 stores the
    maps averaged over elevation: the live pipeline does the same."""
    import json
    from types import SimpleNamespace

    from rfpose.app.live import RadarPosePipeline
    from rfpose.app.sim_datasets import get_preset, reduced_cfg
    from rfpose.dataset import DatasetReader
    from rfpose.models import create_model
    from rfpose.models.families import get_family
    from rfpose.preprocessing.dataset import build_dataset
    from rfpose.session import SessionReader

    preset = get_preset(preset_name)
    session = str(tmp_path / "s.zarr")
    from dataclasses import replace

    replace(preset, frames_per_session=6).simulate_session(
        session, "walk", 3, reduced_cfg(preset.board, preset.adc_samples, preset.loops), "clean", 0)
    cfg = replace(preset.preprocess_config({4: "a", 5: "b", 6: "c"}), val_subjects=(), test_subjects=())
    build_dataset([session], str(tmp_path / "d.zarr"), cfg, progress=False)
    reader = DatasetReader(tmp_path / "d.zarr")
    assert list(reader.frame_index) == list(range(6)) and reader.spec.skeleton == "hupr14"

    family = get_family("hupr")
    overrides = {**family.overrides_for_data(reader.spec), "frames": 4}  # 4 frames: target 2, one frame ahead
    model = create_model("hupr-lite", **overrides).eval()
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": {"name": "hupr-lite", "overrides": overrides},
                                                 "preprocess": reader.preprocess_config.to_dict(),
                                                 "radar": reader.radar}))
    torch.save({"model": model.state_dict()}, run / "best.pt")

    r = SessionReader(session)
    streams = [r.stream("radar_hori"), r.stream("radar_vert")]
    meta = streams[0].metadata
    pipe = RadarPosePipeline(run, meta["board"], meta["cfg_text"], threads=2)
    assert pipe.radars == 2 and pipe.latency_frames == 1
    pairer = FramePairer(2, period_ns=pipe.params.frame_period_s * 1e9)
    results = []
    for i in range(6):  # the two radars' frames arrive interleaved, each with its own clock
        for v, s in enumerate(streams):
            frame = SimpleNamespace(timestamp_ns=int(s.timestamps_ns[i]), adc=s.read_block(i, i + 1)[0])
            for pair in pairer.push(v, frame):
                got = pipe(*(f.adc for f in pair))
                results += [got] if got is not None else []
    results += pipe.flush()
    assert pairer.dropped == [0, 0] and [p.frame for p in results] == list(range(6))

    windows = family.windows(reader, model)
    doppler = slice(*model.spec.extra["doppler_bins"])
    with torch.inference_mode():
        for p in results:
            stored = tuple(torch.from_numpy(reader.read(a, windows[p.frame], doppler)).float()[None]
                           for a in family.input_arrays)
            joints, scores = model.decode(model(*stored))
            np.testing.assert_allclose(p.joints, joints[0].numpy(), rtol=0, atol=1e-3)
            assert p.joints.shape == (1, 14, 2)

    # the inputs themselves: one more pass, comparing what the pipeline would feed
    pipe2 = RadarPosePipeline(run, meta["board"], meta["cfg_text"], threads=2)
    fed = [pipe2.prepare(*(s.read_block(i, i + 1)[0] for s in streams)) for i in range(6)]
    assert fed[0] is None
    for k, inputs in enumerate(fed[1:]):
        for a, x in zip(family.input_arrays, inputs):
            stored = reader.read(a, windows[k], doppler).astype(np.float32)[None]
            np.testing.assert_array_equal(x.numpy(), stored)
    with pytest.raises(ConfigError, match="2 radar frame"):
        pipe2(streams[0].read_block(0, 1)[0])
