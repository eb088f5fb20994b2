"""Test-local point-target IF generator and DCA1000 / TDA2 layout encoders, written independently of
rfpose.preprocessing.decode (explicit strided writes rather than reshapes) so decode tests are not circular."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rfpose.radar_config import SPEED_OF_LIGHT_M_S as C

CASCADE_MIMO = (13, 14, 15, 16, 1, 2, 3, 4, 9, 10, 11, 12, 5, 6, 7, 8)


@dataclass
class Target:
    position_m: tuple[float, float, float]
    velocity_mps: tuple[float, float, float] = (0.0, 0.0, 0.0)
    amplitude: float = 1000.0


def rx_physical(params, board):
    return [c - 1 for c in CASCADE_MIMO] if board.capture == "tda2" else list(params.rx_channels)


def if_frame(params, board, targets, frame_index=0, noise=0.0, seed=0, real=False):
    """Complex IF samples (loop, tx, rx, sample), each TX slot at its own chirp time, exact round trips."""
    L, T, R, N = params.frame_shape
    lam0 = params.wavelength_m
    tx = board.tx_array()[list(params.tx_order)] * lam0 / 2  # (T, 2) az->y, el->z
    rx = board.rx_array()[rx_physical(params, board)] * lam0 / 2
    tx3 = np.stack([np.zeros(T), tx[:, 0], tx[:, 1]], -1)
    rx3 = np.stack([np.zeros(R), rx[:, 0], rx[:, 1]], -1)
    f0 = params.start_frequency_hz + params.slope_hz_per_s * params.adc_start_time_s
    n = np.arange(N)
    chirp_t = (np.arange(L)[:, None] * T + np.arange(T)[None, :]) * params.chirp_time_s  # (L, T)
    chirp_t = chirp_t + frame_index * params.frame_period_s
    out = np.zeros((L, T, R, N), np.complex128)
    for tg in targets:
        p = np.asarray(tg.position_m)[None, None, :] + np.asarray(tg.velocity_mps)[None, None, :] * chirp_t[..., None]
        d_tx = np.linalg.norm(p[:, :, None, :] - tx3[None, :, None, :], axis=-1)  # (L, T, 1)
        d_rx = np.linalg.norm(p[:, :, None, :] - rx3[None, None, :, :], axis=-1)  # (L, T, R)
        tau = (d_tx + d_rx) / C
        ph = 2 * np.pi * (params.slope_hz_per_s * tau[..., None] * n / params.sample_rate_hz + f0 * tau[..., None])
        out += tg.amplitude * np.exp(1j * ph)
    if noise:
        rng = np.random.default_rng(seed)
        out += noise * (rng.standard_normal(out.shape) + 1j * rng.standard_normal(out.shape))
    if real:
        out = out.real + 0j
    return out


def quantise(x):
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def encode_dca(cube, params):
    """(loop, tx, rx, sample) complex → int16 words as the DCA1000 writes them for params.layout."""
    L, T, R, N = cube.shape
    lay = params.layout
    I, Q = quantise(cube.real), quantise(cube.imag)
    chirps_I = I.reshape(L * T, R, N)
    chirps_Q = Q.reshape(L * T, R, N)
    if lay.complex:
        out = np.empty((L * T, R * N * 2), np.int16)
        first, second = (chirps_Q, chirps_I) if lay.q_first else (chirps_I, chirps_Q)
        if lay.lanes == 2:
            for r in range(R):
                blk = out[:, r * 2 * N:(r + 1) * 2 * N]
                blk[:, 0::4] = first[:, r, 0::2]
                blk[:, 1::4] = first[:, r, 1::2]
                blk[:, 2::4] = second[:, r, 0::2]
                blk[:, 3::4] = second[:, r, 1::2]
        else:
            for r in range(R):
                out[:, r::2 * R] = first[:, r, :]
                out[:, R + r::2 * R] = second[:, r, :]
    else:
        out = np.empty((L * T, R * N), np.int16)
        if lay.lanes == 2:
            for r in range(R):
                out[:, r * N:(r + 1) * N] = chirps_I[:, r]
        else:
            for r in range(R):
                out[:, r::R] = chirps_I[:, r, :]
    return out.reshape(-1)


def encode_cascade(cube):
    """(loop, tx, rx16 in MIMO order, sample) complex → (4 chips, words) TDA2 per-chip streams."""
    L, T, R, N = cube.shape
    I, Q = quantise(cube.real), quantise(cube.imag)
    chips = np.zeros((4, L * T * N * 4 * 2), np.int16)
    for i, phys1 in enumerate(CASCADE_MIMO):
        p = phys1 - 1
        chip, k = divmod(p, 4)
        # complex index = k + 4·(n + N·(chirp + T·loop)); I at 2·idx, Q at 2·idx+1
        idx = k + 4 * (np.arange(N)[None, None, :] + N * (np.arange(T)[None, :, None] + T * np.arange(L)[:, None, None]))
        chips[chip, 2 * idx] = I[:, :, i, :]
        chips[chip, 2 * idx + 1] = Q[:, :, i, :]
    return chips


def small_params(board_name, loops=None, samples=None, **changes):
    """A board's default params, optionally with fewer loops/samples (edits the .cfg text)."""
    from rfpose.boards import get_board
    from rfpose.radar_config import parse_cfg

    b = get_board(board_name)
    text = b.default_cfg_text()
    lines = []
    for ln in text.splitlines():
        tok = ln.split()
        if tok and tok[0] == "frameCfg" and loops:
            tok[3] = str(loops)
        if tok and tok[0] == "profileCfg" and samples:
            tok[10] = str(samples)
        if tok and tok[0] == "adcbufCfg" and "sample_swap" in changes:
            tok[3] = str(changes["sample_swap"])
        if tok and tok[0] == "adcbufCfg" and changes.get("real"):
            tok[2] = "1"
        if tok and tok[0] == "adcCfg" and changes.get("real"):
            tok[2] = "0"
        lines.append(" ".join(tok) if tok else ln)
    cfg = parse_cfg("\n".join(lines), f"<{board_name}>")
    return cfg, cfg.derive(b), b


def write_session(path, board_name="awr1843boost", n_frames=6, subject="1", loops=16, streams=("radar",),
                  target=(2.5, 0.5, 0.3), camera=True, label_every=1, seed=0):
    """A tiny real session (rfpose.session) with point-target radar frames and 'gt' labels at the target."""
    from rfpose.session import SessionWriter
    from rfpose.source import RadarFrame

    cfg, params, board = small_params(board_name, loops=loops)
    period_ns = int(params.frame_period_s * 1e9)
    with SessionWriter(path, attrs={"subject": subject, "action": "walk", "scene": "lab"}) as w:
        for s in streams:
            w.add_radar_stream(s, board_name, cfg_text=cfg.to_text())
        if camera:
            w.add_camera_stream("cam", 48, 64, [[50, 0, 32], [0, 50, 24], [0, 0, 1]],
                                extrinsics=[[0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]])  # T_rig_cam
        w.add_labels("gt", "rtpose15", dims=3, max_people=1)
        for i in range(n_frames):
            pos = (target[0] + 0.05 * i, target[1], target[2])
            cube = if_frame(params, board, [Target(pos, (0.5, 0, 0), 300.0)], frame_index=i, noise=3.0, seed=seed + i)
            words = encode_cascade(cube) if board.capture == "tda2" else encode_dca(cube, params)
            for s in streams:
                w.append(s, RadarFrame(index=i, timestamp_ns=1_000_000_000 + i * period_ns, adc=words))
            if i % label_every == 0:
                joints = np.tile(np.asarray(pos, np.float32), (1, 15, 1))
                w.append_labels("gt", 1_000_000_000 + i * period_ns + 1000, joints, frame_index=i)
    return params, board
