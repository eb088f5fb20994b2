"""What every fuzzed parser must do with any input: return, raise a typed rfpose error, or count and skip.
Anything else (IndexError, ValueError, TypeError, …) escapes and fails the property."""

from __future__ import annotations

from rfpose.errors import RfposeError


def typed(fn, *args, **kwargs):
    """``fn(*args)``; an :class:`RfposeError` is an accepted outcome (returns None), any other exception
    propagates."""
    try:
        return fn(*args, **kwargs)
    except RfposeError:
        return None
