"""Shutting down: what could not be delivered in time is counted once, and cleanup runs."""

from __future__ import annotations

import sys
import threading

from posthog import Posthog
from posthog._transport import Request, Response


class GatedTransport:
    """Holds every request until ``release()``; records ``close()``."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.gate = threading.Event()
        self.closed = 0

    def request(self, request: Request) -> Response:
        self.arrived.set()
        self.gate.wait(10)
        return Response(200, {}, b'{"status": 1}')

    def close(self) -> None:
        self.closed += 1


def test_batch_in_flight_at_shutdown_is_counted_once_even_if_it_completes_later() -> None:
    transport = GatedTransport()
    drops: list[tuple[str, int]] = []
    client = Posthog(
        "phc",
        transport=transport,
        flush_interval=0.01,
        shutdown_timeout=0.2,
        on_drop=lambda reason, n, _d: drops.append((reason, n)),
    )
    client.capture("a", distinct_id="u")
    client.capture("b", distinct_id="u")
    assert transport.arrived.wait(5)
    thread = client._worker._thread
    client.shutdown()
    assert drops == [("shutdown", 2)]
    transport.gate.set()  # the request completes after the client gave up on it
    assert thread is not None
    thread.join(5)
    assert not thread.is_alive()
    stats = client.stats()
    assert (stats.sent, stats.dropped, stats.pending) == (0, {"shutdown": 2}, 0)


def test_shutdown_after_join_still_cleans_up() -> None:
    original = sys.excepthook
    transport = GatedTransport()
    transport.gate.set()
    client = Posthog("phc", transport=transport, enable_exception_autocapture=True)
    assert sys.excepthook is not original
    client.capture("a", distinct_id="u")
    client.join()
    client.shutdown()
    assert sys.excepthook is original
    assert transport.closed == 1
    assert client.stats().sent == 1
