"""Definitions loading and polling against a real loopback server."""

from __future__ import annotations

import itertools
import os
import time

import pytest
from flag_support import (
    PROJECT_KEY,
    SECRET,
    FlagsBackend,
    backend,
    backend_on,
    client,
    closed_port,
    cond,
    definitions,
    exit_code_in_fork,
    flag,
)

import posthog
from posthog._flags.poller import DefinitionLoader, Poller
from posthog._flags.store import DefinitionStore
from posthog._transport import HTTPTransport
from support.held import HeldReplies
from support.recording_server import Recorded, Reply

DEFS = definitions(flag("on", cond(rollout=100)))


def _defs_count(n: int):  # type: ignore[no-untyped-def]
    return lambda b: len(b.definition_calls()) >= n


def test_first_flag_call_loads_definitions_with_bearer_then_polls_with_etag() -> None:
    with backend(DEFS) as b:
        c = client(b.url, secret_key=SECRET, send=False, poll_interval=0.05)
        assert c.feature_flag_definitions() is None  # nothing fetched at construction
        assert b.server.requests == []
        assert c.get_feature_flag("on", "u") is True
        first = b.definition_calls()[0]
        assert first.method == "GET"
        assert first.path == f"/flags/definitions?token={PROJECT_KEY}&send_cohorts"
        assert first.headers["authorization"] == f"Bearer {SECRET}"
        assert "if-none-match" not in first.headers
        assert b.wait(_defs_count(3))
        later = b.definition_calls()[2]
        assert later.headers["if-none-match"] == b.etag
        assert later.status == 304
        assert c.get_feature_flag("on", "u") is True  # 304 kept the definitions
        assert b.flag_calls() == []


def test_401_and_402_clear_definitions_and_401_backs_off() -> None:
    for status in (401, 402):
        with backend(DEFS) as b:
            c = client(b.url, secret_key=SECRET, send=False, poll_interval=0.05)
            c.load_feature_flags()
            assert [d["key"] for d in c.feature_flag_definitions() or []] == ["on"]
            b.definitions_reply = lambda _r, s=status: Reply(s, {"detail": "no"})
            assert b.wait(lambda x, c=c: c.feature_flag_definitions() == [])
            c.shutdown()
    store = DefinitionStore()
    with backend(DEFS) as b:
        b.definitions_reply = lambda _r: Reply(401, {"detail": "bad key"})
        transport = HTTPTransport()
        loader = DefinitionLoader(transport, b.url, PROJECT_KEY, SECRET, store)
        poller = Poller(loader, lambda: 1.0)
        delays = []
        for _ in range(8):
            loader.load()
            delays.append(poller.delay())
        assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 32.0, 32.0]
        b.definitions_reply = None
        loader.load()
        assert poller.delay() == 1.0
        assert len(store.current.flagset.flags) == 1
        transport.close()


@pytest.mark.parametrize("status", [401, 403])
def test_repeated_auth_failures_back_off_instead_of_hammering(status: int) -> None:
    with backend(DEFS) as b:
        b.definitions_reply = lambda _r: Reply(status, {"detail": "no"})
        c = client(b.url, secret_key=SECRET, send=False, poll_interval=0.02)
        c.load_feature_flags()
        # Flag calls all along, while the poller keeps polling (bounded, not timed)
        deadline = time.monotonic() + 10
        while len(b.definition_calls()) < 5 and time.monotonic() < deadline:
            assert c.get_feature_flag("on", "u", only_evaluate_locally=True) is None
            b.wait(_defs_count(5), timeout=0.01)
        arrivals = [r.at for r in b.definition_calls()][:5]
        assert len(arrivals) == 5  # it did keep polling
        # Each gap is at least the backed-off interval (20, 40, 80, 160 ms), not every
        # 20 ms, and no flag call squeezed in a retry of its own. Lower bounds only: a
        # slow machine makes the gaps longer, never shorter.
        gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
        for gap, backed_off in zip(gaps, [0.02, 0.04, 0.08, 0.16], strict=True):
            assert gap >= backed_off - 0.001, gaps


def test_404_falls_back_to_the_legacy_endpoint() -> None:
    with backend(DEFS) as b:

        def only_legacy(rec: Recorded) -> Reply:
            if rec.path.startswith("/flags/definitions"):
                return Reply(404, {"detail": "not found"})
            return Reply(200, DEFS, {"ETag": '"L"'})

        b.definitions_reply = only_legacy
        c = client(b.url, secret_key=SECRET, send=False)
        assert c.get_feature_flag("on", "u") is True
        paths = [r.path for r in b.definition_calls()]
        assert paths[0].startswith("/flags/definitions")
        assert paths[-1] == f"/api/feature_flag/local_evaluation/?token={PROJECT_KEY}&send_cohorts"


def test_malformed_definitions_keep_the_last_good_ones() -> None:
    with backend(DEFS) as b:
        c = client(b.url, secret_key=SECRET, send=False, poll_interval=0.05)
        c.load_feature_flags()
        b.definitions_reply = lambda _r: Reply(200, "{broken")
        n = len(b.definition_calls())
        assert b.wait(_defs_count(n + 2))
        assert c.get_feature_flag("on", "u") is True
        assert b.flag_calls() == []


def test_server_down_at_start_then_up() -> None:
    port = closed_port()
    timeout = 0.3  # also the least time between two retries of the first load
    c = client(
        f"http://127.0.0.1:{port}",
        secret_key=SECRET,
        send=False,
        feature_flags_request_timeout_seconds=timeout,
    )
    start = time.monotonic()
    result = c.get_feature_flag_result("on", "u")
    assert result is not None and result.error == "connection_error"
    assert time.monotonic() - start < 5
    assert c.feature_flag_definitions() is None
    with backend_on(port, DEFS) as b:
        # Spec 5.1: flag calls retry the failed first load, not only the 30 s poll.
        up = time.monotonic()
        local = None
        while local is None and time.monotonic() - up < 5:
            r = c.get_feature_flag_result("on", "u", only_evaluate_locally=True)
            if r is not None and r.locally_evaluated and r.get_value() is True:
                local = r
        assert local is not None, "no flag call retried the first load"
        assert time.monotonic() - up < 5  # far sooner than poll_interval (30 s)
        assert len(b.definition_calls()) <= 2  # at most one retry per timeout, not per call
        assert b.flag_calls() == []


def test_without_polling_one_load_thread_serves_many_calls() -> None:
    with backend(DEFS) as b:
        b.definitions_reply = lambda _r: Reply(503, {"detail": "down"})
        c = client(
            b.url,
            secret_key=SECRET,
            send=False,
            enable_local_evaluation=False,
            feature_flags_request_timeout_seconds=0.3,
        )
        for _ in range(50):
            assert c.get_feature_flag("on", "u", only_evaluate_locally=True) is None
        assert b.wait(_defs_count(1))
        assert not b.wait(_defs_count(3), timeout=0.5)  # not a load (and thread) per call
        b.definitions_reply = None  # the server recovers: a later call loads once more
        start = time.monotonic()
        value = None
        while value is None and time.monotonic() - start < 5:
            value = c.get_feature_flag("on", "u", only_evaluate_locally=True)
        assert value is True
        n = len(b.definition_calls())
        assert n <= 3
        assert not b.wait(_defs_count(n + 1), timeout=0.3)  # no polling without local evaluation
        assert b.flag_calls() == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_restarts_polling_and_sees_changed_definitions() -> None:
    with backend(DEFS) as b:
        c = client(b.url, secret_key=SECRET, send=False, poll_interval=3600)
        c.load_feature_flags()
        assert c.get_feature_flag("on", "u") is True
        b.defs = definitions(flag("on", cond(rollout=0)))
        b.etag = '"v2"'

        def child() -> bool:  # no poller thread survived the fork
            c.poll_interval = 0.05
            # Definitions are loaded, so no flag call waits for a poll: waiting for the
            # child's poller needs the store (the public API has no such wait).
            store = c._flags.store
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                seen = store.attempts
                if c.get_feature_flag("on", "u", send_feature_flag_events=False) is False:
                    return True
                store.wait_settled(seen, deadline - time.monotonic())
            return False

        assert exit_code_in_fork(child) == 0
        polls = b.definition_calls()[1:]
        assert polls and polls[0].headers["if-none-match"] == '"v1"'  # the child's poll
        assert c.get_feature_flag("on", "u") is True  # the parent polls hourly: not yet


def test_slow_definitions_never_hold_a_flag_call_past_its_timeout() -> None:
    held = HeldReplies(lambda _r: Reply(200, DEFS))
    with backend(DEFS) as b, held:
        b.definitions_reply = held
        b.flags_reply = lambda _r: Reply(200, {"flags": {"on": {"key": "on", "enabled": True}}})
        c = client(b.url, secret_key=SECRET, send=False, feature_flags_request_timeout_seconds=0.3)
        result = c.get_feature_flag_result("on", "u")
        assert result is not None and result.get_value() is True
        assert result.locally_evaluated is False  # answered remotely while the load was slow
        assert held.wait_arrived(1)
        assert held.still_held == 1  # the call came back while the definitions were held
        held.release()
        deadline = time.monotonic() + 10
        while c.feature_flag_definitions() is None and time.monotonic() < deadline:
            # a flag call waits (up to its timeout) for the load in flight
            c.get_feature_flag("on", "u", only_evaluate_locally=True)
        later = c.get_feature_flag_result("on", "u")
        assert later is not None and later.locally_evaluated is True
        assert len(b.definition_calls()) == 1 and len(b.flag_calls()) == 1


def test_poll_interval_changes_a_running_client() -> None:
    with backend(DEFS) as b:
        c = client(b.url, secret_key=SECRET, send=False, poll_interval=3600)
        c.load_feature_flags()
        n = len(b.definition_calls())
        c.poll_interval = 0.05
        assert c.poll_interval == 0.05
        assert b.wait(_defs_count(n + 3))


def test_module_poll_interval_reaches_the_default_client() -> None:
    b = FlagsBackend(DEFS)
    with b.server:
        posthog.project_api_key = PROJECT_KEY
        posthog.host = b.url
        posthog.personal_api_key = SECRET
        posthog.send = False
        posthog.poll_interval = 3600
        posthog.load_feature_flags()
        n = len(b.definition_calls())
        posthog.poll_interval = 0.05
        assert posthog.feature_enabled("on", "u") is True
        assert b.wait(_defs_count(n + 3))
