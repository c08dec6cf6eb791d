"""Any failure to send is a counted, reported delivery failure; the worker thread lives on.

A custom transport may raise its own exception types, and a bad host or CA bundle makes
the standard library raise non-network errors: none of them may kill delivery or lose a
batch uncounted.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from posthog import Posthog, TransportError
from posthog._transport import HTTPTransport, Request, Response
from support.recording_server import RecordingServer


class FlakyTransport:
    """Raises ``ConnectionError`` (not ours) until ``recover()``; then answers 200."""

    def __init__(self) -> None:
        self.broken = True
        self.calls = 0
        self.delivered: list[Request] = []
        self._cond = threading.Condition()

    def recover(self) -> None:
        self.broken = False

    def request(self, request: Request) -> Response:
        with self._cond:
            self.calls += 1
            if self.broken:
                raise ConnectionError("cable unplugged")
            self.delivered.append(request)
            self._cond.notify_all()
        return Response(200, {}, b'{"status": 1}')

    def close(self) -> None:
        pass


def test_custom_transport_exception_is_a_failed_attempt_and_delivery_continues() -> None:
    transport = FlakyTransport()
    errors: list[tuple[Exception, list[Any]]] = []
    drops: list[tuple[str, int]] = []
    client = Posthog(
        "phc",
        host="http://example.invalid",
        transport=transport,
        flush_interval=0.01,
        max_retries=1,
        on_error=lambda e, batch: errors.append((e, batch)),
        on_drop=lambda reason, n, _d: drops.append((reason, n)),
    )
    first = client.capture("lost", distinct_id="u")
    assert client.flush(10)
    assert transport.calls == 2  # the first attempt and the one retry
    [(error, batch)] = errors
    assert isinstance(error, TransportError)
    assert isinstance(error.__cause__, ConnectionError)
    assert [e["uuid"] for e in batch] == [first]
    assert drops == [("delivery_failed", 1)]

    transport.recover()
    client.capture("after recovery", distinct_id="u")
    assert client.flush(10)
    assert len(transport.delivered) == 1
    stats = client.stats()
    assert (stats.sent, stats.retried, stats.dropped) == (1, 1, {"delivery_failed": 1})
    client.shutdown()


def test_custom_transport_exception_in_sync_mode_is_delivery_failed() -> None:
    transport = FlakyTransport()
    client = Posthog(
        "phc", host="http://example.invalid", transport=transport, sync_mode=True, max_retries=0
    )
    assert client.capture("lost", distinct_id="u") is None
    assert client.stats().dropped == {"delivery_failed": 1}
    transport.recover()
    assert client.capture("kept", distinct_id="u") is not None
    assert client.stats().sent == 1
    client.shutdown()


def test_missing_ca_bundle_is_a_transport_error(tmp_path: Path) -> None:
    transport = HTTPTransport(ca_bundle=str(tmp_path / "missing.pem"))
    with pytest.raises(TransportError, match="FileNotFoundError"):
        transport.request(Request("POST", "https://127.0.0.1:9/batch/", {}, b"{}", 1))


def missing_ca_bundle(tmp_path: Path) -> dict[str, Any]:
    """Client options: an https host and a CA bundle path that does not exist."""
    return {
        "host": "https://127.0.0.1:9",
        "ca_bundle": str(tmp_path / "missing.pem"),
        "flush_interval": 0.01,
        "max_retries": 0,
    }


def test_missing_ca_bundle_counts_the_batch_and_keeps_the_worker(tmp_path: Path) -> None:
    errors: list[Exception] = []
    client = Posthog("phc", **missing_ca_bundle(tmp_path), on_error=lambda e, _b: errors.append(e))
    client.capture("one", distinct_id="u")
    assert client.flush(10)
    client.capture("two", distinct_id="u")
    assert client.flush(10)  # a dead worker would never finish this flush
    assert len(errors) == 2 and all(isinstance(e, TransportError) for e in errors)
    assert client.stats().dropped == {"delivery_failed": 2}
    client.shutdown()


def test_bad_port_is_counted_not_fatal(server: RecordingServer) -> None:
    with pytest.raises(TransportError):
        HTTPTransport().request(Request("POST", "http://127.0.0.1:99999/batch/", {}, b"{}", 1))
    client = Posthog("phc", host="http://127.0.0.1:99999", flush_interval=0.01, max_retries=0)
    client.capture("one", distinct_id="u")
    assert client.flush(10)
    client.capture("two", distinct_id="u")
    assert client.flush(10)
    assert client.stats().dropped == {"delivery_failed": 2}
    client.shutdown()
    sync = Posthog("phc", host="http://127.0.0.1:99999", sync_mode=True, max_retries=0)
    assert sync.capture("three", distinct_id="u") is None
    assert sync.stats().dropped == {"delivery_failed": 1}
    sync.shutdown()


def test_async_client_counts_custom_transport_exceptions_and_bad_ca_bundle(
    tmp_path: Path,
) -> None:
    pytest.importorskip("httpx")
    from posthog import AsyncPosthog

    async def main() -> tuple[Any, Any, int]:
        transport = FlakyTransport()
        flaky = AsyncPosthog("phc", transport=transport, flush_interval=0.01, max_retries=0)
        flaky.capture("lost", distinct_id="u")
        assert await flaky.flush(5)
        transport.recover()
        flaky.capture("kept", distinct_id="u")
        assert await flaky.flush(5)
        await flaky.shutdown()
        untrusted = AsyncPosthog("phc", **missing_ca_bundle(tmp_path))
        untrusted.capture("lost", distinct_id="u")
        assert await untrusted.flush(5)
        await untrusted.shutdown()
        return flaky.stats(), untrusted.stats(), len(transport.delivered)

    flaky, untrusted, delivered = asyncio.run(main())
    assert (flaky.sent, flaky.dropped, delivered) == (1, {"delivery_failed": 1}, 1)
    assert untrusted.dropped == {"delivery_failed": 1}
