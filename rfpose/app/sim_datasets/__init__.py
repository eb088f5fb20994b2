"""Seeded simulator dataset presets, one module each (``PRESET = ...``), found by :func:`presets`.

A new preset is a module in this package that defines ``PRESET`` (a :class:`SimDatasetPreset`, or an
instance of a subclass that overrides :meth:`SimDatasetPreset.simulate_session` or
:meth:`SimDatasetPreset.preprocess_config`); nothing else needs to change.
"""

from __future__ import annotations

import importlib
import pkgutil

from rfpose.app.sim_datasets.preset import (ACTIONS, SimDatasetPreset, build_preset, held_out_only, reduced_cfg,
                                           session_name, simulate_sessions)

__all__ = ["ACTIONS", "SimDatasetPreset", "build_preset", "get_preset", "held_out_only", "presets", "reduced_cfg",
           "session_name", "simulate_sessions"]

_NOT_PRESETS = {"preset"}


def presets() -> dict[str, SimDatasetPreset]:
    """Every preset of the package by name, in module order."""
    found: dict[str, SimDatasetPreset] = {}
    for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if m.name in _NOT_PRESETS:
            continue
        preset = getattr(importlib.import_module(f"{__name__}.{m.name}"), "PRESET", None)
        if isinstance(preset, SimDatasetPreset):
            found[preset.name] = preset
    return found


def get_preset(name: str) -> SimDatasetPreset:
    from rfpose.errors import UnknownNameError

    try:
        return presets()[name]
    except KeyError:
        raise UnknownNameError("dataset preset", name, list(presets())) from None
