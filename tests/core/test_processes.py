"""Processes and threads: exit without flush, fork, multiprocessing, many threads."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from posthog import Posthog
from support.recording_server import Recorded, RecordingServer, Reply

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_child_process_exiting_without_flush_delivers_everything(server: RecordingServer) -> None:
    script = textwrap.dedent(
        f"""
        import posthog
        client = posthog.Posthog("phc", host={server.url!r})
        for i in range(1000):
            client.capture("child event", distinct_id="u", properties={{"i": i}})
        # no flush, no shutdown: the interpreter exits here
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60)
    events = server.wait_for_events(1000, timeout=5)
    assert sorted(e["properties"]["i"] for e in events) == list(range(1000))


def test_module_level_api_flushes_at_exit_too(server: RecordingServer) -> None:
    script = textwrap.dedent(
        f"""
        import posthog
        posthog.api_key = "phc"
        posthog.host = {server.url!r}
        for i in range(300):
            posthog.capture("distinct id", "movie played", {{"i": i}})
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60)
    assert len(server.wait_for_events(300, timeout=5)) == 300


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_after_capturing_each_side_delivers_its_own(server: RecordingServer) -> None:
    client = Posthog("phc", host=server.url, flush_at=1000, flush_interval=30)
    for i in range(20):
        client.capture("parent before fork", distinct_id="p", properties={"i": i})
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            for i in range(30):
                client.capture("child", distinct_id="c", properties={"i": i})
            code = 0 if client.flush(10) else 1
        except BaseException:
            code = 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    client.capture("parent after fork", distinct_id="p")
    assert client.flush(10)
    events = server.wait_for_events(51)
    names = [e["event"] for e in events]
    assert names.count("parent before fork") == 20
    assert names.count("child") == 30
    assert names.count("parent after fork") == 1
    assert len({e["uuid"] for e in events}) == len(events) == 51
    client.shutdown()


def _mp_child(url: str) -> None:
    client = Posthog("phc", host=url)
    for i in range(200):
        client.capture("mp child", distinct_id="c", properties={"i": i})


def _mp_child_inherited(client: Posthog) -> None:
    for i in range(100):
        client.capture("mp inherited", distinct_id="c", properties={"i": i})


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_multiprocessing_children_deliver_without_flush(server: RecordingServer) -> None:
    ctx = multiprocessing.get_context("fork")
    parent = Posthog("phc", host=server.url, flush_at=1000, flush_interval=30)
    parent.capture("queued in parent", distinct_id="p")
    procs = [
        ctx.Process(target=_mp_child, args=(server.url,)),
        ctx.Process(target=_mp_child_inherited, args=(parent,)),
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    parent.flush(10)
    events = server.wait_for_events(301)
    names = [e["event"] for e in events]
    assert names.count("mp child") == 200
    assert names.count("mp inherited") == 100
    assert names.count("queued in parent") == 1
    parent.shutdown()


def test_eight_threads_capturing_ten_thousand_each(server: RecordingServer) -> None:
    client = Posthog("phc", host=server.url, max_queue_size=100_000)

    def work(t: int) -> None:
        for i in range(10_000):
            client.capture("threaded", distinct_id=f"t{t}", properties={"i": i})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.flush(60)
    events = server.wait_for_events(80_000, timeout=30)
    assert len(events) == 80_000
    assert len({e["uuid"] for e in events}) == 80_000
    stats = client.stats()
    assert stats.queued == stats.sent == 80_000 and stats.dropped == {}
    client.shutdown()


def test_gevent_monkey_patched_process_delivers(server: RecordingServer) -> None:
    pytest.importorskip("gevent")
    script = textwrap.dedent(
        f"""
        from gevent import monkey
        monkey.patch_all()
        import gevent
        import posthog
        client = posthog.Posthog("phc", host={server.url!r}, flush_interval=0.05)
        def work(n):
            for i in range(50):
                client.capture("green", distinct_id=str(n), properties={{"i": i}})
        gevent.joinall([gevent.spawn(work, n) for n in range(4)])
        assert client.flush(10)
        client.shutdown()
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60)
    assert len(server.wait_for_events(200, timeout=5)) == 200


def test_uwsgi_without_threads_gets_one_clear_warning_from_the_client() -> None:
    script = textwrap.dedent(
        """
        import sys, types
        fake = types.ModuleType("uwsgi")
        fake.opt = {"master": True}
        sys.modules["uwsgi"] = fake
        import posthog
        posthog.Posthog("phc", host="http://127.0.0.1:9", send=True)
        posthog.Posthog("phc2", host="http://127.0.0.1:9", send=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, timeout=60, capture_output=True, text=True
    )
    assert out.returncode == 0
    assert out.stderr.count("uWSGI is running without threads") == 1


def test_batch_in_flight_when_the_exit_budget_runs_out_is_reported() -> None:
    arrived = threading.Event()

    def slow_503(_request: Recorded) -> Reply:
        arrived.set()
        return Reply(503, delay=3)

    with RecordingServer(slow_503) as server:
        script = textwrap.dedent(
            f"""
            import posthog
            client = posthog.Posthog(
                "phc", host={server.url!r}, flush_interval=0.01, shutdown_timeout=0.5,
                on_drop=lambda reason, n, _detail: print("on_drop", reason, n),
            )
            for i in range(3):
                client.capture("in flight", distinct_id="u")
            """
        )
        env = {**os.environ, "PYTHONPATH": SRC}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, timeout=60, capture_output=True, text=True
        )
    assert out.returncode == 0, out.stderr
    assert arrived.is_set()  # the batch was on the wire, not in the queue
    assert out.stdout.splitlines() == ["on_drop shutdown 3"]
    assert out.stderr.count("dropped 3 event(s) (shutdown)") == 1, out.stderr
    assert "in flight" in out.stderr


def test_replaced_module_client_still_delivers_at_exit() -> None:
    first_503 = iter([Reply(503)])
    with RecordingServer(lambda _r: next(first_503, Reply())) as a, RecordingServer() as b:
        script = textwrap.dedent(
            f"""
            import posthog
            posthog.api_key = "phc"
            posthog.host = {a.url!r}
            for i in range(10):
                posthog.capture("on A", distinct_id="u", properties={{"i": i}})
            posthog.host = {b.url!r}  # the old default client shuts down in the background
            posthog.capture("on B", distinct_id="u")
            """
        )
        env = {**os.environ, "PYTHONPATH": SRC}
        out = subprocess.run(
            [sys.executable, "-c", script], env=env, timeout=60, capture_output=True, text=True
        )
        assert out.returncode == 0, out.stderr
        assert sorted(e["properties"]["i"] for e in a.events()) == list(range(10))
        assert [e["event"] for e in b.events()] == ["on B"]
        assert out.stderr == ""
