"""When to load flag definitions and where a flag is answered: pure decisions.

The sync client (``FlagService``, ``Poller``) and the asyncio client (``AsyncFlags``)
both ask these questions and differ only in how they wait, so the answers live here once:
no threads, no sockets, the clock passed in.

* A failed first load is retried from flag calls until it succeeds (spec 5.1), at most
  once per ``retry_gap`` (the flag request timeout) so a server that is down is not
  hammered, and never early while the server refuses our key (401/403).
* Polling waits ``poll_interval``, doubled per repeated 401/403 answer, at most 32x.
* Definitions from a file mean no network at all: every call is local-only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["MAX_BACKOFF", "LoadState", "Step", "local_only", "poll_delay"]

MAX_BACKOFF = 32
MIN_INTERVAL = 0.01


def local_only(only_evaluate_locally: bool, from_file: bool) -> bool:
    """Whether a flag call must stay off the network."""
    return only_evaluate_locally or from_file


def poll_delay(interval: float, auth_failures: int) -> float:
    """The wait before the next poll: the interval, doubled per repeated 401/403."""
    factor = min(MAX_BACKOFF, 1 << max(0, auth_failures - 1))
    return max(MIN_INTERVAL, float(interval)) * factor


class Step(enum.Enum):
    """What a flag call should do about the definitions loader."""

    NOTHING = "nothing"
    POLL = "poll"  # start polling, first poll after one interval (definitions are loaded)
    LOAD = "load"  # load now: wake the running loader, or start one that loads at once


@dataclass
class LoadState:
    """Bookkeeping of definition loads; the drivers report to it, flag calls consult it."""

    retry_gap: float
    auth_failures: int = 0
    in_flight: bool = False
    last_start: float | None = None
    last_error: str | None = None

    def begin(self, now: float) -> None:
        self.in_flight = True
        self.last_start = now

    def finish(self, ok: bool, error: str | None, auth_failure: bool | None) -> None:
        """One attempt ended; ``auth_failure`` None means the server was not reached."""
        self.in_flight = False
        self.last_error = None if ok else error
        if auth_failure is not None:
            self.auth_failures = self.auth_failures + 1 if auth_failure else 0

    def abandoned(self) -> None:
        """No loader thread or task is left (fork, a closed event loop): none in flight."""
        self.in_flight = False

    def delay(self, interval: float) -> float:
        return poll_delay(interval, self.auth_failures)

    def claim_retry(self, loaded: bool, now: float) -> bool:
        """True (and the slot taken) when a load should start now for a flag call."""
        if loaded or self.in_flight:
            return False
        if self.last_start is not None and (
            self.auth_failures or now - self.last_start < self.retry_gap
        ):
            return False
        self.in_flight = True  # claimed: later calls wait for it instead of claiming again
        self.last_start = now
        return True

    def next_step(self, *, loaded: bool, running: bool, polling: bool, now: float) -> Step:
        """What a flag call does about loading; ``running``: a loader thread/task lives."""
        if polling and loaded and not running:
            return Step.POLL  # e.g. in a forked child: keep inherited definitions fresh
        return Step.LOAD if self.claim_retry(loaded, now) else Step.NOTHING
