"""The SDK's one rooted error tree.

Public calls never raise these unless the client runs with ``debug=True``; in normal
operation they travel as values (drop reasons, flag error codes, ``on_error`` arguments).

::

    PostHogError
    ├── InvalidArgumentError      a call's arguments cannot make a valid message
    ├── EventTooLargeError        an event over the per-event size cap
    ├── QueueFullError            the bounded queue had no room
    ├── ClientClosedError         a call after shutdown()
    └── TransportError            the request did not complete (DNS, connect, reset, timeout)
        ├── RequestTimeoutError   ...because it ran out of time
        └── APIError              the server answered, but not with success
            ├── QuotaLimitError   the project is over its quota for this product
            └── CaptureV1Error    capture v1 dropped events or exhausted its retries
"""

from __future__ import annotations

from typing import Any


class PostHogError(Exception):
    """Root of every error this SDK defines."""


class InvalidArgumentError(PostHogError, ValueError):
    """The arguments of a public call cannot form a valid message."""


class EventTooLargeError(PostHogError):
    """An event is larger than the endpoint's per-event cap."""


class QueueFullError(PostHogError):
    """The in-memory queue is full; the event was not admitted."""


class ClientClosedError(PostHogError):
    """The client was shut down; it no longer admits events."""


class TransportError(PostHogError):
    """A request did not complete: connection refused or reset, DNS failure, TLS error.

    ``refused`` is True when nothing accepted the connection (connection refused): the
    request never reached a server, so the ``/flags`` call does not retry it (spec 3.8).
    """

    def __init__(self, *args: object, refused: bool = False) -> None:
        super().__init__(*args)
        self.refused = refused


class RequestTimeoutError(TransportError):
    """A request did not complete within its timeout."""


class APIError(TransportError):
    """The server answered with a status that is not success."""

    def __init__(self, status: int | str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"[PostHog] {self.message} ({self.status})"


class QuotaLimitError(APIError):
    """The project is over quota (e.g. ``quotaLimited: ["feature_flags"]``)."""


class CaptureV1Error(APIError):
    """Capture v1 reported dropped events, or retries of some events ran out."""

    def __init__(
        self,
        status: int | str,
        message: str,
        *,
        request_id: str = "",
        attempts: int = 0,
        retry_exhausted: list[str] | None = None,
        drops: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(status, message)
        self.request_id = request_id
        self.attempts = attempts
        self.retry_exhausted = retry_exhausted or []
        self.drops = drops or {}
