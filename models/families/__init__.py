"""Model families (the contract is :class:`~rfpose.models.families.base.ModelFamily`); every module of this
package defines one, found by :func:`get_family` without a hand-kept list."""

from __future__ import annotations

import importlib
import pkgutil

from rfpose.errors import UnknownNameError
from rfpose.models.families.base import ModelFamily, Recipe

_FAMILIES: dict[str, ModelFamily] = {}


def _discover() -> dict[str, ModelFamily]:
    if not _FAMILIES:
        for info in pkgutil.iter_modules(__path__):
            if info.name != "base":
                importlib.import_module(f"{__name__}.{info.name}")

        def subclasses(cls):
            for sub in cls.__subclasses__():
                yield sub
                yield from subclasses(sub)

        for cls in subclasses(ModelFamily):
            if "name" in cls.__dict__:
                _FAMILIES[cls.name] = cls()
    return _FAMILIES


def get_family(name_or_model) -> ModelFamily:
    """The family of a name, a model (its ``family`` attribute) or a registry entry."""
    name = name_or_model if isinstance(name_or_model, str) else name_or_model.family
    families = _discover()
    try:
        return families[name]
    except KeyError:
        raise UnknownNameError("model family", name, list(families)) from None


def list_families() -> list[str]:
    return sorted(_discover())


__all__ = ["ModelFamily", "Recipe", "get_family", "list_families"]
