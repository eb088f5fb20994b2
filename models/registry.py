"""Model registry, timm style: each model file registers one-line variant functions by name.

    create_model("hrradarpose-lite")            # paper or deployment configuration
    create_model("hupr", num_filters=8)         # keyword overrides go to the variant's constructor
    list_models()                               # every registered name
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field

from rfpose.errors import ConfigError, UnknownNameError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    fn: Callable
    family: str  # "hrradarpose" | "hupr" | "points": selects targets, loss, decoding and the training recipe
    description: str = ""
    #: small constructor overrides that make forward+backward cheap (tests, smoke runs)
    tiny_overrides: dict = field(default_factory=dict)
    #: training recipe name (``rfpose.models.train.RECIPES``); the family's when None
    recipe: str | None = None


_REGISTRY: dict[str, ModelEntry] = {}
_MODEL_MODULES = ("rfpose.models.hrradarpose", "rfpose.models.hupr", "rfpose.models.mars_cnn",
                  "rfpose.models.pointpose")


def register_model(family: str, tiny: dict | None = None, recipe: str | None = None) -> Callable:
    """Decorator for a variant function ``name(**overrides) -> nn.Module``; underscores become dashes."""

    def deco(fn: Callable) -> Callable:
        name = fn.__name__.replace("_", "-")
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ModelEntry(name, fn, family, doc[0] if doc else "", dict(tiny or {}), recipe)
        return fn

    return deco


def _ensure_loaded() -> None:
    import importlib

    for module in _MODEL_MODULES:
        importlib.import_module(module)


def list_models(pattern: str = "*") -> list[str]:
    _ensure_loaded()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def model_entry(name: str) -> ModelEntry:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("model", name, list(_REGISTRY)) from None


def create_model(name: str, **overrides):
    """Build a registered model by name; ``overrides`` replace constructor arguments of that variant."""
    entry = model_entry(name)
    try:
        model = entry.fn(**overrides)
    except TypeError as e:
        raise ConfigError(f"model {name!r}: bad override ({e})") from None
    model.model_name = name
    model.model_overrides = dict(overrides)
    return model
