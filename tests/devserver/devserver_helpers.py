"""Small real-HTTP helpers for the dev server tests (no SDK, no mocks)."""

from __future__ import annotations

import gzip
import http.client
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

T = TypeVar("T")


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Http:
    """One keep-alive connection to the server under test."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()
                reply = Reply(resp.status, data, {k.lower(): v for k, v in resp.getheaders()})
                if reply.headers.get("connection", "").lower() == "close":
                    self.reconnect()
                return reply
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.reconnect()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def reconnect(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def post_json(
        self, path: str, data: Any, headers: dict[str, str] | None = None, compress: bool = False
    ) -> Reply:
        raw = json.dumps(data).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if compress:
            raw = gzip.compress(raw)
            hdrs["Content-Encoding"] = "gzip"
        return self.request("POST", path, raw, hdrs)

    def get(self, path: str, headers: dict[str, str] | None = None, **query: Any) -> Reply:
        if query:
            path += ("&" if "?" in path else "?") + urlencode({k: v for k, v in query.items()})
        return self.request("GET", path, headers=headers)

    def get_json(self, path: str, **query: Any) -> Any:
        reply = self.get(path, **query)
        assert reply.status == 200, (reply.status, reply.body)
        return reply.json()

    def batch(self, events: list[dict[str, Any]], api_key: str = "phc_test", **kw: Any) -> Reply:
        return self.post_json("/batch/", {"api_key": api_key, "batch": events}, **kw)

    def events(self, **query: Any) -> list[dict[str, Any]]:
        return list(self.get_json("/api/events", **query)["results"])

    def persons(self, **query: Any) -> list[dict[str, Any]]:
        return list(self.get_json("/api/persons", **query)["results"])

    def person(self, distinct_id: str, project: str = "phc_test") -> dict[str, Any]:
        found = self.persons(distinct_id=distinct_id, project=project)
        assert len(found) == 1, found
        return found[0]

    def close(self) -> None:
        self.conn.close()


def event(name: str = "page viewed", distinct_id: str = "user-1", **fields: Any) -> dict[str, Any]:
    """A message shaped like the SDK's v0 batch items."""
    message: dict[str, Any] = {
        "event": name,
        "distinct_id": distinct_id,
        "uuid": str(uuid.uuid4()),
        "timestamp": "2026-01-02T03:04:05+00:00",
        "properties": {"$lib": "posthog-python", "$lib_version": "0.0.0"},
    }
    props = fields.pop("properties", None)
    if props:
        message["properties"].update(props)
    message.update(fields)
    return message


def wait_for(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
