"""``DeliveryStats``: the figures :meth:`Client.stats` returns.

A module of its own, loaded by the first ``stats()`` call: as a frozen dataclass it needs
:mod:`dataclasses` (and the :mod:`inspect` that imports), milliseconds that
``import posthog`` should not pay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DeliveryStats"]


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """A snapshot of one client's delivery figures."""

    queued: int
    sent: int
    retried: int
    failed_batches: int
    dropped: dict[str, int] = field(default_factory=dict)
    pending: int = 0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())
