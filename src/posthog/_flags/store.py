"""The one mutable thing about flag definitions: which immutable snapshot is current.

Readers take ``store.current`` (a single attribute read, atomic under the GIL) and use
that snapshot for the whole call, so a concurrent swap never mixes two versions.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from posthog._flags.model import EMPTY_FLAGSET, FlagSet

__all__ = ["DefinitionStore", "Definitions"]


@dataclass(frozen=True, slots=True)
class Definitions:
    """A published set of definitions and where it came from."""

    flagset: FlagSet = EMPTY_FLAGSET
    etag: str | None = None
    loaded: bool = False  # False until a load succeeded (or a 401/402 cleared them)
    source: str = "none"  # none | server | file | cleared


NOT_LOADED = Definitions()


class DefinitionStore:
    """The current snapshot, and a count of finished load attempts to wait on."""

    def __init__(self) -> None:
        self.current: Definitions = NOT_LOADED
        self.generation = 0  # publications
        self.attempts = 0  # finished load attempts, successful or not
        self._changed = threading.Condition(threading.Lock())

    def publish(self, definitions: Definitions) -> None:
        with self._changed:
            self.current = definitions
            self.generation += 1
            self.attempts += 1
            self._changed.notify_all()

    def attempted(self) -> None:
        """A load attempt ended without new definitions: waiters should not wait longer."""
        with self._changed:
            self.attempts += 1
            self._changed.notify_all()

    def wait_settled(self, seen: int, timeout: float) -> bool:
        """Wait (bounded) until an attempt after the ``seen``-th one has finished; True
        when definitions are loaded."""
        with self._changed:
            self._changed.wait_for(lambda: self.attempts > seen, max(0.0, timeout))
            return self.current.loaded

    def after_fork(self) -> None:
        """In a forked child: a lock some parent thread held would never be released."""
        self._changed = threading.Condition(threading.Lock())

    def wait_loaded(self, timeout: float) -> bool:
        """Wait (bounded) until a first attempt finished; True when definitions are loaded."""
        return self.current.loaded or self.wait_settled(0, timeout)
