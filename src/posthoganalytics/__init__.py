"""``posthoganalytics``: the documented second import name; the same objects as ``posthog``.

Module settings are forwarded, so ``posthoganalytics.api_key = ...`` configures the
same default client as ``posthog.api_key = ...``.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import posthog as _posthog
from posthog import *  # noqa: F403
from posthog import __all__ as __all__
from posthog import __version__ as __version__


class _Alias(types.ModuleType):
    """Attribute reads and writes go to ``posthog`` itself, so both names share settings."""

    def __getattr__(self, name: str) -> Any:
        return getattr(_posthog, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(_posthog, name, value)


sys.modules[__name__].__class__ = _Alias
