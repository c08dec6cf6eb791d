"""AsyncPosthog ``send_feature_flags``: a capture never waits for the network, in any call
style (keyword, legacy positional, ``capture_exception``). Flag properties come from the
definitions already loaded; without any, the event goes out without them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from async_support import DEFINITIONS, LoopTurns, flags_reply

import posthog
from posthog import AsyncPosthog
from support.recording_server import Recorded, RecordingServer, Reply

PRO = {"person_properties": {"plan": "pro"}}


def flag_answers(rec: Recorded) -> Reply:
    """Definitions, and remote ``/flags`` answers (which a capture must never ask for)."""
    if rec.path.startswith("/flags/definitions"):
        return Reply(200, DEFINITIONS, headers={"ETag": '"v1"'})
    if rec.path.startswith("/flags/?"):
        return Reply(200, flags_reply(str(rec.json()["distinct_id"])))
    return Reply()


def run_captures(
    server: RecordingServer, turns: LoopTurns, capture: Callable[[AsyncPosthog], None], **kw: Any
) -> None:
    """Load definitions over HTTP (unless ``flag_definitions`` is given), capture and
    deliver, all while ``turns`` counts the loop's turns.

    The server (gated by ``turns``) holds every request until the loop has turned: a
    capture waiting on the network from the loop would stall it. The flag timeout is
    longer than the gate's patience, so such a wait could not end before the stall.
    """

    async def main() -> None:
        async with turns:
            client = AsyncPosthog(
                "phc_async",
                host=server.url,
                flush_interval=0.05,
                feature_flags_request_timeout_seconds=20,
                **kw,
            )
            if "personal_api_key" in kw:
                await client.load_feature_flags()
            capture(client)
            assert await client.flush(5)
            await client.shutdown()

    asyncio.run(main())


def remote_flag_calls(server: RecordingServer) -> list[Recorded]:
    return [r for r in server.requests if r.path.startswith("/flags/?")]


def test_legacy_positional_capture_uses_loaded_definitions_without_blocking() -> None:
    turns = LoopTurns()
    with RecordingServer(turns.gate(flag_answers)) as server:
        run_captures(
            server,
            turns,
            lambda c: c.capture("u1", "legacy", {"page": "home"}, send_feature_flags=PRO),
            personal_api_key="phx_secret",
        )
        [event] = server.wait_for_events(1)
        assert remote_flag_calls(server) == []
        # every request was held until the loop turned, and none stalled
        assert (turns.waits, turns.stalls) == (len(server.requests), 0)
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

    turns = LoopTurns()
    with RecordingServer(turns.gate(flag_answers)) as server:
        run_captures(server, turns, capture, personal_api_key="phx_secret")
        [event] = server.wait_for_events(1)
        assert remote_flag_calls(server) == []
        # every request was held until the loop turned, and none stalled
        assert (turns.waits, turns.stalls) == (len(server.requests), 0)
    props = event["properties"]
    assert event["event"] == "$exception"
    assert props["$feature/everyone"] is True
    assert "$feature/local-flag" not in props  # needs "plan": only the server could decide


def test_without_definitions_the_event_goes_out_without_flags() -> None:
    def capture(client: AsyncPosthog) -> None:
        client.capture("keyword", distinct_id="u3", send_feature_flags=True)
        client.capture("u3", "positional", None, send_feature_flags=True)

    turns = LoopTurns()
    with RecordingServer(turns.gate(flag_answers)) as server:
        run_captures(server, turns, capture)
        events = server.wait_for_events(2)
        assert remote_flag_calls(server) == []
        # every request was held until the loop turned, and none stalled
        assert (turns.waits, turns.stalls) == (len(server.requests), 0)
    assert sorted(e["event"] for e in events) == ["keyword", "positional"]
    for event in events:
        assert not any(k.startswith("$feature/") for k in event["properties"])
        assert "$active_feature_flags" not in event["properties"]


def test_context_distinct_id_gets_local_flags() -> None:
    def capture(client: AsyncPosthog) -> None:
        with posthog.new_context():
            posthog.identify_context("u4")
            client.capture("in context", send_feature_flags=PRO)

    turns = LoopTurns()
    with RecordingServer(turns.gate(flag_answers)) as server:
        run_captures(server, turns, capture, flag_definitions=DEFINITIONS)
        [event] = server.wait_for_events(1)
    assert event["distinct_id"] == "u4"
    assert event["properties"]["$feature/local-flag"] is True
