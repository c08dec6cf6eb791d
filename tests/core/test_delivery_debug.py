"""debug=True tells what happens to each event and batch; debug off formats nothing."""

from __future__ import annotations

import logging

import pytest

from posthog import Posthog
from support.recording_server import Recorded, RecordingServer, Reply


def test_debug_logs_queued_events_batches_retries_and_flush(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers = iter([Reply(503)])

    def responder(_r: Recorded) -> Reply:
        return next(answers, Reply())

    with RecordingServer(responder) as server:
        client = Posthog("phc", host=server.url, debug=True, flush_interval=0.01)
        try:
            with caplog.at_level(logging.DEBUG, logger="posthog"):
                ident = client.capture("movie played", distinct_id="u")
                assert client.flush(10)
        finally:
            client.debug = False
            client.shutdown()
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("queued event 'movie played'" in m and f"uuid={ident}" in m for m in lines)
    attempts = [m for m in lines if m.startswith("[PostHog] POST ")]
    assert len(attempts) == 2
    assert "1 event(s)" in attempts[0] and "attempt 1 -> HTTP 503" in attempts[0]
    assert "attempt 2 -> HTTP 200" in attempts[1] and " bytes" in attempts[1]
    assert any("retry 1 scheduled in" in m and "after HTTP 503" in m for m in lines)
    assert any(m.startswith("[PostHog] flush complete") for m in lines)


def test_no_debug_records_when_debug_is_off(
    server: RecordingServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = Posthog("phc", host=server.url, flush_interval=0.01)
    with caplog.at_level(logging.INFO, logger="posthog"):
        client.capture("quiet", distinct_id="u")
        assert client.flush(10)
    client.shutdown()
    assert [r for r in caplog.records if r.name == "posthog"] == []
