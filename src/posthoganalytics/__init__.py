"""``posthoganalytics``: the documented second import name; the same objects as ``posthog``.

Module settings are forwarded, so ``posthoganalytics.api_key = ...`` configures the same
default client as ``posthog.api_key = ...``, and submodules resolve to the very same
modules (``posthoganalytics.testing is posthog.testing``).
"""

from __future__ import annotations

# Private names only: a plain ``import types`` here would make ``posthoganalytics.types``
# the standard library's module instead of ``posthog.types``.
import importlib as _importlib
import importlib.machinery as _machinery
import importlib.util as _util
import sys as _sys
import types as _types
from collections.abc import Sequence as _Sequence
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

import posthog as _posthog
from posthog import __all__ as __all__
from posthog import __version__ as __version__

if _TYPE_CHECKING:  # the type checker sees every name; at run time, see below
    from posthog import *  # noqa: F403

# What ``posthog`` has loaded already; the rest (lazy in ``posthog`` too: the result types,
# the asyncio client) is read through ``_Alias.__getattr__`` when first named, so importing
# this name costs what ``import posthog`` does.
globals().update({name: vars(_posthog)[name] for name in __all__ if name in vars(_posthog)})

_PREFIX = __name__ + "."


class _AliasLoader:  # duck-typed (importlib.abc would import pathlib, urllib, ...)
    def __init__(self, target: str) -> None:
        self.target = target
        self.real_spec: _Any = None

    def create_module(self, spec: _machinery.ModuleSpec) -> _types.ModuleType:
        module = _importlib.import_module(self.target)
        self.real_spec = module.__spec__
        return module

    def exec_module(self, module: _types.ModuleType) -> None:
        # Already executed under its real name; keep its own spec (the import system
        # stamps the alias spec on it).
        if self.real_spec is not None:
            module.__spec__ = self.real_spec


class _AliasFinder:
    """``posthoganalytics.x.y`` is ``posthog.x.y``: one module object, two names."""

    def find_spec(
        self, fullname: str, path: _Sequence[str] | None, target: _types.ModuleType | None = None
    ) -> _machinery.ModuleSpec | None:
        if not fullname.startswith(_PREFIX):
            return None
        real = "posthog." + fullname[len(_PREFIX) :]
        if _util.find_spec(real) is None:
            return None
        return _machinery.ModuleSpec(fullname, _AliasLoader(real))  # type: ignore[arg-type]


if not any(isinstance(f, _AliasFinder) for f in _sys.meta_path):
    _sys.meta_path.insert(0, _AliasFinder())


class _Alias(_types.ModuleType):
    """Attribute reads and writes go to ``posthog`` itself, so both names share settings."""

    def __getattr__(self, name: str) -> _Any:
        return getattr(_posthog, name)

    def __setattr__(self, name: str, value: _Any) -> None:
        setattr(_posthog, name, value)


_sys.modules[__name__].__class__ = _Alias
