"""Contexts follow asyncio tasks and threads started with a copied context; ``scoped``
works on sync and async functions; ``$window_id`` rides along with ``$session_id``."""

from __future__ import annotations

import asyncio
import contextvars
import threading

from integration_support import events_named

import posthog
from posthog import Posthog
from posthog.contexts import get_context_window_id, set_context_window_id
from support.recording_server import RecordingServer


def test_threads_with_copied_context_and_window_id(
    server: RecordingServer, client: Posthog
) -> None:
    with posthog.new_context():
        posthog.identify_context("u1")
        posthog.set_context_session("s1")
        set_context_window_id("w1")
        posthog.tag("plan", "pro")
        assert get_context_window_id() == "w1"
        ctx = contextvars.copy_context()
        worker = threading.Thread(target=ctx.run, args=(client.capture, "from thread"))
        worker.start()
        worker.join(5)
        bare = threading.Thread(target=client.capture, args=("bare thread",))
        bare.start()
        bare.join(5)
    [copied] = events_named(server, client, "from thread", 1)
    [plain] = events_named(server, client, "bare thread", 1)
    assert copied["distinct_id"] == "u1"
    props = copied["properties"]
    assert (props["$session_id"], props["$window_id"], props["plan"]) == ("s1", "w1", "pro")
    assert props["$context_tags"] == ["plan"]
    assert plain["properties"]["$process_person_profile"] is False  # no context there


def test_scoped_sync_and_async_and_fresh(server: RecordingServer, client: Posthog) -> None:
    @posthog.scoped()
    def sync_job() -> None:
        posthog.tag("job", "sync")
        client.capture("sync job")

    @posthog.scoped(fresh=True)
    async def async_job(n: int) -> None:
        posthog.identify_context(f"a{n}")
        await asyncio.sleep(0.01)
        client.capture("async job")

    async def main() -> None:
        await asyncio.gather(*(async_job(n) for n in range(3)))

    with posthog.new_context():
        posthog.identify_context("outer")
        posthog.tag("outer_tag", 1)
        sync_job()
        asyncio.run(main())
        assert posthog.get_tags() == {"outer_tag": 1}  # the inner scopes are gone
    [sync_event] = events_named(server, client, "sync job", 1)
    assert sync_event["distinct_id"] == "outer"  # parent values are visible...
    assert sync_event["properties"]["job"] == "sync"
    assert sync_event["properties"]["outer_tag"] == 1
    jobs = events_named(server, client, "async job", 3)
    assert sorted(e["distinct_id"] for e in jobs) == ["a0", "a1", "a2"]
    assert all("outer_tag" not in e["properties"] for e in jobs)  # ...unless fresh
