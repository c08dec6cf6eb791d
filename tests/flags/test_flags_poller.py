"""Definitions loading and polling against a real loopback server."""

from __future__ import annotations

import socket
import time

import pytest
from flag_support import PROJECT_KEY, SECRET, FlagsBackend, backend, client, cond, definitions, flag

import posthog
from posthog._flags.poller import DefinitionLoader, Poller
from posthog._flags.store import DefinitionStore
from posthog._transport import HTTPTransport
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
        # Every 20 ms would be 25 requests in half a second; backed off (20, 40, 80, 160,
        # 320 ms) it is about 5, and flag calls meanwhile do not add retries of their own.
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            assert c.get_feature_flag("on", "u", only_evaluate_locally=True) is None
            assert not b.wait(_defs_count(10), timeout=0.02)
        assert len(b.definition_calls()) >= 4  # it did keep polling


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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = client(f"http://127.0.0.1:{port}", secret_key=SECRET, send=False)
    start = time.monotonic()
    result = c.get_feature_flag_result("on", "u")
    assert result is not None and result.error == "connection_error"
    assert time.monotonic() - start < 5
    assert c.feature_flag_definitions() is None


def test_slow_definitions_never_hold_a_flag_call_past_its_timeout() -> None:
    with backend(DEFS) as b:
        b.definitions_reply = lambda _r: Reply(200, DEFS, delay=3)
        b.flags_reply = lambda _r: Reply(200, {"flags": {"on": {"key": "on", "enabled": True}}})
        c = client(b.url, secret_key=SECRET, send=False, feature_flags_request_timeout_seconds=0.3)
        start = time.monotonic()
        result = c.get_feature_flag_result("on", "u")
        assert time.monotonic() - start < 2.0
        assert result is not None and result.get_value() is True
        assert result.locally_evaluated is False  # answered remotely while the load was slow
        assert c._flags.store.wait_loaded(10)  # a bounded wait for the background load
        assert c.get_feature_flag_result("on", "u").locally_evaluated is True  # type: ignore[union-attr]


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
