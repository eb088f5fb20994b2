"""rfpose.dataset: the one writer and reader round-trip every format; the config round-trips and is checked."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rfpose.dataset import (FLOAT16_MAX, DatasetReader, DatasetWriter, PreprocessConfig, SampleTable,
                            to_float16)
from rfpose.errors import ConfigError, FormatError, UnknownNameError


def _samples(n=5, sessions=(0, 0, 0, 1, 1)):
    rng = np.random.default_rng(0)
    session = np.asarray(sessions, np.int32)
    frame = np.array([0, 1, 2, 0, 1], np.int32)
    return SampleTable(joints=rng.normal(size=(n, 1, 15, 3)).astype(np.float32),
                       confidence=np.ones((n, 1, 15), np.float32), timestamp_ns=np.arange(n, dtype=np.int64),
                       session_index=session, frame_index=frame, subject=session.copy(),
                       split=np.array([0, 0, 0, 2, 2], np.uint8))


def _spec(shape):
    return {"tensor_format": "rtpose-dzyx-magnitude", "shape": list(shape), "dtype": "float16",
            "normalisation": "test", "skeleton": "rtpose15",
            "grid": {"voxel_size_m": [0.1, 0.2, 0.3], "roi_min_m": [-1.0, -2.0, 1.0]}}


def test_rtpose_round_trip_windows_and_cache(tmp_path):
    x = np.random.default_rng(1).random((5, 2, 3, 4, 6)).astype(np.float32) * 70_000
    w = DatasetWriter.create(tmp_path / "d.zarr", format="rtpose", input_spec=_spec(x.shape[1:]),
                             config={"test": True}, sessions=[{"path": "a"}, {"path": "b"}], samples=_samples())
    with pytest.raises(FormatError, match="incomplete"):
        DatasetReader(tmp_path / "d.zarr")
    with pytest.raises(FormatError, match=r"takes tensors \['x'\]"):
        w.write(0, 5, x_hori=to_float16(x))
    w.write(0, 5, x=to_float16(x))
    w.finish()
    r = DatasetReader(tmp_path / "d.zarr")
    assert len(r) == 5 and r.spec.grid.voxel_size_m == (0.1, 0.2, 0.3) and r.preprocess_config is None
    np.testing.assert_array_equal(r[2]["x"], np.minimum(x[2], FLOAT16_MAX).astype(np.float16))
    np.testing.assert_array_equal(r.indices("test"), [3, 4])
    # causal windows of 3: clamped at each session's start, never across sessions
    np.testing.assert_array_equal(r.windows(3, target=2), [[0, 0, 0], [0, 0, 1], [0, 1, 2], [3, 3, 3], [3, 3, 4]])
    block = r.read("x", [4, 3, 3])
    np.testing.assert_array_equal(block, r.root["x"][[4, 3, 3]])
    r.cache("x", [3, 4])
    DatasetWriter.open(tmp_path / "d.zarr").write(3, 4, x=np.zeros((1, 2, 3, 4, 6), np.float16))
    np.testing.assert_array_equal(r.read("x", [4, 3, 3]), block)  # the cache answers, not the store
    assert r.read("x", [0, 1]).shape == (2, 2, 3, 4, 6)  # rows outside the cache come from the store


def test_points_parts_are_gathered(tmp_path):
    w = DatasetWriter.create(tmp_path / "p.zarr", format="points", input_spec={"tensor_format": "points-xyzvs",
                             "shape": [None, 5]}, config={}, sessions=[], samples=_samples(), tasks=2)
    clouds = [np.full((k, 5), k, np.float32) for k in (2, 0, 1, 3, 1)]
    w.write_points(1, clouds[3:])
    w.mark_done(1)
    w.write_points(0, clouds[:3])
    w.mark_done(0)
    assert w.done().all()
    w.finish()
    r = DatasetReader(tmp_path / "p.zarr")
    for i, c in enumerate(clouds):
        np.testing.assert_array_equal(r[i]["points"], c)
    assert [len(p) for p in r.points([4, 0, 1])] == [1, 2, 0]
    assert "_parts" not in r.root


def test_resume_refuses_another_config_and_accepts_an_older_build_of_the_same(tmp_path):
    cfg = PreprocessConfig()
    doc = {"preprocess": cfg.to_dict(), "board": "b"}
    DatasetWriter.create(tmp_path / "d.zarr", format="rtpose", input_spec=_spec((1, 1, 1, 1)), config=doc,
                         sessions=[{"path": "s"}], samples=_samples(), tasks=1)
    older = {k: v for k, v in doc["preprocess"].items() if k not in ("clutter_removal", "doppler_pool")}
    import zarr

    zarr.open_group(str(tmp_path / "d.zarr"), mode="r+").attrs["config"] = {**doc, "preprocess": older}
    assert DatasetWriter.resume(tmp_path / "d.zarr", doc, ["s"]) is not None
    other = {**doc, "preprocess": PreprocessConfig(doppler_window="hann").to_dict()}
    with pytest.raises(ConfigError, match="different config"):
        DatasetWriter.resume(tmp_path / "d.zarr", other, ["s"])
    with pytest.raises(ConfigError, match="other sessions"):
        DatasetWriter.resume(tmp_path / "d.zarr", doc, ["s", "t"])


@settings(max_examples=40, deadline=None)
@given(fmt=st.sampled_from(["rtpose", "hupr", "points"]), window=st.sampled_from(["none", "hann", "blackman"]),
       pool=st.integers(1, 4), clutter=st.booleans(), lo=st.floats(-5, 5, allow_nan=False),
       span=st.floats(0.1, 5, allow_nan=False), n=st.tuples(*[st.integers(1, 64)] * 3),
       labels=st.text(min_size=1, max_size=8), val=st.lists(st.text(max_size=3), max_size=3))
def test_preprocess_config_round_trips(fmt, window, pool, clutter, lo, span, n, labels, val):
    cfg = PreprocessConfig(format=fmt, doppler_window=window, angle_window=window, doppler_pool=pool,
                           clutter_removal=clutter, grid_x_m=(lo, lo + span), grid_n_zyx=n, labels=labels,
                           val_subjects=tuple(val))
    back = PreprocessConfig.from_dict(cfg.to_dict())
    assert back == cfg and back.tensor_differences(cfg) == []
    assert [d[0] for d in cfg.tensor_differences(PreprocessConfig(format=fmt, labels="other"))] == [
        name for name in ("grid_x_m", "grid_n_zyx", "doppler_window", "angle_window", "clutter_removal",
                          "doppler_pool") if getattr(cfg, name) != getattr(PreprocessConfig(), name)]


def test_preprocess_config_rejects_bad_values():
    with pytest.raises(UnknownNameError, match="doppler window"):
        PreprocessConfig(doppler_window="kaiser")
    with pytest.raises(ConfigError, match="doppler_pool"):
        PreprocessConfig(doppler_pool=0)
    with pytest.raises(ConfigError, match="unknown fields"):
        PreprocessConfig.from_dict({"grid": 1})
