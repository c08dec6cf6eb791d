"""The evaluation context matchers see, as a protocol to avoid an import cycle.

Matchers are compiled in ``model.py`` before any evaluator exists; at evaluation time
they receive the evaluator's per-call context through this narrow interface.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from posthog._flags.results import MatchResult

__all__ = ["Context", "Matcher", "ValueTest"]


class Context(Protocol):
    """Per-call state: mode, clock, and dependency resolution with a shared cache."""

    @property
    def server_side(self) -> bool: ...

    @property
    def now(self) -> datetime: ...

    def dependency(
        self, key: str, props: Mapping[str, Any], bucket: str
    ) -> bool | str | MatchResult: ...


# A compiled filter: (properties, context, the id being evaluated for: the distinct id, or
# the group key of a group flag) -> True/False/Unresolved.
Matcher = Callable[[Mapping[str, Any], Context, str], MatchResult]
# A compiled operator applied to a property value that is present.
ValueTest = Callable[[Any, Context], MatchResult]
