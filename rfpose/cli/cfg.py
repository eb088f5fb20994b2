"""Inspect TI mmWave SDK .cfg files.

  rfpose cfg show FILE.cfg [--board NAME] [--json]   derived parameters (units in the names)
  rfpose cfg boards                                   the board presets
  rfpose cfg default NAME                             print a board's shipped raw-capture .cfg
"""

from __future__ import annotations

import json


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    show = sub.add_parser("show", help="print the derived parameters of a .cfg")
    show.add_argument("file", help="the .cfg file")
    show.add_argument("--board", help="validate against this board preset (see 'rfpose cfg boards')")
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub.add_parser("boards", help="list the board presets")
    default = sub.add_parser("default", help="print a board's default raw-capture .cfg")
    default.add_argument("board")


def run(args) -> int:
    from rfpose.boards import BOARDS, get_board
    from rfpose.radar_config import load_cfg, validate_cfg

    if args.action == "boards":
        for b in BOARDS.values():
            print(f"{b.name:14s} {b.num_tx:2d} TX x {b.num_rx:2d} RX  {b.description}")
        return 0
    if args.action == "default":
        print(get_board(args.board).default_cfg_text(), end="")
        return 0
    board = get_board(args.board) if args.board else None
    cfg = load_cfg(args.file, board)
    params = validate_cfg(cfg, board)
    summary = params.summary()
    if args.json:
        print(json.dumps(_finite(summary), indent=2, allow_nan=False))
        return 0
    print(f"{args.file}" + (f"  (board {board.name})" if board else ""))
    for key, value in summary.items():
        if isinstance(value, float):
            value = f"{value:.6g}"
        print(f"  {key:26s} {value}")
    return 0


def _finite(value):
    """JSON has no Infinity or NaN: non-finite numbers become null."""
    import math

    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
