"""A fork while another thread holds one of the SDK's locks must not hang the child."""

from __future__ import annotations

import os
import select
import signal

import pytest

import posthog
from posthog import Posthog
from posthog._transport import HTTPTransport
from support.recording_server import RecordingServer


def _wait_child(pid: int, exited: int, bound: float) -> int | None:
    """The child's exit code, or None (child killed) if it ran past ``bound`` seconds.
    ``exited`` is the read end of a pipe whose write end only the child holds: it turns
    readable (EOF) when the child exits."""
    ready, _, _ = select.select([exited], [], [], bound)
    os.close(exited)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if ready else None


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_child_works_though_the_fork_happened_while_locks_were_held(
    server: RecordingServer,
) -> None:
    transport = HTTPTransport()
    client = Posthog("phc", host=server.url, transport=transport, flush_interval=0.01)
    posthog.api_key = "phc"
    posthog.host = server.url
    posthog.capture("parent module event", distinct_id="p")  # builds the default client
    # As if the poller / another request thread held them at the moment of the fork:
    held = [transport._lock, posthog._default.state.lock]
    for lock in held:
        lock.acquire()
    exited, child_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(exited)
        code = 3
        try:
            client.capture("child", distinct_id="c")
            posthog.capture("child module event", distinct_id="c")
            code = 0 if client.flush(5) and posthog.flush(5) else 1
        finally:
            os._exit(code)
    os.close(child_end)
    for lock in held:
        lock.release()
    assert _wait_child(pid, exited, 15) == 0
    assert posthog.flush(5)
    names = [e["event"] for e in server.wait_for_events(3)]
    assert sorted(names) == ["child", "child module event", "parent module event"]
    client.shutdown()
