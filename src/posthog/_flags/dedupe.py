"""Deduplicating ``$feature_flag_called`` (spec 5.5): one event per (distinct id, flag,
value, groups) per client.

Its own small module because every client builds a :class:`CalledDedupe` at construction,
while the event's content (:mod:`posthog._flags.events`) loads with the first flag call.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_DISTINCT_IDS", "CalledDedupe", "dedupe_key"]

MAX_DISTINCT_IDS = 50_000


def dedupe_key(key: str, value: Any, groups: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """What makes two exposures the same (for one distinct id): flag, value, groups."""
    group_part = tuple(sorted((str(k), str(v)) for k, v in groups.items())) if groups else ()
    return (key, repr(value), group_part)


class CalledDedupe:
    """Per-client memory of sent exposures: an LRU of distinct ids, each a set of keys."""

    def __init__(self, max_ids: int = MAX_DISTINCT_IDS) -> None:
        self._max = max_ids
        self._seen: OrderedDict[str, set[tuple[Any, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, distinct_id: Any, key: tuple[Any, ...]) -> bool:
        """Record ``key`` for ``distinct_id``; True if it was not recorded before."""
        ident = str(distinct_id)
        with self._lock:
            seen = self._seen.get(ident)
            if seen is None:
                seen = self._seen[ident] = set()
                while len(self._seen) > self._max:
                    self._seen.popitem(last=False)
            else:
                self._seen.move_to_end(ident)
            if key in seen:
                return False
            seen.add(key)
            return True

    def seen(self, distinct_id: Any, key: tuple[Any, ...]) -> bool:
        """True if ``key`` was already recorded for ``distinct_id`` (records nothing)."""
        seen = self._seen.get(str(distinct_id))
        return seen is not None and key in seen

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def __len__(self) -> int:
        return len(self._seen)
