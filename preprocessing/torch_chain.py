"""The decode → polar → Cartesian chain in torch (batched, CPU or GPU), for the live monitor.

It reuses the precomputed tables of the numpy processors (windows, Doppler shift index, TDM/duplicate
gains, virtual-grid indices, the sparse resampling operator), so both paths compute the same thing;
``tests/preprocessing`` checks they agree within float32 tolerance.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from rfpose.boards import Board
from rfpose.errors import ShapeError
from rfpose.radar_config import RadarParams

from rfpose.preprocessing.cartesian import CartesianConfig, CartesianProcessor
from rfpose.preprocessing.decode import CASCADE_RX_MIMO_ORDER, words_per_frame
from rfpose.preprocessing.polar import PolarConfig, PolarProcessor


def decode_torch(words: torch.Tensor, params: RadarParams, board: Board) -> torch.Tensor:
    """int16 words ``(F, W)`` (DCA1000) or ``(F, 4, W)`` (cascade) → complex64 ``(F, L, T, R, N)``."""
    L, T, R, N = params.frame_shape
    w = words.to(torch.float32)
    F = w.shape[0]
    if board.capture == "tda2":
        g = w.reshape(F, 4, L, T, N, 4, 2)
        phys = torch.as_tensor(np.asarray(CASCADE_RX_MIMO_ORDER) - 1)
        sel = g[:, phys // 4, :, :, :, phys % 4, :]  # advanced dims first: (16, F, L, T, N, 2)
        return torch.complex(sel[..., 0], sel[..., 1]).permute(1, 2, 3, 0, 4).contiguous()
    if w.shape[-1] != words_per_frame(params):
        raise ShapeError(f"expected {words_per_frame(params)} words per frame, got {w.shape[-1]}")
    lay = params.layout
    if not lay.complex:
        re = w.reshape(F, L, T, N, R).transpose(3, 4) if lay.interleaved else w.reshape(F, L, T, R, N)
        return torch.complex(re, torch.zeros_like(re))
    if lay.interleaved:
        g = w.reshape(F, L, T, N, 2, R)
        a, b = g[..., 0, :].transpose(3, 4), g[..., 1, :].transpose(3, 4)
    else:
        g = w.reshape(F, L, T, R, N // 2, 2, 2)
        a, b = g[..., 0, :].reshape(F, L, T, R, N), g[..., 1, :].reshape(F, L, T, R, N)
    i, q = (b, a) if lay.q_first else (a, b)
    return torch.complex(i.contiguous(), q.contiguous())


class TorchPolar(torch.nn.Module):
    """Torch twin of :class:`PolarProcessor` (same tables)."""

    def __init__(self, proc: PolarProcessor):
        super().__init__()
        self.proc = proc
        g = proc.grid
        self.register_buffer("window", torch.as_tensor(proc.window))
        self.register_buffer("doppler_taper", torch.as_tensor(proc.doppler_taper).reshape(1, -1, 1, 1, 1))
        self.register_buffer("shift_index", torch.as_tensor(proc.shift_index))
        self.register_buffer("gain", torch.as_tensor(proc.channel_gain))
        self.register_buffer("az", torch.as_tensor(g.az_index))
        self.register_buffer("el", torch.as_tensor(g.el_index))
        self.groups = [torch.as_tensor(v) for v in g.rank_groups]

    def range_doppler(self, x: torch.Tensor) -> torch.Tensor:
        p, cfg = self.proc, self.proc.config
        if cfg.dc_removal:
            x = x - x.mean(dim=-1, keepdim=True)
        if cfg.range_window != "none":
            x = x * self.window
        if cfg.doppler_window != "none":
            x = x * self.doppler_taper
        rng = torch.fft.fft(x, n=p.n_range_fft, dim=-1)[..., p.r0:p.r1]
        if cfg.clutter_removal:  # project out the static component (the taper along the loops)
            w = self.doppler_taper
            rng = rng - (rng * w).sum(dim=1, keepdim=True) / (w * w).sum() * w
        dop = torch.fft.fft(rng, n=p.n_doppler, dim=1)[:, self.shift_index]
        F, D, T, R, Nr = dop.shape
        return dop * self.gain.reshape(1, D, T, R, 1)

    def angle(self, rd: torch.Tensor, layout: str = "drae") -> torch.Tensor:
        cfg = self.proc.config
        F, D, T, R, Nr = rd.shape
        A, E = cfg.azimuth_fft, cfg.elevation_fft
        src = rd.reshape(F, D, T * R, Nr)
        if layout == "drae":
            buf = torch.zeros((F, D, Nr, A, E), dtype=torch.complex64, device=rd.device)
            vals, dims = src.permute(0, 1, 3, 2), (3, 4)
            for v in self.groups:
                buf[:, :, :, self.az[v], self.el[v]] += vals[..., v]
        else:
            buf = torch.zeros((F, Nr, A, E, D), dtype=torch.complex64, device=rd.device)
            vals, dims = src.permute(0, 3, 2, 1), (2, 3)
            for v in self.groups:
                buf[:, :, self.az[v], self.el[v], :] += vals[:, :, v, :]
        if E == 1:
            dims = dims[:1]
        return torch.fft.ifftn(buf, dim=dims, norm="forward")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.angle(self.range_doppler(x))
        return out.abs() if self.proc.config.output == "magnitude" else out


class TorchCartesian(torch.nn.Module):
    """Torch twin of :class:`CartesianProcessor`: complex frames → voxels ``(F, D', z, y, x)``."""

    def __init__(self, proc: CartesianProcessor):
        super().__init__()
        self.proc = proc
        c = proc.config
        self.polar = TorchPolar(proc.polar)
        op = proc.operator.tocsr()
        with warnings.catch_warnings():  # torch's "sparse CSR is beta" notices
            warnings.simplefilter("ignore", UserWarning)
            csr = torch.sparse_csr_tensor(
                torch.as_tensor(op.indptr, dtype=torch.int64), torch.as_tensor(op.indices, dtype=torch.int64),
                torch.as_tensor(op.data, dtype=torch.float32), size=op.shape)
        self.register_buffer("op", csr)
        # the numpy processor's compacted plan (magnitude-first output): only the (el, range, az) bins some voxel
        # reads, elevation by small GEMMs per block of pairs, resampling by the compacted, pre-scaled operator
        self.compact = c.output == "magnitude" and c.interpolate == "magnitude"
        if self.compact:
            g = proc.polar.grid
            occ = np.unique(g.el_index)
            self.register_buffer("row_of", torch.as_tensor(np.searchsorted(occ, g.el_index)))
            self.n_rows = len(occ)
            self.blocks = [(torch.as_tensor(b.pairs), torch.as_tensor(b.weights), torch.as_tensor(b.dest), b.n_el)
                           for b in proc.blocks]
            cop = (proc.compact_operator * np.float32(1.0 / proc.scale)).tocsr()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                ccsr = torch.sparse_csr_tensor(
                    torch.as_tensor(cop.indptr, dtype=torch.int64), torch.as_tensor(cop.indices, dtype=torch.int64),
                    torch.as_tensor(cop.data, dtype=torch.float32), size=cop.shape)
            self.register_buffer("compact_op", ccsr)

    def _resample(self, pol: torch.Tensor) -> torch.Tensor:
        """``(F, E, Nr, A, D)`` real or complex → ``(F, D, z, y, x)``."""
        c = self.proc.config
        F, D = pol.shape[0], pol.shape[-1]
        outs = []
        for f in range(F):
            if pol.is_complex():
                flat = torch.view_as_real(pol[f].reshape(-1, D)).reshape(-1, 2 * D)  # re/im interleaved
                v = (self.op @ flat).reshape(-1, D, 2)
                outs.append(torch.complex(v[..., 0], v[..., 1]).T)
            else:
                outs.append((self.op @ pol[f].reshape(-1, D)).T)
        return torch.stack(outs).reshape(F, D, c.n_z, c.n_y, c.n_x)

    def _compact_forward(self, x: torch.Tensor) -> torch.Tensor:
        c, proc = self.proc.config, self.proc
        p = c.doppler_pool
        rd = self.polar.range_doppler(x)  # (F, D, T, R, Nr), gains applied
        F, D, T, R, Nr = rd.shape
        A = proc.polar.config.azimuth_fft
        src = rd.reshape(F, D, T * R, Nr).permute(0, 2, 3, 1)  # (F, V, Nr, D)
        g = proc.polar.grid
        buf = torch.zeros((F, self.n_rows, Nr, A, D), dtype=torch.complex64, device=x.device)
        for v in self.polar.groups:  # positions are unique within a rank group
            buf[:, self.row_of[v], :, self.polar.az[v], :] += src[:, v].permute(1, 0, 2, 3)
        rows = torch.fft.ifft(buf, dim=3, norm="forward").reshape(F, self.n_rows, Nr * A, D)
        mag = torch.empty((F, proc.n_columns, D // p), dtype=torch.float32, device=x.device)
        for pairs, w, dest, n_el in self.blocks:
            n = len(pairs)
            spec = torch.matmul(w, rows.index_select(2, pairs).reshape(F, self.n_rows, n * D))  # (F, n_el, n·D)
            a = spec.abs().reshape(F, n_el * n, D // p, p).amax(dim=-1)
            mag[:, dest] = a
        out = torch.stack([(self.compact_op @ mag[f]).T for f in range(F)])  # (F, D/p, voxels)
        return out.reshape(F, D // p, c.n_z, c.n_y, c.n_x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.proc.config
        p = c.doppler_pool
        if self.compact:
            return self._compact_forward(x)
        pol = self.polar.angle(self.polar.range_doppler(x), layout="raed")  # (F, Nr, A, E, D)
        pol = pol.permute(0, 3, 1, 2, 4).contiguous()  # (F, E, Nr, A, D): the operator's column order
        if c.output == "complex":
            return self._resample(pol)
        if c.interpolate == "magnitude":
            mag = pol.abs()
            if p > 1:
                mag = mag.reshape(*mag.shape[:-1], mag.shape[-1] // p, p).amax(dim=-1)
            return self._resample(mag.contiguous()) / self.proc.scale
        mag = self._resample(pol).abs()
        if p > 1:
            F, D = mag.shape[:2]
            mag = mag.reshape(F, D // p, p, *mag.shape[2:]).amax(dim=2)
        return mag / self.proc.scale


class TorchChain(torch.nn.Module):
    """int16 words → decoded frames → polar or Cartesian tensor, batched over frames."""

    def __init__(self, params: RadarParams, board: Board, config: PolarConfig | CartesianConfig | None = None):
        super().__init__()
        self.params, self.board = params, board
        if isinstance(config, CartesianConfig):
            self.numpy = CartesianProcessor(params, board, config)
            self.stage = TorchCartesian(self.numpy)
        else:
            self.numpy = PolarProcessor(params, board, config)
            self.stage = TorchPolar(self.numpy)

    @torch.no_grad()
    def forward(self, words: torch.Tensor) -> torch.Tensor:
        return self.stage(decode_torch(words, self.params, self.board))
