"""``posthoganalytics``: the documented second import name; the same objects as ``posthog``.

Module settings are forwarded, so ``posthoganalytics.api_key = ...`` configures the same
default client as ``posthog.api_key = ...``, and submodules resolve to the very same
modules (``posthoganalytics.testing is posthog.testing``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from typing import Any

import posthog as _posthog
from posthog import *  # noqa: F403
from posthog import __all__ as __all__
from posthog import __version__ as __version__

_PREFIX = __name__ + "."


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target
        self.real_spec: Any = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = importlib.import_module(self.target)
        self.real_spec = module.__spec__
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        # Already executed under its real name; keep its own spec (the import system
        # stamps the alias spec on it).
        if self.real_spec is not None:
            module.__spec__ = self.real_spec


class _AliasFinder(importlib.abc.MetaPathFinder):
    """``posthoganalytics.x.y`` is ``posthog.x.y``: one module object, two names."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith(_PREFIX):
            return None
        real = "posthog." + fullname[len(_PREFIX) :]
        if importlib.util.find_spec(real) is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(real))


if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _AliasFinder())


class _Alias(types.ModuleType):
    """Attribute reads and writes go to ``posthog`` itself, so both names share settings."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_posthog, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(_posthog, name, value)


sys.modules[__name__].__class__ = _Alias
