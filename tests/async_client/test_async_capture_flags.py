"""AsyncPosthog ``send_feature_flags``: a capture never waits for the network, in any call
style (keyword, legacy positional, ``capture_exception``). Flag properties come from the
definitions already loaded; without any, the event goes out without them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from async_support import DEFINITIONS, Heartbeat, flags_reply

import posthog
from posthog import AsyncPosthog
from support.recording_server import Recorded, RecordingServer, Reply

PRO = {"person_properties": {"plan": "pro"}}


def slow_flags(rec: Recorded) -> Reply:
    """Definitions at once; a remote ``/flags`` answer only after a full second."""
    if rec.path.startswith("/flags/definitions"):
        return Reply(200, DEFINITIONS, headers={"ETag": '"v1"'})
    if rec.path.startswith("/flags/?"):
        return Reply(200, flags_reply(str(rec.json()["distinct_id"])), delay=1.0)
    return Reply()


def run_captures(
    server: RecordingServer, capture: Callable[[AsyncPosthog], None], **kw: Any
) -> Heartbeat:
    """Load definitions over HTTP (unless ``flag_definitions`` is given), then capture
    under a heartbeat and deliver."""

    async def main() -> Heartbeat:
        client = AsyncPosthog("phc_async", host=server.url, flush_interval=0.05, **kw)
        if "personal_api_key" in kw:
            await client.load_feature_flags()
        async with Heartbeat() as beat:
            capture(client)
            await asyncio.sleep(0.05)  # a few ticks after the capture returned
        assert await client.flush(5)
        await client.shutdown()
        return beat

    return asyncio.run(main())


def remote_flag_calls(server: RecordingServer) -> list[Recorded]:
    return [r for r in server.requests if r.path.startswith("/flags/?")]


def test_legacy_positional_capture_uses_loaded_definitions_without_blocking() -> None:
    with RecordingServer(slow_flags) as server:
        beat = run_captures(
            server,
            lambda c: c.capture("u1", "legacy", {"page": "home"}, send_feature_flags=PRO),
            personal_api_key="phx_secret",
        )
        [event] = server.wait_for_events(1)
        assert remote_flag_calls(server) == []
    assert beat.max_gap < 0.3
    props = event["properties"]
    assert event["event"] == "legacy" and event["distinct_id"] == "u1"
    assert props["page"] == "home"
    assert props["$feature/local-flag"] is True and props["$feature/everyone"] is True


def test_capture_exception_uses_loaded_definitions_without_blocking() -> None:
    def capture(client: AsyncPosthog) -> None:
        try:
            raise ValueError("boom")
        except ValueError as exc:
            client.capture_exception(exc, "u2", send_feature_flags=True)

    with RecordingServer(slow_flags) as server:
        beat = run_captures(server, capture, personal_api_key="phx_secret")
        [event] = server.wait_for_events(1)
        assert remote_flag_calls(server) == []
    assert beat.max_gap < 0.3
    props = event["properties"]
    assert event["event"] == "$exception"
    assert props["$feature/everyone"] is True
    assert "$feature/local-flag" not in props  # needs "plan": only the server could decide


def test_without_definitions_the_event_goes_out_without_flags() -> None:
    def capture(client: AsyncPosthog) -> None:
        client.capture("keyword", distinct_id="u3", send_feature_flags=True)
        client.capture("u3", "positional", None, send_feature_flags=True)

    with RecordingServer(slow_flags) as server:
        beat = run_captures(server, capture)
        events = server.wait_for_events(2)
        assert remote_flag_calls(server) == []
    assert beat.max_gap < 0.3
    assert sorted(e["event"] for e in events) == ["keyword", "positional"]
    for event in events:
        assert not any(k.startswith("$feature/") for k in event["properties"])
        assert "$active_feature_flags" not in event["properties"]


def test_context_distinct_id_gets_local_flags() -> None:
    def capture(client: AsyncPosthog) -> None:
        with posthog.new_context():
            posthog.identify_context("u4")
            client.capture("in context", send_feature_flags=PRO)

    with RecordingServer(slow_flags) as server:
        run_captures(server, capture, flag_definitions=DEFINITIONS)
        [event] = server.wait_for_events(1)
    assert event["distinct_id"] == "u4"
    assert event["properties"]["$feature/local-flag"] is True
