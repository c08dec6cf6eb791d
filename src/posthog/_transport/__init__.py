"""The only code that knows HTTP. A ``Transport`` turns a :class:`Request` into a
:class:`Response` or raises :class:`~posthog.exceptions.TransportError`; nothing else
escapes it. Users can pass their own (``Posthog(..., transport=...)``), e.g.
:class:`MockTransport` in tests.

The names load on first use: a client builds its :class:`HTTPTransport` at construction,
but the ``Request``/``Response`` dataclasses are first needed by the first request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from posthog._lazy import lazy_exports

if TYPE_CHECKING:
    from posthog._transport.base import MockTransport, Request, Response, Transport
    from posthog._transport.http import HTTPTransport

__all__ = ["HTTPTransport", "MockTransport", "Request", "Response", "Transport"]

__getattr__ = lazy_exports(
    __name__,
    {
        "HTTPTransport": "posthog._transport.http",
        "MockTransport": "posthog._transport.base",
        "Request": "posthog._transport.base",
        "Response": "posthog._transport.base",
        "Transport": "posthog._transport.base",
    },
)
