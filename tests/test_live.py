"""The live pipeline feeds the model what the dataset reader gives it in training: inputs rounded as the
dataset writer stores them, and the same temporal windows."""

import numpy as np
import torch

from rfpose.app.live import RecentFrames, round_like_dataset
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


def test_live_windows_equal_the_dataset_reader_windows():
    frames = [torch.full((1, 2, 1, 1, 1), float(k)) for k in range(5)]
    windows = session_windows(np.zeros(5, dtype=int), np.arange(5), 3, target=2)  # the reader's, frames=3
    recent = RecentFrames(3)
    for k, x in enumerate(frames):
        expect = torch.cat([frames[i] for i in windows[k]], dim=1)
        torch.testing.assert_close(recent.push(x), expect, rtol=0, atol=0)
    assert RecentFrames(1).push(frames[4]) is frames[4]


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
    with torch.inference_mode():
        for i, pair in enumerate([(0, 0), (0, 1), (1, 2)]):
            joints, _ = model.decode(model(torch.cat([voxels[k] for k in pair], dim=1)))
            np.testing.assert_allclose(got[i], joints[0].numpy(), rtol=0, atol=1e-5)
    assert not np.allclose(got[1], got[2])
