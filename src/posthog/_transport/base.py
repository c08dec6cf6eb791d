"""Transport interface and a handler-driven mock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from posthog.exceptions import TransportError

__all__ = [
    "MockTransport",
    "Request",
    "Response",
    "Transport",
    "as_transport_error",
    "was_refused",
]


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)  # keys lower-cased
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def was_refused(exc: BaseException) -> bool:
    """True when ``exc`` (or an error it was raised from) is a refused connection."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ConnectionRefusedError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def as_transport_error(exc: Exception) -> TransportError:
    """``exc`` itself if it is a ``TransportError``, else one naming it (``exc`` as its
    cause). Whatever a transport raises, the sender sees a failed attempt of ours."""
    if isinstance(exc, TransportError):
        return exc
    error = TransportError(f"{type(exc).__name__}: {exc}", refused=was_refused(exc))
    error.__cause__ = exc
    return error


@runtime_checkable
class Transport(Protocol):
    def request(self, request: Request) -> Response:
        """Send one request; raise ``TransportError`` (or a subclass) if it cannot complete."""
        ...

    def close(self) -> None: ...


class MockTransport:
    """A transport that answers every request with ``handler(request)`` and records it.

    The handler may raise :class:`~posthog.exceptions.TransportError` to simulate
    network failures.
    """

    def __init__(self, handler: Callable[[Request], Response] | None = None) -> None:
        self._handler = handler or (lambda _request: Response(200, {}, b'{"status": 1}'))
        self._lock = threading.Lock()
        self.requests: list[Request] = []

    def request(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
        return self._handler(request)

    def close(self) -> None:
        pass
