"""The only code that knows HTTP. A ``Transport`` turns a :class:`Request` into a
:class:`Response` or raises :class:`~posthog.exceptions.TransportError`; nothing else
escapes it. Users can pass their own (``Posthog(..., transport=...)``), e.g.
:class:`MockTransport` in tests.
"""

from __future__ import annotations

from posthog._transport.base import MockTransport, Request, Response, Transport
from posthog._transport.http import HTTPTransport

__all__ = ["HTTPTransport", "MockTransport", "Request", "Response", "Transport"]
