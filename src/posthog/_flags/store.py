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
    def __init__(self) -> None:
        self.current: Definitions = NOT_LOADED
        self._loaded = threading.Event()
        self._lock = threading.Lock()
        self.generation = 0

    def publish(self, definitions: Definitions) -> None:
        with self._lock:
            self.current = definitions
            self.generation += 1
        if definitions.loaded:
            self._loaded.set()

    def wait_loaded(self, timeout: float) -> bool:
        """Wait (bounded) until a first load finished; True when definitions are loaded."""
        if self.current.loaded:
            return True
        self._loaded.wait(max(0.0, timeout))
        return self.current.loaded

    def attempted(self) -> None:
        """Wake waiters after a failed first attempt: they should not wait any longer."""
        self._loaded.set()

    def reset_wait(self) -> None:
        if not self.current.loaded:
            self._loaded.clear()
