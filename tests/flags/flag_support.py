"""A scripted PostHog flags backend on the recording server, plus definition builders.

``FlagsBackend`` answers ``/flags/definitions`` (ETag/304, scripted statuses),
``/flags/`` (scripted JSON or statuses) and ``/batch/`` (events), and records all of it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from posthog import Posthog
from posthog._transport import HTTPTransport, Request, Response
from support.recording_server import Recorded, RecordingServer, Reply

PROJECT_KEY = "phc_test_project"
SECRET = "phx_test_secret"


def flag(
    key: str,
    *groups: dict[str, Any],
    id: int = 1,
    version: int = 1,
    active: bool = True,
    variants: list[tuple[str, int]] | None = None,
    payloads: dict[str, Any] | None = None,
    group_type_index: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    filters: dict[str, Any] = {
        "groups": list(groups) or [{"properties": [], "rollout_percentage": 100}]
    }
    if variants:
        filters["multivariate"] = {
            "variants": [{"key": k, "rollout_percentage": p} for k, p in variants]
        }
    if payloads:
        filters["payloads"] = {k: json.dumps(v) for k, v in payloads.items()}
    if group_type_index is not None:
        filters["aggregation_group_type_index"] = group_type_index
    return {"id": id, "key": key, "active": active, "version": version, "filters": filters, **extra}


def cond(
    *props: dict[str, Any], rollout: int | None = 100, variant: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"properties": list(props), "rollout_percentage": rollout}
    if variant is not None:
        out["variant"] = variant
    return out


def prop(key: str, value: Any, operator: str = "exact", kind: str = "person") -> dict[str, Any]:
    return {"key": key, "value": value, "operator": operator, "type": kind}


def definitions(*flags: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "flags": list(flags),
        "group_type_mapping": {"0": "organisation"},
        "cohorts": {},
        **extra,
    }


def v4_record(key: str, value: Any, payload: Any = None, **meta: Any) -> dict[str, Any]:
    return {
        "key": key,
        "enabled": bool(value),
        "variant": value if isinstance(value, str) else None,
        "value": value,
        "failed": False,
        "reason": {
            "code": "condition_match",
            "condition_index": 0,
            "description": "Matched condition set 1",
        },
        "metadata": {
            "id": 7,
            "version": 2,
            "payload": None if payload is None else json.dumps(payload),
            **meta,
        },
    }


def flags_response(*records: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "flags": {r["key"]: r for r in records},
        "errorsWhileComputingFlags": False,
        "requestId": "req-1",
        "evaluatedAt": 1700000000000,
        **extra,
    }


class FlagsBackend:
    """Routes requests by path; each route is a value or a callable(Recorded) -> Reply."""

    def __init__(self, defs: dict[str, Any] | None = None) -> None:
        self.defs = defs if defs is not None else definitions()
        self.etag = '"v1"'
        self.definitions_reply: Callable[[Recorded], Reply] | None = None
        self.flags_reply: Callable[[Recorded], Reply] = lambda _r: Reply(200, flags_response())
        self.server = RecordingServer(self.respond)

    def respond(self, rec: Recorded) -> Reply:
        if rec.path.startswith("/flags/definitions") or rec.path.startswith(
            "/api/feature_flag/local_evaluation"
        ):
            if self.definitions_reply is not None:
                return self.definitions_reply(rec)
            if rec.headers.get("if-none-match") == self.etag:
                return Reply(304, b"", {"ETag": self.etag})
            return Reply(200, self.defs, {"ETag": self.etag})
        if rec.path.startswith("/flags"):
            return self.flags_reply(rec)
        return Reply()

    # -- reading --------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.server.url

    def requests_to(self, prefix: str) -> list[Recorded]:
        with self.server._cond:
            return [r for r in self.server.requests if r.path.startswith(prefix)]

    def flag_calls(self) -> list[Recorded]:
        return [
            r for r in self.requests_to("/flags") if not r.path.startswith("/flags/definitions")
        ]

    def definition_calls(self) -> list[Recorded]:
        return self.requests_to("/flags/definitions") + self.requests_to("/api/feature_flag")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.server.events() if name is None or e["event"] == name]

    def wait(self, predicate: Callable[[FlagsBackend], bool], timeout: float = 10.0) -> bool:
        return self.server.wait_for(lambda _s: predicate(self), timeout)


@contextmanager
def backend(defs: dict[str, Any] | None = None) -> Iterator[FlagsBackend]:
    b = FlagsBackend(defs)
    with b.server:
        yield b


@contextmanager
def backend_on(port: int, defs: dict[str, Any] | None = None) -> Iterator[FlagsBackend]:
    """A backend listening on a given port (e.g. one a client found closed before)."""
    b = FlagsBackend(defs)
    server = b.server
    handler = server.httpd.RequestHandlerClass
    server.httpd.server_close()
    server.httpd = type(server.httpd)(("127.0.0.1", port), handler)
    server.httpd.daemon_threads = True
    server.thread = threading.Thread(
        target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    with server:
        yield b


class CountingTransport:
    """The real HTTP transport behind the public ``transport=`` seam, counting the
    requests the SDK hands it (each one a fresh connection attempt to a closed port)."""

    def __init__(self) -> None:
        self.inner = HTTPTransport()
        self.requests: list[Request] = []

    def request(self, request: Request) -> Response:
        self.requests.append(request)
        return self.inner.request(request)

    def close(self) -> None:
        self.inner.close()


def closed_port() -> int:
    """A loopback port nothing listens on (connections to it are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def exit_code_in_fork(child: Callable[[], bool]) -> int:
    """Run ``child`` in a forked process: 0 when it returned True, 1 False, 2 it raised."""
    pid = os.fork()
    if pid == 0:
        outcome = 2
        try:
            outcome = 0 if child() else 1
        finally:
            os._exit(outcome)  # never back into the parent's pytest
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


OPEN_CLIENTS: list[Posthog] = []


def client(url: str = "http://127.0.0.1:9", **options: Any) -> Posthog:
    """A client that the ``tests/flags`` conftest shuts down after the test."""
    options.setdefault("feature_flags_request_timeout_seconds", 2)
    c = Posthog(PROJECT_KEY, host=url, **options)
    OPEN_CLIENTS.append(c)
    return c


def flushed_events(c: Posthog, b: FlagsBackend, name: str) -> list[dict[str, Any]]:
    c.flush()
    return b.events(name)
