"""Celery: the caller's context travels with a task to a real worker (in-memory broker;
solo and prefork pools), the task's events arrive with that context, and a failing task
becomes an $exception event."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery, signals
from celery.contrib.testing.worker import start_worker

import posthog
from posthog import Posthog
from posthog.integrations.celery import PosthogCeleryIntegration, context_headers
from support.recording_server import RecordingServer, Reply

CLIENTS: dict[str, Posthog] = {}


def make_app(name: str) -> Celery:
    app = Celery(name, broker="memory://", backend="cache+memory://")
    app.conf.update(
        task_always_eager=False,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=False,
        broker_transport_options={"polling_interval": 0.05},
    )

    @app.task(name=f"{name}.charge")
    def charge(amount: int) -> int:
        CLIENTS["current"].capture("charged", properties={"amount": amount, "pid": os.getpid()})
        return amount

    @app.task(name=f"{name}.fail")
    def fail() -> None:
        raise ZeroDivisionError("bad maths")

    return app


@pytest.fixture
def integration(server: RecordingServer) -> Iterator[tuple[Posthog, PosthogCeleryIntegration]]:
    client = Posthog("phc_test", host=server.url, flush_interval=30)  # only flushes deliver
    CLIENTS["current"] = client
    ph = PosthogCeleryIntegration(client=client, capture_task_lifecycle_events=True).instrument()
    yield client, ph
    ph.uninstrument()
    client.shutdown()


def wait_named(server: RecordingServer, name: str, count: int = 1) -> list[Any]:
    server.wait_for(lambda s: len([e for e in s.events() if e["event"] == name]) >= count, 15)
    return [e for e in server.events() if e["event"] == name]


def publish_in_context(app: Celery) -> None:
    with posthog.new_context():
        posthog.identify_context("caller-7")
        posthog.set_context_session("sess-7")
        posthog.tag("plan", "pro")
        assert context_headers()["X-POSTHOG-DISTINCT-ID"] == "caller-7"
        app.tasks[f"{app.main}.charge"].delay(12)
        app.tasks[f"{app.main}.fail"].delay()


def assert_caller_context(server: RecordingServer) -> dict[str, Any]:
    [charged, *_] = wait_named(server, "charged")
    assert charged["distinct_id"] == "caller-7"
    assert charged["properties"]["$session_id"] == "sess-7"
    assert charged["properties"]["plan"] == "pro"
    assert charged["properties"]["amount"] == 12
    assert "$request_path" not in charged["properties"]
    [error] = wait_named(server, "$exception")
    assert error["distinct_id"] == "caller-7"
    assert error["properties"]["$exception_list"][0]["type"] == "ZeroDivisionError"
    return charged


def test_solo_worker_restores_caller_context_and_flushes_at_task_end(
    server: RecordingServer, integration: tuple[Posthog, PosthogCeleryIntegration]
) -> None:
    app = make_app("solo_app")
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=5):
        publish_in_context(app)
        assert_caller_context(server)  # flush_interval is 30 s: the task end flushed
        [started, _] = wait_named(server, "celery task started", 2)
        assert started["properties"]["celery_task_name"].startswith("solo_app.")
        published = wait_named(server, "celery task published", 2)
        assert {e["distinct_id"] for e in published} == {"caller-7"}  # sent in the caller
        [success] = wait_named(server, "celery task success")
        assert success["properties"]["celery_task_name"] == "solo_app.charge"
        assert success["distinct_id"] == "caller-7"
        [failure] = wait_named(server, "celery task failure")
        assert failure["properties"]["celery_exception_type"] == "ZeroDivisionError"
        app.tasks["solo_app.charge"].delay(1)  # published outside any context
        plain = [e for e in wait_named(server, "charged", 2) if e["properties"]["amount"] == 1]
    assert plain[0]["properties"]["$process_person_profile"] is False
    assert "$session_id" not in plain[0]["properties"]


def test_prefork_worker_delivers_events_from_child_processes(
    server: RecordingServer, integration: tuple[Posthog, PosthogCeleryIntegration]
) -> None:
    app = make_app("prefork_app")
    with start_worker(
        app, pool="prefork", concurrency=1, perform_ping_check=False, shutdown_timeout=10
    ):
        publish_in_context(app)
        charged = assert_caller_context(server)
    assert charged["properties"]["pid"] != os.getpid()  # sent by the forked pool child


def eager_app(name: str) -> Celery:
    app = Celery(name, broker="memory://", backend="cache+memory://")
    app.conf.update(task_always_eager=True, task_store_eager_result=False)

    @app.task(name=f"{name}.tagged")
    def tagged(amount: int) -> dict[str, str]:
        posthog.tag("in_task", amount)  # the task's own tag stays in the task
        CLIENTS["current"].capture("eager charged", properties={"amount": amount})
        return context_headers()

    @app.task(name=f"{name}.fail")
    def fail() -> None:
        raise ZeroDivisionError("eager maths")

    return app


def test_eager_task_sees_the_callers_context_and_leaves_it_intact(
    server: RecordingServer, integration: tuple[Posthog, PosthogCeleryIntegration]
) -> None:
    client, _ = integration
    app = eager_app("eager_app")
    with posthog.new_context():
        posthog.identify_context("caller-9")
        posthog.set_context_session("sess-9")
        posthog.tag("plan", "team")
        before = context_headers()
        inside = [
            app.tasks["eager_app.tagged"].delay(1).get(),  # task_always_eager
            app.tasks["eager_app.tagged"].apply(args=(2,)).get(),  # explicit apply()
        ]
        app.tasks["eager_app.fail"].apply()
        after = context_headers()
        client.capture("after the tasks")
    for n, headers in enumerate(inside, start=1):
        assert headers["X-POSTHOG-DISTINCT-ID"] == "caller-9"
        assert headers["X-POSTHOG-SESSION-ID"] == "sess-9"
        assert json.loads(headers["X-POSTHOG-CONTEXT-TAGS"]) == {"plan": "team", "in_task": n}
    assert after == before  # the task's tag and scope are gone, the caller's intact
    assert client.flush(5)
    events = wait_named(server, "eager charged", 2)
    assert sorted(e["properties"]["amount"] for e in events) == [1, 2]
    for event in events:
        assert event["distinct_id"] == "caller-9"
        assert event["properties"]["$session_id"] == "sess-9"
        assert event["properties"]["plan"] == "team"
    [error] = wait_named(server, "$exception")
    assert error["distinct_id"] == "caller-9"
    [later] = wait_named(server, "after the tasks")
    assert later["distinct_id"] == "caller-9" and "in_task" not in later["properties"]


def test_task_end_never_waits_long_for_a_failing_posthog(
    server: RecordingServer, integration: tuple[Posthog, PosthogCeleryIntegration]
) -> None:
    """PostHog answers 503: each task end would wait for the retries; instead a worker
    runs its tasks at its own pace, and once PostHog is back the events arrive."""
    down = threading.Event()
    down.set()
    server.responder = lambda r: Reply(503, {"detail": "down"}) if down.is_set() else Reply()
    ended: list[float] = []
    cond = threading.Condition()

    def on_postrun(**_: Any) -> None:  # connected after the integration's: runs after it
        with cond:
            ended.append(time.monotonic())
            cond.notify_all()

    signals.task_postrun.connect(on_postrun, weak=False)
    app = make_app("down_app")
    try:
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=10
        ) as worker:
            start = time.monotonic()
            for amount in (1, 2, 3, 4):
                app.tasks["down_app.charge"].delay(amount)
            with cond:
                assert cond.wait_for(lambda: len(ended) == 4, 30)
            # The first task end waited 0.5 s at most, the next ones not at all: all four
            # end well within what one task end used to wait (a 5 s flush into retries),
            # a margin wide enough for a loaded machine.
            assert ended[-1] - start < 4.5
            assert server.requests and {r.status for r in server.requests} == {503}
            down.clear()  # PostHog is back
            worker.stop()  # a warm shutdown, as on SIGTERM: worker_shutdown is sent
    finally:
        signals.task_postrun.disconnect(on_postrun)
    # the worker's shutdown flush delivered everything before the worker thread ended
    charged = [e for e in server.events() if e["event"] == "charged"]
    assert sorted(e["properties"]["amount"] for e in charged) == [1, 2, 3, 4]
