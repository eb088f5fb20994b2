"""raw ADC to radar tensors, against numpy.fft and the published peers (xwr, openradar, HuPR, RT-Pose)

Tasks, all rows of a task on the same frames (int16 wire words, decode included):

  rd      AWR1843BOOST frame (64 loops x 3 TX x 4 RX x 256) -> range-Doppler (fftshifted, no window)
  hupr    AWR1843BOOST frame -> HuPR input (16 x 64 x 64 x 8 complex), per radar
  rtpose  MMWCAS cascade frame (64 x 12 x 16 x 256) -> RT-Pose ROI Cartesian tensor (32 x 16 x 64 x 160)
  live    AWR1843BOOST frame -> RT-Pose ROI voxels written into a two-frame model input, as ``rfpose monitor``
          makes them: CPU time per step, one thread and the slowest part of two threads

Peers: xwr 0.5.1 RSPNumpy (pyfftw) and openradar 1.0.1 when importable (rows skipped with a note
otherwise); re-creations of HuPR's per-frame Python loops (hupr.md §2/§7) and of RT-Pose's per-voxel
Cartesian resampler (rtpose.md §2 step 5, timed on a reduced grid and scaled to the ROI's voxel count).
For rtpose a FLOP / memory-traffic bound for this machine is printed next to the measured rate.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

log = logging.getLogger(__name__)



def _timeit(fn, quick: bool) -> float:
    from rfpose.app.benchmarking import best_time_s

    return best_time_s(fn, repeat=1 if quick else 5, min_time_s=0.02 if quick else 0.3)


def _row(task, impl, seconds_per_frame, note=""):
    return {"task": task, "implementation": impl, "frames_per_s": 1.0 / seconds_per_frame,
            "ms_per_frame": seconds_per_frame * 1e3, "note": note}


def _words(params, board, frames: int, seed: int = 0) -> np.ndarray:
    """Random int16 wire words (content does not change the cost of any row)."""
    from rfpose.preprocessing.decode import words_per_frame

    rng = np.random.default_rng(seed)
    w = words_per_frame(params, board)
    shape = (frames, 4, w) if board.capture == "tda2" else (frames, w)
    return rng.integers(-2000, 2000, size=shape, dtype=np.int16)


# ------------------------------------------------------------------------------------------------
# re-creations of published per-frame code (structure from the reference notes; not their code)
# ------------------------------------------------------------------------------------------------


def hupr_loops_frame(adc: np.ndarray, fraction: float = 1.0) -> np.ndarray:
    """HuPR's ``generateHeatmap`` structure for one radar frame: Python loops over chirp x sample.

    ``adc``: complex (192 chirps, 4 rx, 256 samples). ``fraction`` < 1 runs that share of the
    chirp x sample angle loop (the caller scales the time). complex128 as in HuPR.
    """
    adc = adc.astype(np.complex128)
    az = np.concatenate([adc[0::3], adc[2::3]], axis=1).transpose(1, 0, 2)  # (8, 64, 256)
    el = adc[1::3].transpose(1, 0, 2)  # (4, 64, 256)
    for cube in (az, el):  # static clutter removal, per channel and sample
        for ch in range(cube.shape[0]):
            for s in range(cube.shape[2]):
                cube[ch, :, s] -= cube[ch, :, s].mean()
    az = np.stack([np.fft.fft2(az[ch]) for ch in range(8)])
    el = np.stack([np.fft.fft2(el[ch]) for ch in range(4)])
    cube = np.zeros((8, 64, 64, 256), np.complex128)
    cube[0, 0:8] = az
    cube[1, 2:6] = el
    n_iter = int(64 * 256 * fraction)
    for it in range(n_iter):
        c, s = divmod(it, 256)
        cube[:, 2:6, c, s] = np.fft.fft(cube[:, 2:6, c, s], axis=0)
        for e in range(8):
            cube[e, :, c, s] = np.fft.fft(cube[e, :, c, s])
    cube = cube[:, :, :, 94:30:-1]  # range crop, reversed
    out = np.zeros((8, 64, 64, 64), np.complex128)
    for r in range(int(64 * fraction) or 1):  # Doppler fftshift, looped
        for a in range(64):
            out[:, a, :, r] = np.fft.fftshift(cube[:, a, :, r], axes=1)
    out = out[:, :, 24:40]
    res = np.zeros((16, 64, 64, 8), np.complex128)
    for d in range(16):  # postProcessFFT3D per Doppler slice
        sl = np.fft.fftshift(out[:, :, d, :], axes=(0, 1)).transpose(2, 1, 0)
        res[d] = sl[:, ::-1, ::-1]
    return res


def rtpose_voxel_resample(polar: np.ndarray, range_m: np.ndarray, grid_xyz: np.ndarray) -> np.ndarray:
    """RT-Pose's ``4Dradar2xyz.py`` structure: per voxel (Python loop), (r, az, el) with angles assumed
    linear in the FFT bins, bracketing indices by search, trilinear interpolation of all Doppler bins.

    ``polar``: (D, Nr, A, E) complex; ``grid_xyz``: (n, 3). Returns (D, n) complex (out of FOV = 1+0j).
    """
    D, Nr, A, E = polar.shape
    az_deg = np.linspace(0, 120, A)  # RT-Pose: bins taken as 0..120 deg (= ±60)
    el_deg = np.linspace(0, 60, E)
    out = np.ones((D, len(grid_xyz)), np.complex64)
    for i, (x, y, z) in enumerate(grid_xyz):
        r = math.sqrt(x * x + y * y + z * z)
        a = 150.0 - math.degrees(math.atan2(x, y))
        e = math.degrees(math.asin(z / r)) + 30.0
        ir = int(np.searchsorted(range_m, r)) - 1
        ia = int(np.searchsorted(az_deg, a)) - 1
        ie = int(np.searchsorted(el_deg, e)) - 1
        if not (0 <= ir < Nr - 1 and 0 <= ia < A - 1 and 0 <= ie < E - 1):
            continue
        tr = (r - range_m[ir]) / (range_m[ir + 1] - range_m[ir])
        ta = (a - az_deg[ia]) / (az_deg[ia + 1] - az_deg[ia])
        te = (e - el_deg[ie]) / (el_deg[ie + 1] - el_deg[ie])
        c = polar[:, ir:ir + 2, ia:ia + 2, ie:ie + 2]
        c = c[:, 0] * (1 - tr) + c[:, 1] * tr
        c = c[:, 0] * (1 - ta) + c[:, 1] * ta
        out[:, i] = c[:, 0] * (1 - te) + c[:, 1] * te
    return out


# ------------------------------------------------------------------------------------------------
# machine limits for the bound
# ------------------------------------------------------------------------------------------------


def _machine_rates(quick: bool) -> tuple[float, float, float]:
    """Measured here: complex FFT GFLOP/s (workers=-1, 128-point batches), complex GEMM GFLOP/s
    ((32 x 4) @ (4 x n), the elevation transform's shape), and memory copy GB/s (read + write)."""
    import scipy.fft as sfft

    a = np.ones((16 if quick else 64, 217, 128, 4), np.complex64)
    t = _timeit(lambda: sfft.ifft(a, axis=2, workers=-1), quick)
    fft_rate = a.size * 5 * math.log2(128) / t / 1e9
    w = np.ones((32, 4), np.complex64)
    b = np.ones((4, 1 << 18 if quick else 1 << 20), np.complex64)
    tg = _timeit(lambda: w @ b, quick)
    gemm_rate = 8 * 32 * b.size / tg / 1e9
    src = np.empty(32 << 20, np.float32)
    dst = np.empty_like(src)
    tc = _timeit(lambda: np.copyto(dst, src), quick)
    return fft_rate, gemm_rate, 2 * src.nbytes / tc / 1e9


# ------------------------------------------------------------------------------------------------
# tasks
# ------------------------------------------------------------------------------------------------


def bench_rd(F: int, quick: bool) -> list[dict]:
    from rfpose.boards import get_board
    from rfpose.preprocessing.decode import decode_frames
    from rfpose.preprocessing.polar import PolarConfig, PolarProcessor

    task = "awr1843 frame -> range-Doppler"
    board = get_board("awr1843boost")
    params = board.default_config().derive(board)
    words = _words(params, board, F)
    L, T, R, N = params.frame_shape
    rows = []
    pp = PolarProcessor(params, board, PolarConfig(range_window="none", dc_removal=False, tdm_compensation=False))
    ref = np.abs(pp.range_doppler_words(words, gains=False))
    rows.append(_row(task, "rfpose PolarProcessor.range_doppler_words (scipy.fft, fused decode)",
                     _timeit(lambda: pp.range_doppler_words(words, gains=False), quick) / F,
                     f"batch {F}; frames spread over all cores, 1 FFT thread each"))
    pp1 = PolarProcessor(params, board, PolarConfig(range_window="none", dc_removal=False, tdm_compensation=False,
                                                    workers=1))
    rows.append(_row(task, "rfpose, same, one thread (workers=1)",
                     _timeit(lambda: pp1.range_doppler_words(words, gains=False), quick) / F, f"batch {F}"))

    def numpy_chain():
        x = decode_frames(words, params)
        return np.fft.fftshift(np.fft.fft(np.fft.fft(x, axis=-1), axis=1), axes=1)

    rows.append(_row(task, "numpy.fft chain", _timeit(numpy_chain, quick) / F, f"batch {F}"))
    try:
        from xwr.rsp.generic import iq_from_iiqq
        from xwr.rsp.numpy import AWR1843Boost

        rsp = AWR1843Boost(window=False)

        def xwr_chain():
            iq = iq_from_iiqq(words.reshape(F, L, T, R, 2 * N))
            return rsp.doppler_range(iq)

        got = np.abs(np.asarray(xwr_chain()))
        err = float(np.abs(got - ref).max() / ref.max())
        rows.append(_row(task, "xwr 0.5.1 RSPNumpy (pyfftw)", _timeit(xwr_chain, quick) / F,
                         f"batch {F}; |RD| max rel. diff to rfpose {err:.1e}"))
    except Exception as e:  # noqa: BLE001 - a peer missing or broken is reported, not fatal
        rows.append({"task": task, "implementation": "xwr 0.5.1", "frames_per_s": None, "ms_per_frame": None,
                     "note": f"skipped: {type(e).__name__}: {e}"[:120]})
    try:
        from mmwave.dsp.doppler_processing import doppler_processing
        from mmwave.dsp.range_processing import range_processing

        def or_chain():
            out = None
            for f in range(F):
                raw = words[f]
                c = np.zeros(len(raw) // 2, dtype=complex)  # DCA1000.organize, I-first as openradar assumes
                c[0::2] = raw[0::4] + 1j * raw[2::4]
                c[1::2] = raw[1::4] + 1j * raw[3::4]
                cube = range_processing(c.reshape(L * T, R, N))
                out = doppler_processing(cube, num_tx_antennas=T, interleaved=True, accumulate=True)
            return out

        rows.append(_row(task, "openradar 1.0.1 (organize+range+doppler)", _timeit(or_chain, quick) / F,
                         "per frame; returns log2|RD| summed over channels"))
    except Exception as e:  # noqa: BLE001
        rows.append({"task": task, "implementation": "openradar 1.0.1", "frames_per_s": None, "ms_per_frame": None,
                     "note": f"skipped: {type(e).__name__}: {e}"[:120]})
    return rows


def bench_hupr(F: int, quick: bool) -> list[dict]:
    from rfpose.boards import get_board
    from rfpose.preprocessing.decode import decode_frames
    from rfpose.preprocessing.hupr import HuprProcessor

    task = "HuPR input per radar-frame"
    board = get_board("awr1843boost")
    params = board.default_config().derive(board)
    words = _words(params, board, F, seed=1)
    proc = HuprProcessor(params, board)

    np.testing.assert_allclose(proc.from_words(words[:1]), proc(decode_frames(words[:1], params)), rtol=1e-4,
                               atol=1e-3)
    rows = [_row(task, "rfpose HuprProcessor (scipy.fft, fused decode)", _timeit(lambda: proc.from_words(words), quick) / F,
                 f"batch {F}")]
    x = decode_frames(words[:1], params)[0]
    adc = x.reshape(-1, params.num_rx, params.num_adc_samples)  # (loops·tx chirps, rx, samples)
    frac = 1 / 32 if quick else 1.0
    t0 = time.perf_counter()
    hupr_loops_frame(adc, frac)
    t = (time.perf_counter() - t0) / frac
    rows.append(_row(task, "HuPR per-frame Python loops (re-creation)", t,
                     "1 frame" + (f"; {frac:.3g} of the loops, time scaled" if frac < 1 else "")))
    return rows


def bench_rtpose(F: int, quick: bool) -> list[dict]:
    import torch

    from rfpose.boards import get_board
    from rfpose.preprocessing.cartesian import CartesianProcessor
    from rfpose.preprocessing.decode import decode_cascade_frames
    from rfpose.preprocessing.torch_chain import TorchChain

    task = "cascade frame -> RT-Pose ROI Cartesian"
    board = get_board("mmwcas")
    params = board.default_config().derive(board)
    F = max(1, min(F, 2))
    words = _words(params, board, F, seed=2)
    proc = CartesianProcessor(params, board)
    proc1 = CartesianProcessor(params, board, workers=1)
    ref = proc(decode_cascade_frames(words[0], params))[0]
    err = float(np.abs(proc.from_words(words[:1])[0] - ref).max() / ref.max())
    rows = [_row(task, "rfpose CartesianProcessor.from_words (compacted plan)",
                 _timeit(lambda: proc.from_words(words), quick) / F,
                 f"per frame, decode included; {proc.threads} threads; |from_words - __call__| {err:.0e} of peak"),
            _row(task, "rfpose, same, one thread (workers=1)", _timeit(lambda: proc1.from_words(words), quick) / F,
                 "per frame, decode included"),
            _row(task, "rfpose CartesianProcessor on decoded frames",
                 _timeit(lambda: [proc(decode_cascade_frames(words[f], params)) for f in range(F)], quick) / F,
                 "per frame; decode_cascade_frames then __call__")]
    chain = TorchChain(params, board, proc.config)
    wt = torch.as_tensor(words)
    rows.append(_row(task, f"rfpose TorchChain (torch {torch.__version__}, CPU, compacted plan)",
                     _timeit(lambda: [chain(wt[f:f + 1]) for f in range(F)], quick) / F,
                     f"per frame; {torch.get_num_threads()} torch threads"))
    # RT-Pose's per-voxel resampler on its polar tensor (64 x Nr x 128 x 32), reduced grid, scaled
    pol = proc.polar
    polar = np.zeros((pol.output_shape[0], pol.output_shape[1], 128, 32), np.complex64)
    polar[...] = 1
    z, y, x = proc.config.centres()
    n_sub = 64 if quick else 512
    rng = np.random.default_rng(0)
    pts = np.stack([rng.choice(x, n_sub), rng.choice(y, n_sub), rng.choice(z, n_sub)], axis=1)
    t0 = time.perf_counter()
    rtpose_voxel_resample(polar, pol.axes.range_m, pts)
    per_voxel = (time.perf_counter() - t0) / n_sub
    n_vox = x.size * y.size * z.size
    rows.append(_row(task, "RT-Pose per-voxel resampler (re-creation)", per_voxel * n_vox,
                     f"resampling only (no FFTs); {n_sub} voxels timed, scaled to {n_vox}"))
    # the bound for this algorithm: its FLOPs at the measured FFT / GEMM rates, or its unavoidable memory
    # traffic (each intermediate written once and read once) at the measured copy bandwidth
    fft_rate, gemm_rate, gbps = _machine_rates(quick)
    L, T, R, N = params.frame_shape
    D, Nr, A, E = pol.output_shape
    n_rows = len(np.unique(pol.grid.el_index))
    K = int(proc.n_columns)  # (el, range, az) bins the elevation blocks compute (the used ones + gap fill)
    fft_flops = (L * T * R * 5 * N * math.log2(N) + T * R * Nr * 5 * D * math.log2(D)
                 + D * Nr * n_rows * 5 * A * math.log2(A))
    gemm_flops = 8 * n_rows * K * D
    t_flops = fft_flops / (fft_rate * 1e9) + gemm_flops / (gemm_rate * 1e9)
    cplx = 8
    bytes_moved = (words[0].nbytes + 2 * (L * T * R * N * cplx) + 2 * (T * R * Nr * D * cplx)
                   + 2 * (n_rows * Nr * A * D * cplx) + 2 * (K * D * cplx) + 2 * (K * D * 4)
                   + proc.compact_operator.nnz * 8)
    t_bytes = bytes_moved / (gbps * 1e9)
    note = (f"FFT {fft_flops / 1e9:.2f} GFLOP at {fft_rate:.1f} GFLOP/s + GEMM {gemm_flops / 1e9:.2f} GFLOP at "
                 f"{gemm_rate:.1f} GFLOP/s = {t_flops * 1e3:.0f} ms; traffic {bytes_moved / 1e9:.2f} GB at "
                 f"{gbps:.1f} GB/s = {t_bytes * 1e3:.0f} ms")
    rows.append(_row(task, "bound on this machine (FLOPs or memory traffic)", max(t_flops, t_bytes), note))
    return rows


def _min_cpu_ms(fn, repeat: int) -> float:
    """Least CPU time (ms, this thread) of ``fn`` over ``repeat`` calls after a warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.thread_time()
        fn()
        best = min(best, time.thread_time() - t0)
    return best * 1e3


def bench_live(F: int, quick: bool) -> list[dict]:
    """The monitor's voxel stage step by step, in CPU time (``time.thread_time``: what the step costs, whatever
    else the machine runs): one thread, and the slowest part of each step as two threads split it (its time on
    an idle 2-core machine)."""
    import torch

    from rfpose.app.live import StackedWindows
    from rfpose.boards import get_board
    from rfpose.dataset import PreprocessConfig
    from rfpose.preprocessing.decode import decode_radar_words
    from rfpose.preprocessing.factory import build_processor

    task = "AWR1843 frame -> RT-Pose ROI voxels as rfpose monitor makes them (CPU time)"
    board = get_board("awr1843boost")
    params = board.default_config().derive(board)
    words = _words(params, board, 1, seed=3)[0]
    repeat = 2 if quick else 7
    decode = _min_cpu_ms(lambda: decode_radar_words(words, params, board), repeat)
    frame = decode_radar_words(words, params, board)[0]
    steps = {}
    for workers in (1, 2):
        chain = build_processor(PreprocessConfig(), params, board, workers=workers).chain
        windows = StackedWindows(2, chain.output_shape, torch.channels_last_3d)
        dest = windows.destinations()[-1]
        runs = [chain.step_cpu_ms(frame, dest) for _ in range(repeat + 1)][1:]
        steps[workers] = {k: np.min([r[k] for r in runs], axis=0) for k in runs[0]}
    later = windows.inputs[1][0, :chain.output_shape[0]].numpy()  # frame 0's slot in window 1
    copy = _min_cpu_ms(lambda: np.copyto(later, dest), repeat)
    rows = [_row(task, "decode (int16 words -> complex frame)", decode / 1e3, "CPU ms, one thread")]
    for name, one in steps[1].items():
        two = steps[2][name]
        rows.append(_row(task, name, one.sum() / 1e3,
                         f"CPU ms, one thread; two threads: {len(two)} part(s), slowest {two.max():.1f} ms"))
    one, two = (sum(v.sum() for v in steps[1].values()), sum(v.max() for v in steps[2].values()))
    rows += [_row(task, "voxel stage, one thread", one / 1e3, "CPU ms: its latency on one core"),
             _row(task, "voxel stage, two threads (slowest part of each step)", two / 1e3,
                  f"its latency on an idle 2-core machine; CPU {sum(v.sum() for v in steps[2].values()):.1f} ms"),
             _row(task, "copy into the next window's input", copy / 1e3,
                  "CPU ms; a background thread while the model runs, off the latency path")]
    return rows


TASKS = {"rd": bench_rd, "hupr": bench_hupr, "rtpose": bench_rtpose, "live": bench_live}


def run(tasks: list[str], frames: int = 8, quick: bool = False) -> list[dict]:
    """The rows of the named tasks (keys of :data:`TASKS`), ``frames`` per batch; ``quick`` shortens timings."""
    from rfpose.errors import ConfigError

    for n in tasks:
        if n not in TASKS:
            raise ConfigError(f"unknown bench task {n!r}; valid: {', '.join(TASKS)}")
    rows = []
    for n in tasks:
        rows.extend(TASKS[n](max(1, frames), quick))
    return rows
