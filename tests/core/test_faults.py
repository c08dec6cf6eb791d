"""Fault injection: every event arrives (deduplicated by uuid, as PostHog does) or is
counted as failed and reported. Nothing is silently lost."""

from __future__ import annotations

import threading
from typing import Any

from posthog import APIError, Posthog, TransportError
from support.recording_server import Recorded, RecordingServer, Reply


def scripted(*replies: Reply) -> Any:
    """Answer with the given replies in order, then 200 forever."""
    queue = list(replies)
    lock = threading.Lock()

    def responder(_request: Recorded) -> Reply:
        with lock:
            return queue.pop(0) if queue else Reply()

    return responder


def capture_n(client: Posthog, n: int) -> set[str]:
    ids = {client.capture(f"event {i}", distinct_id="u") for i in range(n)}
    assert None not in ids
    return {i for i in ids if i is not None}


def accepted_uuids(server: RecordingServer) -> list[str]:
    return [e["uuid"] for e in server.events()]


def test_5xx_then_success_delivers_each_event_once() -> None:
    with RecordingServer(scripted(Reply(500), Reply(503))) as server:
        client = Posthog("phc", host=server.url, flush_at=10, flush_interval=0.05)
        ids = capture_n(client, 10)
        assert client.flush(15)
        assert sorted(accepted_uuids(server)) == sorted(ids)
        stats = client.stats()
        assert (stats.sent, stats.retried, stats.dropped) == (10, 2, {})
        client.shutdown()


def test_429_retry_after_is_honoured() -> None:
    with RecordingServer(scripted(Reply(429, headers={"Retry-After": "1"}))) as server:
        client = Posthog("phc", host=server.url, flush_interval=0.05)
        ids = capture_n(client, 3)
        assert client.flush(15)
        first, second = server.requests[0], server.requests[1]
        assert second.at - first.at >= 0.95
        assert sorted(accepted_uuids(server)) == sorted(ids)
        client.shutdown()


def test_connection_reset_is_retried() -> None:
    with RecordingServer(scripted(Reply(reset=True))) as server:
        client = Posthog("phc", host=server.url, flush_interval=0.05)
        ids = capture_n(client, 5)
        assert client.flush(15)
        assert sorted(accepted_uuids(server)) == sorted(ids)
        assert client.stats().retried == 1
        client.shutdown()


def test_server_slower_than_timeout_is_retried_and_deduplicates_by_uuid() -> None:
    with RecordingServer(scripted(Reply(delay=1.5))) as server:
        client = Posthog("phc", host=server.url, flush_interval=0.05, timeout=0.5)
        ids = capture_n(client, 4)
        assert client.flush(15)
        assert set(accepted_uuids(server)) == ids
        assert client.stats().retried >= 1 and client.stats().dropped == {}
        client.shutdown()


def test_batch_that_keeps_failing_is_counted_and_reported() -> None:
    failures: list[tuple[Exception, list[Any]]] = []
    drops: list[tuple[str, int]] = []
    with RecordingServer(lambda _r: Reply(500, {"detail": "boom"})) as server:
        client = Posthog(
            "phc",
            host=server.url,
            flush_interval=0.05,
            max_retries=1,
            on_error=lambda e, batch: failures.append((e, batch)),
            on_drop=lambda reason, n, _detail: drops.append((reason, n)),
        )
        ids = capture_n(client, 3)
        assert client.flush(15)
        assert len(server.requests) == 2  # the first attempt and one retry
        [(error, batch)] = failures
        assert isinstance(error, APIError) and error.status == 500 and "boom" in str(error)
        assert {e["uuid"] for e in batch} == ids
        assert drops == [("delivery_failed", 3)]
        assert client.stats().dropped == {"delivery_failed": 3}
        client.shutdown()


def test_client_errors_are_not_retried() -> None:
    with RecordingServer(lambda _r: Reply(400, {"detail": "bad"})) as server:
        client = Posthog("phc", host=server.url, flush_interval=0.05)
        capture_n(client, 2)
        client.flush(10)
        assert len(server.requests) == 1
        assert client.stats().dropped == {"delivery_failed": 2}
        client.shutdown()


def test_unreachable_server_fails_within_bounds() -> None:
    errors: list[Exception] = []
    client = Posthog(
        "phc",
        host="http://127.0.0.1:9",
        flush_interval=0.05,
        max_retries=0,
        on_error=lambda e, _b: errors.append(e),
    )
    capture_n(client, 2)
    assert client.flush(10)
    assert isinstance(errors[0], TransportError)
    assert client.stats().dropped == {"delivery_failed": 2}
    client.shutdown()


def test_retry_cut_short_by_the_deadline_is_not_counted() -> None:
    arrivals: list[Recorded] = []

    def slow(request: Recorded) -> Reply:
        arrivals.append(request)
        return Reply(delay=3)

    with RecordingServer(slow) as server:
        client = Posthog("phc", host=server.url, sync_mode=True, timeout=1)
        assert client.capture("slow", distinct_id="u") is None
        assert len(arrivals) == 1
        stats = client.stats()
        assert (stats.retried, stats.dropped) == (0, {"delivery_failed": 1})
        client.shutdown()
