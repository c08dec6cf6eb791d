"""AsyncPosthog events: same wire shape as the sync client, delivered by a task on the
loop; flush/shutdown are awaitable and never block the loop; the end of ``asyncio.run()``
and of the interpreter deliver what is queued."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
from typing import Any

from async_support import Hold, LoopTurns

import posthog
from posthog import AsyncPosthog, MockTransport, Response
from support.recording_server import RecordingServer, Reply

TASK_NAME = "posthog-async-delivery"


def make(server: RecordingServer, **kw: Any) -> AsyncPosthog:
    return AsyncPosthog("phc_async", host=server.url, flush_interval=0.05, **kw)


def test_importing_posthog_does_not_import_httpx() -> None:
    code = "import sys, posthog; assert 'httpx' not in sys.modules; print('ok')"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "ok", out.stderr


def test_capture_and_flush_same_wire_shape_as_sync(server: RecordingServer) -> None:
    async def main() -> str | None:
        client = make(server, super_properties={"app": "demo"})
        ident = client.capture("movie played", distinct_id="u1", properties={"movie": "x"})
        client.identify("u1", {"email": "a@example.com"})
        assert await client.flush(5)
        await client.shutdown()
        return ident

    ident = asyncio.run(main())
    events = {e["event"]: e for e in server.wait_for_events(2)}
    played = events["movie played"]
    assert played["uuid"] == ident and played["distinct_id"] == "u1"
    props = played["properties"]
    assert props["movie"] == "x" and props["app"] == "demo"
    assert props["$lib"] == "hogwire" and "$os" in props
    assert events["$identify"]["$set"] == {"email": "a@example.com"}
    body = server.batches()[0]
    assert set(body) == {"batch", "historical_migration", "sent_at", "api_key"}
    assert body["api_key"] == "phc_async"


def test_context_follows_tasks(server: RecordingServer) -> None:
    async def request(client: AsyncPosthog, user: str) -> None:
        with posthog.new_context():
            posthog.identify_context(user)
            posthog.set_context_session(f"s-{user}")
            await asyncio.sleep(0.01)  # interleave with the other "request"
            client.capture("step")

    async def main() -> None:
        client = make(server)
        await asyncio.gather(*(request(client, u) for u in ("a", "b", "c")))
        client.capture("no context")
        await client.shutdown()

    asyncio.run(main())
    events = server.wait_for_events(4)
    steps = sorted(
        (e["distinct_id"], e["properties"]["$session_id"])
        for e in events[:4]
        if e["event"] == "step"
    )
    assert steps == [("a", "s-a"), ("b", "s-b"), ("c", "s-c")]
    [loose] = [e for e in events if e["event"] == "no context"]
    assert loose["properties"]["$process_person_profile"] is False


def test_flush_never_blocks_the_loop_while_the_server_holds_the_batch() -> None:
    turns = LoopTurns()  # the server answers only once the loop has turned meanwhile
    with RecordingServer(turns.gate(lambda r: Reply())) as server:

        async def main() -> tuple[bool, AsyncPosthog]:
            async with turns:
                client = make(server)
                client.capture("held", distinct_id="u")
                done = await client.flush(5)
                await client.shutdown()
            return done, client

        done, client = asyncio.run(main())
        assert [e["event"] for e in server.events()] == ["held"]
    assert done
    assert (turns.waits, turns.stalls) == (1, 0)  # the loop turned while the batch was held
    stats = client.stats()
    assert stats.sent == 1 and stats.retried == 0  # answered on the first attempt


def test_end_of_asyncio_run_delivers_queued_events(server: RecordingServer) -> None:
    async def main() -> AsyncPosthog:
        client = AsyncPosthog("phc_async", host=server.url, flush_interval=60, flush_at=1000)
        for n in range(5):
            client.capture("queued", distinct_id=f"u{n}")
        await asyncio.sleep(0)
        return client  # no flush: asyncio.run() cancels the delivery task

    client = asyncio.run(main())
    assert len(server.events()) == 5  # delivered before asyncio.run returned
    assert client.stats().sent == 5


def test_events_captured_with_no_loop_are_delivered_at_interpreter_exit(
    server: RecordingServer,
) -> None:
    script = textwrap.dedent(
        f"""
        from posthog import AsyncPosthog
        client = AsyncPosthog("phc_async", host={server.url!r}, flush_interval=60)
        client.capture("before any loop", distinct_id="u1")
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    [event] = server.wait_for_events(1, timeout=5)
    assert event["event"] == "before any loop"


def test_retry_policy_is_the_sync_one() -> None:
    answers = iter([Reply(503, {"detail": "busy"}), Reply()])
    with RecordingServer(lambda r: next(answers, Reply())) as server:

        async def main() -> AsyncPosthog:
            client = make(server)
            client.capture("retried", distinct_id="u")
            assert await client.flush(10)
            await client.shutdown()
            return client

        client = asyncio.run(main())
        assert [r.status for r in server.requests] == [503, 200]
    stats = client.stats()
    assert stats.sent == 1 and stats.retried == 1


def test_shutdown_drops_later_events_with_a_reason(server: RecordingServer) -> None:
    async def main() -> AsyncPosthog:
        client = make(server)
        client.capture("before", distinct_id="u")
        await client.shutdown()
        assert client.capture("after", distinct_id="u") is None
        await client.shutdown()  # idempotent
        return client

    client = asyncio.run(main())
    assert [e["event"] for e in server.events()] == ["before"]
    assert client.stats().dropped.get("shutdown") == 1


def test_a_sync_transport_runs_off_the_loop() -> None:
    seen: list[str] = []

    def handler(request: Any) -> Response:
        seen.append(request.url)
        return Response(200, {}, b'{"status": 1}')

    async def main() -> None:
        client = AsyncPosthog(
            "phc", host="http://example.invalid", transport=MockTransport(handler)
        )
        client.capture("through the mock", distinct_id="u")
        assert await client.flush(5)
        await client.shutdown()

    asyncio.run(main())
    assert seen == ["http://example.invalid/batch/"]


def test_used_again_under_a_second_asyncio_run(server: RecordingServer) -> None:
    client = make(server)

    async def once(name: str) -> None:
        client.capture(name, distinct_id="u")
        assert await client.flush(5)

    asyncio.run(once("first"))
    asyncio.run(once("second"))
    assert [e["event"] for e in server.wait_for_events(2)] == ["first", "second"]


def test_fastapi_lifespan_and_middleware(server: RecordingServer) -> None:
    import contextlib
    import warnings
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

    from posthog.integrations.asgi import PosthogASGIMiddleware

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

    client = AsyncPosthog("phc_async", host=server.url, flush_interval=60)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await client.shutdown()  # the documented place: delivers what is queued

    app = FastAPI(lifespan=lifespan)

    @app.get("/")
    async def home() -> dict[str, Any]:
        client.capture("home")
        return {"flag": await client.get_feature_flag("beta", "u2")}

    app.add_middleware(PosthogASGIMiddleware, client=client)
    server.responder = lambda r: (
        Reply(200, {"flags": {"beta": {"key": "beta", "enabled": True}}})
        if r.path.startswith("/flags")
        else Reply()
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
        with TestClient(app) as browser:
            response = browser.get("/", headers={"X-POSTHOG-DISTINCT-ID": "u2"})
            assert response.json() == {"flag": True}
            assert server.events() == []  # flush_interval is 60 s: nothing sent yet
    events = {e["event"]: e for e in server.wait_for_events(2)}  # sent by the lifespan's end
    assert events["home"]["distinct_id"] == "u2"
    assert events["$feature_flag_called"]["properties"]["$feature_flag_response"] is True


def test_shutdown_out_of_time_counts_what_it_could_not_send() -> None:
    # The batch is answered only after shutdown returned, or after 4 s: between the
    # 0.3 s shutdown_timeout and the 5 s default, and short of the 15 s request timeout.
    hold = Hold(lambda r: Reply(), patience=4.0)
    with RecordingServer(hold) as server:

        async def main() -> AsyncPosthog:
            client = make(server, shutdown_timeout=0.3)
            client.capture("stuck", distinct_id="u")
            assert await asyncio.to_thread(hold.wait_held, 1)  # the batch is in flight
            await client.shutdown()
            return client

        try:
            client = asyncio.run(main())
        finally:
            hold.release()
    assert (hold.held, hold.ran_out) == (1, 0)  # shutdown gave up while the batch was held
    stats = client.stats()
    assert stats.dropped.get("shutdown") == 1 and stats.sent == 0 and stats.pending == 0


def count_named(server: RecordingServer, name: str) -> int:
    return len([e for e in server.events() if e["event"] == name])


async def wait_named(server: RecordingServer, name: str, count: int, bound: float) -> int:
    """Poll (without blocking the loop) until ``count`` events called ``name`` arrived."""
    deadline = asyncio.get_running_loop().time() + bound
    while count_named(server, name) < count and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    return count_named(server, name)


def test_captures_off_the_loop_thread_wake_the_delivery_task(server: RecordingServer) -> None:
    """Every capture happens in ``asyncio.to_thread`` (as in a sync endpoint's thread pool);
    flush_interval is 60 s, so only the nudge from those threads can deliver them."""

    async def main() -> tuple[int, int]:
        client = AsyncPosthog("phc_async", host=server.url, flush_interval=60, flush_at=5)

        def work(first: int) -> None:
            for n in range(first, first + 5):
                client.capture("threaded", distinct_id=f"u{n}")

        await asyncio.to_thread(work, 0)
        first = await wait_named(server, "threaded", 5, 5)
        await asyncio.gather(*(asyncio.to_thread(work, n) for n in (100, 200)))
        second = await wait_named(server, "threaded", 15, 5)
        await client.shutdown()
        return first, second

    assert asyncio.run(main()) == (5, 15)  # each full batch went out before any flush


def test_captures_from_another_threads_loop_leave_the_task_where_it_runs(
    server: RecordingServer,
) -> None:
    """A thread runs its own long-lived loop and captures too, turn about with the main
    loop: one delivery task, on the loop that first captured, wakes for both."""
    other = asyncio.new_event_loop()
    thread = threading.Thread(target=other.run_forever, daemon=True)
    thread.start()

    def delivery_tasks(loop: asyncio.AbstractEventLoop) -> int:
        return len([t for t in asyncio.all_tasks(loop) if t.get_name() == TASK_NAME])

    async def main() -> tuple[int, int, int]:
        client = AsyncPosthog("phc_async", host=server.url, flush_interval=60, flush_at=2)

        async def capture_there(n: int) -> int:
            client.capture("turns", distinct_id=f"other-{n}")
            return delivery_tasks(other)

        on_other = 0
        for n in range(4):
            client.capture("turns", distinct_id=f"main-{n}")
            future = asyncio.run_coroutine_threadsafe(capture_there(n), other)
            on_other += await asyncio.wrap_future(future)
        delivered = await wait_named(server, "turns", 8, 5)  # every pair filled a batch
        here = delivery_tasks(asyncio.get_running_loop())
        await client.shutdown()
        return delivered, here, on_other

    try:
        assert asyncio.run(main()) == (8, 1, 0)
    finally:
        other.call_soon_threadsafe(other.stop)
        thread.join(5)
        other.close()
