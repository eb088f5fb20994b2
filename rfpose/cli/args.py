"""Argument types and output checks shared by every command, so values are validated once, with ranges.

The type functions raise ``argparse.ArgumentTypeError``: argparse turns that into its usual one-line
``usage … error: argument --x: …`` and exit code 2. The output checks raise
:class:`~rfpose.errors.ConfigError` (one line, exit 2) before any work is done, and refuse to replace an
existing output unless the command was given ``--force``.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
from collections.abc import Iterable
from pathlib import Path

from rfpose.errors import ConfigError


def _number(text: str, kind, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def int_range(lo: int | None = None, hi: int | None = None):
    """An integer in ``[lo, hi]`` (either bound may be open)."""
    def parse(text: str) -> int:
        v = _number(text, int, "a whole number")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{v} is outside {_span(lo, hi)}")
        return v
    parse.__name__ = "integer"
    return parse


def float_range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False):
    """A finite number in ``[lo, hi]`` (``(lo, hi]`` when ``lo_open``)."""
    def parse(text: str) -> float:
        v = _number(text, float, "a number")
        if (lo is not None and (v < lo or (lo_open and v == lo))) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{v:g} is outside {_span(lo, hi, lo_open)}")
        return v
    parse.__name__ = "number"
    return parse


def _span(lo, hi, lo_open: bool = False) -> str:
    return f"{'(' if lo_open else '['}{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"


positive_int = int_range(1)
nonnegative_int = int_range(0)
positive_float = float_range(0.0, lo_open=True)
nonnegative_float = float_range(0.0)
probability = float_range(0.0, 1.0)


def comma_list(item):
    """A comma-separated list, each value parsed by the argument type ``item``: ``"0,1,2"`` → ``[0, 1, 2]``."""
    def parse(text: str) -> list:
        values = [item(v.strip()) for v in text.split(",") if v.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"{text!r} holds no value")
        return values
    parse.__name__ = "list"
    return parse


def packet_delay_us(text: str) -> float:
    """The DCA1000's inter-packet delay, 5–500 µs."""
    from rfpose.drivers.dca1000_protocol import MAX_PACKET_DELAY_US, MIN_PACKET_DELAY_US

    return float_range(MIN_PACKET_DELAY_US, MAX_PACKET_DELAY_US)(text)


def ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 address") from None


def torch_device(text: str) -> str:
    """``cpu``, ``cuda``, ``cuda:N`` or ``mps`` — and only one this machine has."""
    if text == "cpu":
        return text
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device (cpu, cuda, cuda:0 …)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: this machine has no CUDA device (use cpu)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: this machine has no MPS device (use cpu)")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"{text!r}: unsupported device type {dev.type!r}")
    return text


def scheduler(text: str) -> str:
    """``synchronous``, ``local`` or the address of a running dask scheduler (``tcp://HOST:PORT``), which
    must accept a connection now (checked here so a typo fails before any work)."""
    import socket
    from urllib.parse import urlsplit

    if text in ("synchronous", "local"):
        return text
    u = urlsplit(text if "://" in text else f"tcp://{text}")
    try:
        host, port = u.hostname, u.port
    except ValueError:
        host = port = None
    if u.scheme not in ("tcp", "tls") or not host or not port:
        raise argparse.ArgumentTypeError(f"{text!r} is not synchronous, local or a scheduler address tcp://HOST:PORT")
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as e:
        raise argparse.ArgumentTypeError(f"no dask scheduler reachable at {text} ({e.strerror or e})") from None
    return text


def add_force(p) -> None:
    p.add_argument("--force", "--overwrite", dest="force", action="store_true",
                   help="replace existing output (refused otherwise)")


def _parent_ok(path: Path, what: str) -> None:
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{what}: {parent} is a file, not a directory", str(path))
            return


def output_file(path: str | Path, force: bool, what: str = "--out", also: Iterable[str | Path] = ()) -> Path:
    """Check an output file (and the files written beside it, ``also``) before any work: its parent must be
    a directory (or creatable), it must not be a directory, and it must not exist unless ``force``."""
    p = Path(path)
    for q in (p, *map(Path, also)):
        _parent_ok(q, what)
        if q.is_dir():
            raise ConfigError(f"{what}: {q} is a directory, expected a file", str(q))
        if q.exists() and not force:
            raise ConfigError(f"{what}: {q} already exists (pass --force to replace it)", str(q))
    return p


def output_dir(path: str | Path, force: bool, what: str = "--out", allow_existing: bool = False) -> Path:
    """Check an output directory: not a file, parent creatable, and not a non-empty directory unless
    ``force`` or ``allow_existing`` (the caller continues what is there, e.g. ``--resume``)."""
    p = Path(path)
    _parent_ok(p, what)
    if p.exists() and not p.is_dir():
        raise ConfigError(f"{what}: {p} is a file, expected a directory", str(p))
    if p.is_dir() and any(p.iterdir()) and not (force or allow_existing):
        raise ConfigError(f"{what}: {p} already holds files (pass --force to replace them, or --resume)", str(p))
    return p


def input_file(path: str | Path, what: str) -> Path:
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{what}: {p} is a directory, expected a file", str(p))
    if not p.exists():
        raise ConfigError(f"{what}: no such file", str(p))
    return p


def model_overrides(items: Iterable[str], option: str = "--model-arg") -> dict:
    """``KEY=VALUE`` items (VALUE JSON, else a string) → constructor overrides; a malformed item is a
    :class:`~rfpose.errors.ConfigError` naming the option."""
    import json

    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{option} {item!r}: expected KEY=VALUE")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides
