"""Names a package exports but loads on first use (PEP 562 module ``__getattr__``).

``import posthog`` loads what a capture-only application runs; the flag result types,
the transport's ``Request``/``Response`` and the rest load when first touched. The value
is then stored in the package's namespace, so later lookups are plain attribute reads and
``from posthog import *`` (``posthoganalytics``) gets the very same objects.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``homes`` maps a name to its module."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        __import__(home)
        value = getattr(sys.modules[home], name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
