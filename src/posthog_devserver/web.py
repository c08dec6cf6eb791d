"""Request and response values shared by the HTTP handler and the route functions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""
    raw_query: str = ""  # as sent, still percent-encoded (``query`` is decoded as UTF-8)

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def bearer(self) -> str | None:
        """The token of ``Authorization: Bearer <token>``, if one was sent."""
        value = self.header("authorization").strip()
        scheme, _, token = value.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, body, "application/json", dict(headers or {}))
