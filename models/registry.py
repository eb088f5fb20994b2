"""Model registry, timm style: each model file registers one-line variant functions by name.

    create_model("hrradarpose-lite")            # paper or deployment configuration
    create_model("hupr", num_filters=8)         # keyword overrides go to the variant's constructor
    list_models()                               # every registered name

Model modules are discovered: every module directly in ``rfpose.models`` whose source registers a model
(``@register_model``) is imported on first use, so a new model file needs no list edited. A model's
family (``rfpose.models.families``) holds what training, evaluation and deployment need besides the network.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rfpose.errors import ConfigError, UnknownNameError


@dataclass(frozen=True)
class ModelEntry:
    name: str
    fn: Callable
    family: str  # a family of rfpose.models.families: data, metrics, recipe (see ModelFamily)
    description: str = ""
    #: small constructor overrides that make forward+backward cheap (tests, smoke runs)
    tiny_overrides: dict = field(default_factory=dict)


_REGISTRY: dict[str, ModelEntry] = {}
_LOADED = False
_REGISTERS = re.compile(r"^@register_model\(", re.MULTILINE)


def register_model(family: str, tiny: dict | None = None) -> Callable:
    """Decorator for a variant function ``name(**overrides) -> nn.Module``; underscores become dashes."""

    def deco(fn: Callable) -> Callable:
        name = fn.__name__.replace("_", "-")
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ModelEntry(name, fn, family, doc[0] if doc else "", dict(tiny or {}))
        return fn

    return deco


def model_modules() -> list[str]:
    """Modules of ``rfpose.models`` that register models (their source contains ``@register_model``)."""
    import pkgutil
    from pathlib import Path

    import rfpose.models as package

    found = []
    for info in pkgutil.iter_modules(package.__path__):
        path = Path(info.module_finder.path) / f"{info.name}.py"
        if not info.ispkg and path.exists() and _REGISTERS.search(path.read_text(encoding="utf-8")):
            found.append(f"{package.__name__}.{info.name}")
    return sorted(found)


def _ensure_loaded() -> None:
    global _LOADED
    if _LOADED:
        return
    import importlib

    for module in model_modules():
        importlib.import_module(module)
    _LOADED = True


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
