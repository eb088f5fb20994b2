"""What the importers of published datasets share: their summary and reading a JSON file with typed errors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rfpose.errors import FormatError


@dataclass
class ImportSummary:
    """What an importer wrote (samples per split, sequences) and the notes it printed."""

    out: str
    frames: int = 0
    splits: dict = field(default_factory=dict)
    sequences: int = 0
    notes: list[str] = field(default_factory=list)
    details: dict = field(default_factory=dict)


def read_json(path: Path):
    """The parsed file; unreadable or malformed → :class:`FormatError` naming the file and line."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"{path}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise FormatError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from None
