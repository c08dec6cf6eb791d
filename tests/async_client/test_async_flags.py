"""AsyncPosthog flags: remote /flags through httpx without blocking the loop (1,000 at
once), correct values and timeouts, local evaluation from definitions loaded with an
awaitable GET, snapshots and $feature_flag_called through the normal event path."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from typing import Any

from async_support import DEFINITIONS, Hold, LoopTurns, flags_responder, roomy

from posthog import AsyncPosthog
from posthog._transport import Request, Response
from posthog._transport.asynchronous import HTTPXTransport
from support.recording_server import Recorded, RecordingServer, Reply


def make(server: RecordingServer, **kw: Any) -> AsyncPosthog:
    return AsyncPosthog("phc_async", host=server.url, flush_interval=0.05, **kw)


def test_thousand_concurrent_remote_evaluations_never_block_the_loop() -> None:
    turns = LoopTurns()
    with roomy(RecordingServer(turns.gate(flags_responder(), "/flags/?"))) as server:

        async def main() -> list[Any]:
            client = make(server, feature_flags_request_timeout_seconds=20)
            async with turns:
                values = await asyncio.gather(
                    *(client.get_feature_flag("beta", f"user-{n}") for n in range(1000))
                )
            assert await client.flush(10)
            await client.shutdown()
            return values

        values = asyncio.run(main())
        flag_requests = [r for r in server.requests if r.path.startswith("/flags/")]
        called = [e for e in server.events() if e["event"] == "$feature_flag_called"]
    assert values == [n % 2 == 0 for n in range(1000)]
    assert len(flag_requests) == 1000
    assert flag_requests[0].json()["flag_keys_to_evaluate"] == ["beta"]
    assert (turns.waits, turns.stalls) == (1000, 0)  # the loop turned during every request
    assert len(called) == 1000
    first = next(e for e in called if e["distinct_id"] == "user-0")
    assert first["properties"]["$feature_flag_response"] is True
    assert first["properties"]["$feature_flag_request_id"] == "req-user-0"
    assert first["properties"]["locally_evaluated"] is False


def slow(rec: Recorded) -> bool:
    return rec.path.startswith("/flags/?") and str(rec.json()["distinct_id"]).startswith("slow")


def test_a_flag_call_ends_at_its_timeout_while_the_server_holds_it() -> None:
    """The server holds every request until all the calls have returned, so each can only
    end by its own timeout; the transport is asked for exactly the configured 0.4 s."""
    turns, hold, transport = LoopTurns(), Hold(flags_responder(), slow), CountingHTTPX()
    with roomy(RecordingServer(turns.gate(hold, "/flags/?"))) as server:

        async def main() -> list[Any]:
            client = make(
                server,
                feature_flags_request_timeout_seconds=0.4,
                feature_flags_request_max_retries=0,
                transport=transport,
            )
            async with turns:
                try:
                    results = await asyncio.gather(
                        *(client.get_feature_flag_result("beta", f"slow-{n}") for n in range(10))
                    )
                finally:
                    hold.release()
                await client.shutdown()
            return results

        results = asyncio.run(main())
    assert all(r.get_value() is None and r.error == "timeout" for r in results)
    assert (hold.held, hold.ran_out) == (10, 0)  # none waited for the server's answer
    assert {r.timeout for r in transport.requests if "/flags/?" in r.url} == {0.4}
    assert (turns.waits, turns.stalls) == (10, 0)  # the loop turned during every request


def test_held_requests_do_not_hold_up_other_calls() -> None:
    """Ten requests are held at the server until ten other calls have returned: had those
    waited behind the held ones, the hold would have run out instead."""
    turns, hold = LoopTurns(), Hold(flags_responder(), slow)
    with roomy(RecordingServer(turns.gate(hold, "/flags/?"))) as server:

        async def main() -> tuple[list[Any], list[Any]]:
            client = make(server, feature_flags_request_timeout_seconds=20)
            async with turns:
                try:
                    held = asyncio.gather(
                        *(client.get_feature_flag("beta", f"slow-{n}") for n in range(10))
                    )
                    assert await asyncio.to_thread(hold.wait_held, 10)
                    others = await asyncio.gather(
                        *(client.get_feature_flag("beta", f"u{n}") for n in range(10))
                    )
                finally:
                    hold.release()
                late = await held
                await client.shutdown()
            return others, late

        others, late = asyncio.run(main())
    assert others == [n % 2 == 0 for n in range(10)]
    assert late == [n % 2 == 0 for n in range(10)]  # answered once released
    assert (hold.held, hold.ran_out) == (10, 0)
    assert (turns.waits, turns.stalls) == (20, 0)  # the loop turned during every request


def test_local_evaluation_from_definitions_loaded_over_http(server: RecordingServer) -> None:
    def respond(rec: Recorded) -> Reply:
        if rec.path.startswith("/flags/definitions"):
            return Reply(200, DEFINITIONS, headers={"ETag": '"v1"'})
        return Reply()

    server.responder = respond

    async def main() -> tuple[Any, ...]:
        client = make(server, personal_api_key="phx_secret")
        await client.load_feature_flags()
        pro = await client.get_feature_flag_result(
            "local-flag", "u1", person_properties={"plan": "pro"}
        )
        free = await client.feature_enabled("local-flag", "u2", person_properties={"plan": "free"})
        payload = await client.get_feature_flag_payload(
            "local-flag", "u1", person_properties={"plan": "pro"}
        )
        both = await client.get_all_flags_and_payloads("u1", person_properties={"plan": "pro"})
        definitions = client.feature_flag_definitions()
        await client.shutdown()
        return pro, free, payload, both, definitions

    pro, free, payload, both, definitions = asyncio.run(main())
    assert pro.get_value() is True and pro.locally_evaluated and pro.payload == {"discount": 10}
    assert free is False
    assert payload == {"discount": 10}
    assert both["featureFlags"] == {"local-flag": True, "everyone": True}
    assert both["featureFlagPayloads"] == {"local-flag": '{"discount": 10}'}
    assert definitions is not None and {d["key"] for d in definitions} == {"local-flag", "everyone"}
    paths = [r.path for r in server.requests]
    assert not any(p.startswith("/flags/?") for p in paths)  # nothing went remote
    defs = next(r for r in server.requests if r.path.startswith("/flags/definitions"))
    assert defs.headers["authorization"] == "Bearer phx_secret"


def test_snapshot_and_capture_with_flags(server: RecordingServer) -> None:
    server.responder = flags_responder()

    async def main() -> None:
        client = make(server)
        snapshot = await client.evaluate_flags("u2")
        assert snapshot.get_flag("color") == "blue"
        assert snapshot.is_enabled("beta") is True
        client.capture("checkout", distinct_id="u2", flags=snapshot)
        everything = await client.get_all_flags("u3")
        assert everything == {"beta": False, "color": "blue"}
        assert await client.flush(5)
        await client.shutdown()

    asyncio.run(main())
    events = {e["event"]: e for e in server.events()}
    props = events["checkout"]["properties"]
    assert props["$feature/color"] == "blue" and props["$active_feature_flags"] == ["beta", "color"]
    assert events["$feature_flag_called"]["distinct_id"] == "u2"
    flag_calls = [r.json() for r in server.requests if r.path.startswith("/flags/?")]
    assert len(flag_calls) == 2 and "flag_keys_to_evaluate" not in flag_calls[0]


def test_send_feature_flags_uses_local_definitions_only(server: RecordingServer) -> None:
    async def main() -> None:
        client = make(server, flag_definitions=DEFINITIONS)
        client.capture(
            "with flags",
            distinct_id="u1",
            send_feature_flags={"person_properties": {"plan": "pro"}},
        )
        assert await client.flush(5)
        await client.shutdown()

    asyncio.run(main())
    [event] = server.events()
    assert event["properties"]["$feature/local-flag"] is True
    # definition order, as the sync client sends it (spec 5.7); only flags= snapshots sort
    assert event["properties"]["$active_feature_flags"] == ["local-flag", "everyone"]
    assert all(r.path.startswith("/batch/") for r in server.requests)  # no /flags call


def test_errors_become_values(server: RecordingServer) -> None:
    server.responder = lambda r: Reply(500, {"detail": "boom"}) if "/flags" in r.path else Reply()

    async def main() -> tuple[Any, ...]:
        client = make(server, feature_flags_request_max_retries=0)
        result = await client.get_feature_flag_result("beta", "u1")
        value = await client.get_feature_flag("beta", "u1")
        everything = await client.get_all_flags("u1")
        missing_id = await client.get_feature_flag_result("beta")
        await client.shutdown()
        return result, value, everything, missing_id

    result, value, everything, missing_id = asyncio.run(main())
    assert result.get_value() is None and result.error == "api_error_500"
    assert value is None and everything == {}  # spec 2.3/5.1: a dict, empty
    assert missing_id.error == "missing_distinct_id"


class CountingHTTPX:
    """The real httpx transport behind the public seam, counting the requests it gets."""

    def __init__(self) -> None:
        self.inner = HTTPXTransport()
        self.requests: list[Request] = []

    async def request(self, request: Request) -> Response:
        self.requests.append(request)
        return await self.inner.request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_a_refused_connection_is_tried_once() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"  # closed again when the block ends
    transport = CountingHTTPX()

    async def main() -> Any:
        client = AsyncPosthog("phc_async", host=url, send=False, transport=transport)
        result = await client.get_feature_flag_result("beta", "u1")
        await client.shutdown()
        return result

    result = asyncio.run(main())
    assert result.get_value() is None and result.error == "connection_error"
    assert [r.url for r in transport.requests] == [f"{url}/flags/?v=2"]


def definition_calls(server: RecordingServer) -> list[Recorded]:
    return [r for r in server.requests if r.path.startswith("/flags/definitions")]


def test_definitions_from_a_file_never_go_remote(server: RecordingServer) -> None:
    async def main() -> tuple[Any, ...]:
        client = make(server, flag_definitions=DEFINITIONS, personal_api_key="phx_s", send=False)
        inconclusive = await client.get_feature_flag_result("local-flag", "u1")  # no plan given
        missing = await client.get_feature_flag_result("nope", "u1")
        everything = await client.get_all_flags_and_payloads("u1")
        snapshot = await client.evaluate_flags("u1", flag_keys=["local-flag", "nope"])
        await client.shutdown()
        return inconclusive, missing, everything, snapshot

    inconclusive, missing, everything, snapshot = asyncio.run(main())
    assert inconclusive.get_value() is None
    assert inconclusive.error == "local_evaluation_inconclusive"
    assert missing.get_value() is None and missing.error == "flag_missing"
    assert everything["featureFlags"] == {"everyone": True}
    assert snapshot.error is None and list(snapshot.unresolved_flags) == ["local-flag"]
    assert server.requests == []


def test_repeated_auth_failures_back_off(server: RecordingServer) -> None:
    server.responder = lambda r: Reply(403, {"detail": "no"}) if "/flags" in r.path else Reply()

    async def main() -> bool:
        client = make(server, personal_api_key="phx_s", poll_interval=0.05, send=False)
        await client.load_feature_flags()
        arrived = await asyncio.to_thread(
            server.wait_for, lambda s: len(definition_calls(s)) >= 5, 5.0
        )
        await client.shutdown()
        return arrived

    assert asyncio.run(main())
    at = [r.at for r in definition_calls(server)][:5]
    gaps = [b - a for a, b in itertools.pairwise(at)]
    # 50, 100, 200, 400 ms: each wait doubles. Lower bounds only: each wait starts once the
    # previous answer arrived, so a loaded machine makes the gaps longer, never shorter
    assert all(gap >= 0.9 * 0.05 * 2**k for k, gap in enumerate(gaps)), gaps


def test_a_failed_first_load_is_retried_by_flag_calls(server: RecordingServer) -> None:
    answers = iter([Reply(503, {"detail": "down"})])

    def respond(rec: Recorded) -> Reply:
        if rec.path.startswith("/flags/definitions"):
            return next(answers, Reply(200, DEFINITIONS, headers={"ETag": '"v1"'}))
        return Reply()

    server.responder = respond

    async def main() -> Any:
        client = make(
            server, personal_api_key="phx_s", send=False, feature_flags_request_timeout_seconds=0.2
        )
        first = await client.get_feature_flag_result("everyone", "u1", only_evaluate_locally=True)
        assert first.get_value() is None  # the first load failed
        deadline = time.monotonic() + 10  # a bound on the wait, well short of the 30 s poll
        result = first
        while not result.locally_evaluated or result.get_value() is None:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0)  # let the loop turn; the call itself retries the load
            result = await client.get_feature_flag_result(
                "everyone", "u1", only_evaluate_locally=True
            )
        await client.shutdown()
        return result

    result = asyncio.run(main())
    assert result.get_value() is True and result.locally_evaluated  # not left to the poll
    assert len(definition_calls(server)) == 2  # one retry, not one per call
