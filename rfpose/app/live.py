"""Radar-only pose estimation, one frame at a time, as a live monitor runs it.

:class:`RadarPosePipeline` takes the raw ADC words of one frame (``RadarFrame.adc``) — of each radar, for a
two-radar family (HuPR: horizontal and vertical) — turns them into the model's input exactly as ``rfpose
preprocess`` does for the dataset the model was trained on, runs the network and decodes skeletons (metres in
the radar frame, or label-image pixels for 2-D families). Each result reports its per-stage latency. A model
trained on windows of T frames (``frames``) gets the same windows as the dataset reader forms
(:class:`FrameWindows`): causal families (target last) answer every frame at once; HuPR's windows reach
T − 1 − T//2 frames into the future, so its pose of a frame comes that many frames later (:meth:`flush` ends a
stream). Two radars' frames are paired by time with :class:`FramePairer`, as preprocessing pairs them.
A demo-firmware board's points (``PointCloudFrame.points``) feed a run trained on such points
(``source_kind="points"``), through the same windows.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rfpose.errors import ConfigError, SourceMismatchError

log = logging.getLogger(__name__)

#: what a source's frames carry, by ``Source.kind``, as the live pipeline names it
SOURCE_INPUTS = {"radar": "raw ADC frames", "points": "point clouds"}
_MADE_FROM_ADC = {"rtpose": "voxel tensors", "hupr": "range-angle maps", "points": "rfpose's CFAR points"}


@dataclass
class PoseResult:
    joints: np.ndarray  # (people, joints, 3) metres, radar frame; (people, joints, 2) label-image pixels (2-D)
    scores: np.ndarray  # (people,) or (people, joints)
    latency_ms: dict[str, float] = field(default_factory=dict)  # per stage and "total"
    frame: int = 0  # the (0-based) frame of the stream the pose is for; later than the newest for HuPR windows


def round_like_dataset(x: np.ndarray):
    """float32 voxels → float32 torch tensor rounded as DATASET.zarr stores them (float16, clipped at its
    maximum), so live inputs equal training inputs. Torch converts RT-Pose's 5.2 M voxels in 3 ms on 2 cores;
    numpy's float16 cast takes 30 ms."""
    import torch

    from rfpose.dataset import FLOAT16_MAX

    return torch.from_numpy(x).clamp(min=-FLOAT16_MAX, max=FLOAT16_MAX).half().float()


class FrameWindows:
    """Temporal windows over a live stream as the dataset reader forms them within a session
    (:func:`rfpose.dataset.session_windows`): the window of frame k is frames k − target … k − target + T − 1,
    clamped to the stream's first frame and, at :meth:`flush`, to its last one.

    :meth:`push` returns the windows the new frame completes — ``(k, frames oldest first)``; with the target
    last (causal) that is the new frame's own window, otherwise the one of the frame T − 1 − target before it.
    """

    def __init__(self, frames: int, target: int):
        self.frames, self.target = frames, target
        if not 0 <= self.target < frames:
            raise ConfigError(f"window target {self.target} outside a window of {frames} frames")
        self.lag = frames - 1 - self.target
        self._recent: deque = deque(maxlen=frames)
        self._count = 0

    def _window(self, k: int, last: int) -> tuple[int, list]:
        first = self._count - len(self._recent)
        idx = np.clip(np.arange(self.frames) + k - self.target, 0, last)
        return k, [self._recent[int(i) - first] for i in idx]

    def push(self, x) -> list[tuple[int, list]]:
        self._recent.append(x)
        self._count += 1
        k = self._count - 1 - self.lag
        return [self._window(k, self._count - 1)] if k >= 0 else []

    def flush(self) -> list[tuple[int, list]]:
        """The windows of the last frames, whose future the stream never gave (clamped to its last frame)."""
        n = self._count
        out = [self._window(k, n - 1) for k in range(max(n - self.lag, 0), n)]
        self._recent.clear()
        self._count = 0
        return out


class StackedWindows:
    """Causal windows of T frames stacked on the channel axis (a family with ``stacks_frames_on_channels``),
    filled in place: T input tensors ``(1, T·C, …)`` in ``memory_format``, window k in tensor k mod T.

    Frame k belongs to windows k … k + T − 1, at channel slot T − 1 … 0. :meth:`destinations` gives the slots
    of its own window k (numpy views: the newest slot and, at a stream's first frame, every slot, as
    :class:`FrameWindows` and the dataset reader repeat a session's first frame); the processor writes the
    frame there, and :meth:`push` copies it into the later windows' slots in a background thread, off the
    frame's latency path: the model reads window k's tensor meanwhile, the copy writes the other tensors.
    No tensor is allocated or concatenated per frame.
    """

    def __init__(self, frames: int, shape: tuple[int, ...], memory_format):
        import torch

        self.frames, self.channels = frames, shape[0]
        self.memory_format = memory_format
        self.inputs = [torch.empty((1, frames * shape[0], *shape[1:]), memory_format=memory_format)
                       for _ in range(frames)]
        self._arrays = [t[0].numpy() for t in self.inputs]
        self.count = 0
        self._spread = None  # the background copy of the last frame into its later windows

    def _slot(self, window: int, slot: int) -> np.ndarray:
        C = self.channels
        return self._arrays[window % self.frames][slot * C:(slot + 1) * C]

    def _wait(self) -> None:
        if self._spread is not None:
            self._spread.result()
            self._spread = None

    def destinations(self) -> tuple[np.ndarray, ...]:
        """Where the next frame goes now: ``(C, …)`` views of the input of its own window."""
        self._wait()
        k, T = self.count, self.frames
        return tuple(self._slot(k, i) for i in range(0 if k == 0 else T - 1, T))

    def push(self) -> tuple[int, "torch.Tensor"]:
        """The frame was written: → (k, the input of its window, valid until the next frame is written). The
        frame's copies into windows k + 1 … k + T − 1 start in the background (done before the next frame)."""
        self._wait()
        k, T = self.count, self.frames
        later = [self._slot(w, i) for w in range(k + 1, k + T)  # slots k − w + T − 1, all earlier at k = 0
                 for i in range(0 if k == 0 else k - w + T - 1, k - w + T)]
        if later:
            self._spread = _background().submit(_copy_into, self._slot(k, T - 1), later)
        self.count += 1
        return k, self.inputs[k % T]

    def reset(self) -> None:
        self._wait()
        self.count = 0


def _copy_into(src: np.ndarray, dests: list[np.ndarray]) -> None:
    for d in dests:
        np.copyto(d, src)  # one thread, GIL released (torch's copy would take intra-op threads from the model)


_BACKGROUND = None


def _background():
    """One worker thread for copies off the latency path."""
    global _BACKGROUND
    if _BACKGROUND is None:
        from concurrent.futures import ThreadPoolExecutor

        _BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rfpose-windows")
    return _BACKGROUND


class FramePairer:
    """Pairs the frames of several radars by time, as preprocessing pairs a HuPR session's streams: frames
    whose timestamps are within half a frame period form one tuple; a frame with no partner in time is
    dropped and counted in ``dropped`` (per radar)."""

    def __init__(self, radars: int, period_ns: float):
        self.half_ns = 0.5 * period_ns
        self._queues = [deque() for _ in range(radars)]
        self.dropped = [0] * radars

    def push(self, radar: int, frame) -> list[tuple]:
        """Add one frame (with ``timestamp_ns``) of radar ``radar``; → the tuples (one frame per radar, in
        radar order) it completes."""
        self._queues[radar].append(frame)
        out = []
        while all(self._queues):
            heads = [q[0].timestamp_ns for q in self._queues]
            if max(heads) - min(heads) <= self.half_ns:
                out.append(tuple(q.popleft() for q in self._queues))
                continue
            oldest = int(np.argmin(heads))
            self._queues[oldest].popleft()
            self.dropped[oldest] += 1
        return out


class RadarPosePipeline:
    """Decode → the run's dataset preprocessing → model → skeletons, for one radar or, for a two-radar
    family (HuPR), two radars of the same board and .cfg whose frames come in pairs (:class:`FramePairer`).

    ``source_kind`` is the kind of the source whose frames will be fed: "radar" (``RadarFrame.adc`` words)
    or "points" (``PointCloudFrame.points``, a device's points: demo-firmware UART, ``emu+uart://``,
    ``uart-file://``, a recorded points stream). A run whose dataset was built from the other kind (a tensor
    or CFAR-points model on a points source, a model of a device's points on raw ADC) is a
    :class:`~rfpose.errors.SourceMismatchError`.

    ``run_dir`` is a training run (``rfpose train``): its ``config.json`` records the dataset's
    preprocessing config and radar, and the processor is rebuilt from them
    (:func:`rfpose.preprocessing.factory.processor_for_run`: grid, windows, clutter removal, Doppler
    pooling), so the model gets what it was trained on. ``board`` and ``cfg_text`` describe the radar(s)
    whose frames will be fed; one that would give other tensors is a
    :class:`~rfpose.preprocessing.factory.RadarMismatchError` naming the differing parameter. A run trained
    before runs recorded their preprocessing gets the default chain, checked by shape only. ``threads``
    sets the model's (torch's intra-op) threads; the preprocessing uses every core, as it runs while the
    model does not (a frame's voxels, then its model). ``radars`` (1 or 2, from the family's inputs) is how
    many ADC frames each call takes, in the family's order (HuPR: horizontal, vertical).
    """

    def __init__(self, run_dir: str | Path, board: str, cfg_text: str, threads: int | None = None,
                 which: str = "best", max_people: int | None = None, source_kind: str = "radar"):
        import torch

        from rfpose.boards import get_board
        from rfpose.dataset import InputSpec, PreprocessConfig, check_spec
        from rfpose.models.families import get_family
        from rfpose.models.families.base import ModelFamily
        from rfpose.models.inference import for_cpu_inference
        from rfpose.models.train import load_run
        from rfpose.preprocessing.factory import processor_for_run
        from rfpose.radar_config import parse_cfg

        if threads:
            torch.set_num_threads(threads)
        self.model, self.run_config = load_run(run_dir, which=which)
        self.family = family = get_family(self.model)
        for_cpu_inference(self.model, family.memory_format)
        if type(family).live_inputs is ModelFamily.live_inputs:
            raise ConfigError(f"{run_dir}: the {family.name} family has no live pipeline (its inputs "
                              f"{', '.join(family.input_arrays)} are not built from radar frames here)")
        self.radars = family.live_radars
        if source_kind not in SOURCE_INPUTS:
            raise ConfigError(f"the live pipeline reads radar sources ({', '.join(SOURCE_INPUTS)}); this source "
                              f"gives {source_kind} frames")
        self.board = get_board(board)
        self.params = parse_cfg(cfg_text, f"<{board} cfg>").derive(self.board)
        saved = self.run_config.get("preprocess")
        if saved is None:
            log.warning("%s: the run does not record its dataset's preprocessing (trained before runs did); "
                        "using the default chain", run_dir)
        config = PreprocessConfig.from_dict(saved) if saved is not None else PreprocessConfig()
        self.processor = processor_for_run(config, self.run_config.get("radar"), self.board, self.params,
                                           f"{run_dir} on {board}")
        needs = "points" if self.processor.takes_points else "radar"
        if source_kind != needs:
            trained = (f"the points of the point-cloud stream {config.radar_stream!r}" if needs == "points" else
                       f"{_MADE_FROM_ADC[config.format]} computed from the raw ADC of {config.radar_stream!r}")
            raise SourceMismatchError(f"the model was trained on {trained}; this source gives "
                                      f"{SOURCE_INPUTS[source_kind]} (it needs a source of {SOURCE_INPUTS[needs]})",
                                      needs, source_kind, str(run_dir))
        self.source_kind = source_kind
        shape = tuple(self.processor.output_shape)
        if config.format != "points" and shape != tuple(self.model.input_shape):
            raise ConfigError(f"{run_dir}: the model takes {tuple(self.model.input_shape)} per frame, this radar "
                              f"configuration gives {shape}")
        if saved is not None:
            spec = InputSpec.from_dict(self.processor.input_spec(self.model.spec.skeleton))
            check_spec(self.model.spec, spec, f"{run_dir}: live input")
        self.max_people = max_people
        self._torch = torch
        self._windows = FrameWindows(family.window_span(self.model), family.target_position(self.model))
        # voxels written straight into the model's inputs (float16-rounded as stored, in its memory format)
        self._stacked: StackedWindows | None = None
        self._in_place = (family.stacks_frames_on_channels and family.causal and self.radars == 1
                          and config.format == "rtpose")

    @property
    def latency_frames(self) -> int:
        """Frames between a frame's arrival and its pose (HuPR's windows: T − 1 − T//2; causal: 0)."""
        return self._windows.lag

    def prepare(self, *words: np.ndarray):
        """One frame's raw ADC words (one array per radar) → the model inputs of the window it completes (a
        tuple, as the dataset reader gives them: float16-rounded, the window's frames oldest first), or None
        while a non-causal window still waits for its future frames."""
        ready = self._push(words, {})
        return tuple(t.clone() for t in ready[-1][1]) if ready else None

    def _decode(self, data: np.ndarray):
        if self.processor.takes_points:
            return [data]
        from rfpose.preprocessing.decode import decode_radar_words

        return decode_radar_words(data, self.params, self.board)

    def _push(self, words, ms: dict) -> list[tuple[int, tuple]]:
        if len(words) != self.radars:
            raise ConfigError(f"the {self.family.name} model takes {self.radars} radar frame(s) per call "
                              f"({', '.join(self.family.input_arrays)}), got {len(words)}")
        t0 = time.perf_counter()
        iq = [self._decode(w) for w in words]
        t1 = time.perf_counter()
        if self._in_place:
            stacked = self._stacked_windows()
            self.processor.voxels_into(iq[0], stacked.destinations())
            ms.update(decode=(t1 - t0) * 1e3, voxels=(time.perf_counter() - t1) * 1e3)
            k, x = stacked.push()
            return [(k, (x,))]
        # points are stored as computed (one (n, 5) array a frame); tensors float16-rounded
        frame = tuple(self.processor.compute(x)[0] if self.processor.format == "points" else
                      round_like_dataset(self.processor.compute(x)) for x in iq)
        ms.update(decode=(t1 - t0) * 1e3, voxels=(time.perf_counter() - t1) * 1e3)
        return [(k, self.family.live_inputs(self.model, w)) for k, w in self._windows.push(frame)]

    def _input_format(self):
        """The model's memory format for a torch model; ONNX Runtime takes contiguous arrays."""
        return self.family.memory_format if isinstance(self.model, self._torch.nn.Module) else \
            self._torch.contiguous_format

    def _stacked_windows(self) -> StackedWindows:
        fmt = self._input_format()
        if self._stacked is None or self._stacked.memory_format != fmt:  # (re)made when the runtime is set
            self._stacked = StackedWindows(self._windows.frames, tuple(self.processor.output_shape), fmt)
        return self._stacked

    def _run(self, k: int, inputs: tuple, ms: dict, t0: float) -> PoseResult:
        from rfpose.models.inference import predict

        t2 = time.perf_counter()
        fmt = self._input_format()
        inputs = tuple(t.contiguous(memory_format=fmt) if t.dim() == 5 else t for t in inputs)
        with self._torch.inference_mode():
            joints, scores = predict(self.model, inputs, self.max_people)
        t3 = time.perf_counter()
        ms = {**ms, "model": (t3 - t2) * 1e3, "total": (t3 - t0) * 1e3}
        return PoseResult(joints[0].numpy(), scores[0].numpy(), ms, frame=k)

    def __call__(self, *words: np.ndarray) -> PoseResult | None:
        """One frame (one ADC array per radar) → the pose of the frame its window completes: this frame for
        causal families, the one :attr:`latency_frames` before it otherwise (None until there is one)."""
        t0, ms = time.perf_counter(), {}
        ready = self._push(words, ms)
        return self._run(*ready[-1], ms, t0) if ready else None

    def flush(self) -> list[PoseResult]:
        """The poses of the stream's last :attr:`latency_frames` frames (windows clamped at its end, as the
        dataset reader clamps at a session's end); the next frame starts a new stream."""
        if self._stacked is not None:
            self._stacked.reset()
        return [self._run(k, self.family.live_inputs(self.model, w), {}, time.perf_counter())
                for k, w in self._windows.flush()]
