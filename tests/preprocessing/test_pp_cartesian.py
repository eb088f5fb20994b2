"""Cartesian voxels: the resampling operator and point targets landing in the right voxel across the FOV."""

import numpy as np
import pytest

from pp_synth import Target, encode_cascade, encode_dca, if_frame, small_params
from rfpose.boards import Board
from rfpose.preprocessing.cartesian import CartesianConfig, CartesianProcessor, resampling_operator
from rfpose.preprocessing.decode import decode_cascade_frames, decode_frames, rx_channel_order
from rfpose.preprocessing.polar import PolarConfig, PolarProcessor
from rfpose.radar_config import parse_cfg


def _voxel(cfg, pos):
    z, y, x = cfg.centres()
    return (int(np.argmin(abs(z - pos[2]))), int(np.argmin(abs(y - pos[1]))), int(np.argmin(abs(x - pos[0]))))


def test_default_grid_is_rtpose_roi():
    c = CartesianConfig()
    z, y, x = c.centres()
    assert (len(z), len(y), len(x)) == (16, 64, 160)
    assert x[0] == pytest.approx(0.77) and x[-1] == pytest.approx(7.98)
    assert y[0] == pytest.approx(-5.03) and y[-1] == pytest.approx(4.87)
    assert z[0] == pytest.approx(-1.09) and z[-1] == pytest.approx(4.35)
    assert x[1] - x[0] == pytest.approx(0.0453, abs=1e-4)  # RT-Pose: 11.6 / 256


def test_operator_interpolates_and_zeroes_outside_the_fov():
    cfg, p, b = small_params("mmwcas", loops=4)
    polar = PolarProcessor(p, b, PolarConfig(azimuth_fft=128, elevation_fft=16, range_crop=(0, 120)))
    grid = CartesianConfig(x_m=(0.5, 8.0), y_m=(-6, 6), z_m=(-2, 2), n_x=30, n_y=20, n_z=8)
    op = resampling_operator(polar.axes, grid)
    rows = np.asarray(op.sum(axis=1)).ravel().reshape(8, 20, 30)
    z, y, x = np.meshgrid(*grid.centres(), indexing="ij")
    r = np.sqrt(x * x + y * y + z * z)
    ax = polar.axes
    inside = ((r <= ax.range_m[-1]) & (ax.sin_az[0] <= y / r) & (y / r <= ax.sin_az[-1])
              & (ax.sin_el[0] <= z / r) & (z / r <= ax.sin_el[-1]))
    np.testing.assert_allclose(rows[inside], 1.0, atol=1e-5)  # trilinear weights sum to 1
    assert np.all(rows[~inside] == 0) and (~inside).sum() > 0  # beyond the cropped range: 0, not RT-Pose's 1
    assert op.getnnz(axis=1).max() == 8
    # a linear function of (r, sin_az, sin_el) is reproduced exactly by trilinear interpolation
    f = (ax.range_m[None, :, None] * 2 + 3 * ax.sin_az[None, None, :] + 0 * ax.sin_el[:, None, None])
    f = np.broadcast_to(f, (len(ax.sin_el), len(ax.range_m), len(ax.sin_az)))
    got = (op @ f.reshape(-1)).reshape(8, 20, 30)
    np.testing.assert_allclose(got[inside], (2 * r + 3 * y / r)[inside], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("pos", [(1.5, 0.3, 0.2), (3.0, -2.0, 1.0), (5.5, 2.5, -0.6), (7.2, -0.5, 2.5),
                                 (2.0, 3.2, 0.0), (4.0, -4.0, 3.0)])
def test_cascade_point_target_lands_in_its_voxel(pos):
    cfg, p, b = small_params("mmwcas", loops=8)
    x = decode_cascade_frames(encode_cascade(if_frame(p, b, [Target(pos, (0.2, 0, 0), 400.0)], noise=2.0)), p)
    proc = CartesianProcessor(p, b)
    vox = proc(x)
    assert vox.shape == (1, 4, 16, 64, 160) and vox.dtype == np.float32
    got = np.unravel_index(int(vox[0].max(axis=0).argmax()), vox.shape[2:])
    want = _voxel(proc.config, pos)
    assert all(abs(g - w) <= 1 for g, w in zip(got, want)), (got, want)


def test_complex_interpolation_agrees_and_complex_output():
    cfg, p, b = small_params("mmwcas", loops=8)
    pos = (3.0, 1.0, 0.5)
    x = decode_cascade_frames(encode_cascade(if_frame(p, b, [Target(pos, (0.2, 0, 0), 400.0)])), p)
    a = CartesianProcessor(p, b, CartesianConfig(interpolate="complex"))(x)[0]
    want = _voxel(CartesianConfig(), pos)
    got = np.unravel_index(int(a.max(axis=0).argmax()), a.shape[1:])
    assert all(abs(g - w) <= 1 for g, w in zip(got, want))
    c = CartesianProcessor(p, b, CartesianConfig(output="complex", n_x=20, n_y=8, n_z=4))(x)
    assert c.dtype == np.complex64 and c.shape == (1, 8, 4, 8, 20)


def test_awr1843_peak_range_and_azimuth():
    """Two elevation rows: elevation is coarse, so check the peak voxel's range and lateral direction."""
    cfg, p, b = small_params("awr1843boost", loops=16)
    pos = np.array([4.0, -1.5, 0.3])
    x = decode_frames(encode_dca(if_frame(p, b, [Target(tuple(pos), (0.3, 0, 0), 400.0)], noise=2.0), p), p)
    proc = CartesianProcessor(p, b)
    vox = proc(x)[0].max(axis=0)
    z, y, xx = proc.config.centres()
    iz, iy, ix = np.unravel_index(int(vox.argmax()), vox.shape)
    r = np.sqrt(xx[ix] ** 2 + y[iy] ** 2 + z[iz] ** 2)
    assert abs(r - np.linalg.norm(pos)) < 2 * 0.0453
    assert abs(y[iy] / r - pos[1] / np.linalg.norm(pos)) < 0.05


def test_single_elevation_row_board_is_flat_in_z():
    board = Board("ula2x4", "test: 2 TX x 4 RX, one row", ((0.0, 0.0), (4.0, 0.0)),
                  ((0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (3.0, 0.0)), lvds_lanes=2, capture="dca1000",
                  band_ghz=(76.0, 81.0), max_sample_rate_ksps=12500, frame_memory_bytes=None,
                  default_cfg_name="awr1843boost.cfg")
    text = board.default_cfg_text().replace("channelCfg 15 7 0", "channelCfg 15 3 0")
    text = text.replace("chirpCfg 2 2 0 0 0 0 0 4\n", "").replace("frameCfg 0 2 64", "frameCfg 0 1 16")
    p = parse_cfg(text).derive(board)
    assert rx_channel_order(p, board) == (0, 1, 2, 3)
    pos = (3.0, 1.0, 0.0)
    x = decode_frames(encode_dca(if_frame(p, board, [Target(pos, (0.2, 0, 0), 400.0)]), p), p)
    proc = CartesianProcessor(p, board, CartesianConfig(elevation_fft=1))
    assert proc.polar.output_shape[-1] == 1
    vox = proc(x)[0].max(axis=0)  # (z, y, x)
    iz, iy, ix = np.unravel_index(int(vox.argmax()), vox.shape)
    assert abs(iy - _voxel(proc.config, pos)[1]) <= 1
    # no elevation information: at the target's (y, x) column the energy is spread over z by range alone
    col = vox[:, iy, :].max(axis=1)
    assert (col > 0.3 * col.max()).sum() >= 4
