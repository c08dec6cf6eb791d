"""Autocapture of uncaught exceptions: ``sys.excepthook`` (in a child process),
``threading.excepthook`` (a real thread, joined), contexts, chaining and rate limits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from posthog import Posthog, new_context
from support.recording_server import RecordingServer

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.fixture
def previous_thread_hook() -> Iterator[list[BaseException]]:
    """A stand-in for whatever hook the application had: records what reached it."""
    seen: list[BaseException] = []
    saved_threading, saved_sys = threading.excepthook, sys.excepthook

    def hook(args: Any) -> None:
        seen.append(args.exc_value)

    threading.excepthook = hook
    yield seen
    threading.excepthook, sys.excepthook = saved_threading, saved_sys


def run_in_thread(target: Any) -> None:
    thread = threading.Thread(target=target, name="worker-1")
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()


def explode() -> None:
    raise ValueError("thread boom")


def test_uncaught_exception_in_thread_is_captured_and_previous_hook_runs(
    server: RecordingServer, previous_thread_hook: list[BaseException]
) -> None:
    client = Posthog("phc", host=server.url, flush_interval=0.05, enable_exception_autocapture=True)
    run_in_thread(explode)
    client.flush()
    [event] = server.wait_for_events(1)
    props = event["properties"]
    assert props["$exception_level"] == "error"
    assert props["$exception_source"] == "python.threading_excepthook"
    [entry] = props["$exception_list"]
    assert entry["value"] == "thread boom"
    assert entry["mechanism"]["type"] == "onuncaughtexception"
    assert entry["mechanism"]["handled"] is False
    assert entry["stacktrace"]["frames"][-1]["function"] == "explode"
    assert [str(e) for e in previous_thread_hook] == ["thread boom"]
    client.shutdown()


def test_shutdown_restores_previous_hooks(
    server: RecordingServer, previous_thread_hook: list[BaseException]
) -> None:
    before_thread, before_sys = threading.excepthook, sys.excepthook
    client = Posthog("phc", host=server.url, enable_exception_autocapture=True)
    assert threading.excepthook is not before_thread and sys.excepthook is not before_sys
    client.shutdown()
    assert threading.excepthook is before_thread and sys.excepthook is before_sys


def test_two_clients_share_the_hooks_and_both_capture(
    server: RecordingServer, previous_thread_hook: list[BaseException]
) -> None:
    first = Posthog(
        "phc_1", host=server.url, flush_interval=0.05, enable_exception_autocapture=True
    )
    second = Posthog(
        "phc_2", host=server.url, flush_interval=0.05, enable_exception_autocapture=True
    )
    run_in_thread(explode)
    first.shutdown()  # the second client still captures
    run_in_thread(explode)
    second.flush()
    server.wait_for_events(3)
    keys = sorted(b["api_key"] for b in server.batches() for _ in b["batch"])
    assert keys == ["phc_1", "phc_2", "phc_2"]
    assert len(previous_thread_hook) == 2
    second.shutdown()


def test_sdk_failure_inside_the_hook_never_escapes(
    server: RecordingServer, previous_thread_hook: list[BaseException]
) -> None:
    def broken_before_send(msg: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("before_send is broken")

    # debug=True makes the SDK raise its own errors instead of swallowing them
    client = Posthog(
        "phc",
        host=server.url,
        debug=True,
        before_send=broken_before_send,
        enable_exception_autocapture=True,
    )
    run_in_thread(explode)
    assert [str(e) for e in previous_thread_hook] == ["thread boom"]
    assert client.stats().queued == 0
    client.shutdown()


def test_context_captures_once_even_when_the_exception_stays_uncaught(
    server: RecordingServer, previous_thread_hook: list[BaseException]
) -> None:
    client = Posthog("phc", host=server.url, flush_interval=0.05, enable_exception_autocapture=True)

    def work() -> None:
        with (
            new_context(capture_exceptions=True, client=client),
            new_context(capture_exceptions=True, client=client),
        ):
            raise KeyError("from a context")

    run_in_thread(work)
    client.flush()
    events = server.wait_for_events(1)
    assert len(previous_thread_hook) == 1  # it did reach the thread hook ...
    assert len(events) == 1  # ... but was sent once, by the context
    props = events[0]["properties"]
    assert props["$exception_list"][0]["mechanism"]["handled"] is True
    assert "$exception_source" not in props
    client.shutdown()


def test_context_without_autocapture_captures_when_asked(server: RecordingServer) -> None:
    client = Posthog("phc", host=server.url, flush_interval=0.05)
    with pytest.raises(KeyError), new_context(capture_exceptions=True, client=client):
        from posthog import identify_context

        identify_context("ctx-user")
        raise KeyError("ctx")
    with pytest.raises(KeyError), new_context(client=client):  # defers to autocapture: off
        raise KeyError("not captured")
    client.flush()
    [event] = server.wait_for_events(1)
    assert event["distinct_id"] == "ctx-user"
    assert event["properties"]["$exception_list"][0]["value"] == "'ctx'"
    client.shutdown()


def test_rate_limit_per_exception_type(
    server: RecordingServer, previous_thread_hook: list[BaseException]
) -> None:
    client = Posthog(
        "phc",
        host=server.url,
        flush_interval=0.05,
        enable_exception_autocapture=True,
        enable_exception_autocapture_rate_limiting=True,
        exception_autocapture_bucket_size=2,
        exception_autocapture_refill_interval_seconds=3600,
    )
    for _ in range(4):
        run_in_thread(explode)

    def other() -> None:
        raise TypeError("different type, own bucket")

    run_in_thread(other)
    client.flush()
    server.wait_for_events(3)
    values = [e["properties"]["$exception_list"][0]["type"] for e in server.events()]
    assert sorted(values) == ["TypeError", "ValueError", "ValueError"]
    assert len(previous_thread_hook) == 5  # limiting never hides it from the previous hook
    client.shutdown()


def test_uncaught_exception_in_main_thread_of_a_child_process(server: RecordingServer) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import posthog

        def previous(exc_type, exc, tb):
            sys.stderr.write("previous hook saw " + repr(exc) + "\\n")

        sys.excepthook = previous
        client = posthog.Posthog("phc", host={server.url!r}, enable_exception_autocapture=True)

        def crash():
            raise ZeroDivisionError("main thread boom")

        crash()
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, timeout=60, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "previous hook saw ZeroDivisionError('main thread boom')" in done.stderr
    [event] = server.wait_for_events(1, timeout=5)
    props = event["properties"]
    assert props["$exception_level"] == "fatal"
    assert props["$exception_source"] == "python.sys_excepthook"
    [entry] = props["$exception_list"]
    assert entry["type"] == "ZeroDivisionError"
    assert entry["mechanism"]["type"] == "onuncaughtexception"
    assert entry["mechanism"]["handled"] is False
    assert entry["stacktrace"]["frames"][-1]["function"] == "crash"
    assert entry["stacktrace"]["frames"][-1]["module"] == "__main__"


def test_keyboard_interrupt_is_not_captured_but_still_reported(server: RecordingServer) -> None:
    script = textwrap.dedent(
        f"""
        import posthog
        client = posthog.Posthog("phc", host={server.url!r}, enable_exception_autocapture=True)
        client.capture("alive", distinct_id="u")
        raise KeyboardInterrupt
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, timeout=60, capture_output=True, text=True
    )
    assert "KeyboardInterrupt" in done.stderr  # the default hook still printed it
    events = server.wait_for_events(1, timeout=5)
    assert [e["event"] for e in events] == ["alive"]


def test_sdk_failure_in_sys_excepthook_never_escapes(server: RecordingServer) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import posthog

        def previous(exc_type, exc, tb):
            sys.stderr.write("previous hook saw " + repr(exc) + "\\n")

        def broken(msg):
            raise RuntimeError("before_send is broken")

        sys.excepthook = previous
        client = posthog.Posthog(
            "phc", host={server.url!r}, debug=True, before_send=broken,
            enable_exception_autocapture=True,
        )
        raise LookupError("app crash")
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, timeout=60, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "previous hook saw LookupError('app crash')" in done.stderr
    assert "Error in sys.excepthook" not in done.stderr
    assert "before_send is broken" not in done.stderr
    assert server.events() == []


def test_context_without_client_uses_the_only_instance_client_else_warns(
    server: RecordingServer,
) -> None:
    """The documented ``posthog = Posthog(...)`` instance with ``new_context(
    capture_exceptions=True)`` and no ``client=``: the only open client captures; with two
    clients the choice is ambiguous, and one warning says so (fresh process: no other
    clients)."""
    script = textwrap.dedent(
        f"""
        import logging
        from posthog import Posthog, new_context
        logging.basicConfig(level=logging.WARNING)
        ph = Posthog("phc", host={server.url!r}, flush_interval=0.05)
        for message in ("only client",):
            try:
                with new_context(capture_exceptions=True):
                    raise LookupError(message)
            except LookupError:
                pass
        assert ph.flush(5)
        other = Posthog("phc", host={server.url!r})
        for message in ("ambiguous 1", "ambiguous 2"):
            try:
                with new_context(capture_exceptions=True):
                    raise LookupError(message)
            except LookupError:
                pass
        ph.shutdown()
        other.shutdown()
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    events = server.events()
    assert [e["properties"]["$exception_list"][0]["value"] for e in events] == ["only client"]
    assert done.stderr.count("has no client: pass client= to new_context()") == 1
