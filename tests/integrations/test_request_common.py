"""The framework-neutral pieces: header sanitising, tracing ids, request properties,
and the one uWSGI warning."""

from __future__ import annotations

import logging
import types

import pytest

from posthog.integrations._common import (
    RequestInfo,
    request_properties,
    sanitize_header,
    tracing_ids,
    uwsgi_threads_problem,
    warn_if_uwsgi_without_threads,
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("abc", "abc"),
        ("  abc\r\n", "abc"),
        ("a\x00b\x1fc", "abc"),
        (b"bytes-id", "bytes-id"),
        ("", None),
        ("\t\n", None),
        (None, None),
        ("x" * 5000, "x" * 1000),
    ],
)
def test_header_values_are_sanitised(raw: object, clean: str | None) -> None:
    assert sanitize_header(raw) == clean


def test_tracing_ids_read_lower_cased_headers() -> None:
    ids = tracing_ids(
        {"x-posthog-session-id": "s", "x-posthog-window-id": "w", "x-posthog-distinct-id": "d"}
    )
    assert (ids.distinct_id, ids.session_id, ids.window_id) == ("d", "s", "w")
    assert tracing_ids({}).session_id is None


def test_request_properties_prefer_forwarded_for() -> None:
    info = RequestInfo(
        method="post",
        path="/a",
        scheme="https",
        host="example.com",
        query_string="q=1",
        headers={"x-forwarded-for": "203.0.113.9, 10.0.0.1", "user-agent": "ua"},
        remote_addr="10.0.0.1",
    )
    assert request_properties(info) == {
        "$current_url": "https://example.com/a?q=1",
        "$request_method": "POST",
        "$request_path": "/a",
        "$ip": "203.0.113.9",
        "$user_agent": "ua",
        "$raw_user_agent": "ua",
    }
    bare = request_properties(RequestInfo(method="GET", path="/b"))
    assert bare == {"$current_url": "/b", "$request_method": "GET", "$request_path": "/b"}


@pytest.mark.parametrize(
    ("opt", "warns"),
    [
        ({}, True),
        ({"enable-threads": True}, False),
        ({b"enable-threads": b"1"}, False),
        ({"threads": b"4"}, False),
        ({"threads": "0"}, True),
        ({"enable-threads": b"false"}, True),
    ],
)
def test_uwsgi_threads_problem(opt: dict[object, object], warns: bool) -> None:
    problem = uwsgi_threads_problem(opt)
    assert (problem is not None) is warns
    if problem:
        assert "--enable-threads" in problem


def test_uwsgi_without_threads_warns_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert warn_if_uwsgi_without_threads() is False  # not under uWSGI
    fake = types.ModuleType("uwsgi")
    fake.opt = {"master": True}  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "uwsgi", fake)
    with caplog.at_level(logging.WARNING, logger="posthog"):
        assert warn_if_uwsgi_without_threads() is True
        assert warn_if_uwsgi_without_threads() is False
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "uWSGI is running without threads" in caplog.records[0].message
