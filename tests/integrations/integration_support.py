"""Helpers shared by the framework integration tests."""

from __future__ import annotations

from typing import Any

from support.recording_server import RecordingServer


def events_named(server: RecordingServer, client: Any, name: str, count: int) -> list[Any]:
    """Flush, then wait (bounded) until ``count`` events called ``name`` have arrived."""
    assert client.flush(5)
    server.wait_for(lambda s: len([e for e in s.events() if e["event"] == name]) >= count, 5)
    return [e for e in server.events() if e["event"] == name]


TRACING = {
    "X-POSTHOG-SESSION-ID": "sess-1",
    "X-POSTHOG-WINDOW-ID": "win-1",
    "X-POSTHOG-DISTINCT-ID": "browser-person",
    "User-Agent": "pytest-agent/1.0",
}
