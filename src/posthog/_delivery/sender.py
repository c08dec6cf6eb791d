"""Posting batches from a worker thread: the blocking driver of ``_events.exchange``.

What to send, when to retry and what became of the batch are decided once, by the
sans-I/O exchanges in ``posthog._events.exchange`` (shared with the asyncio sender).
This module only performs the steps they ask for: a blocking ``transport.request`` and
``wait(seconds) -> bool``, through which a shutdown cuts a backoff short (``wait``
returns True when the sender should give up now).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from posthog._events.exchange import Exchange, Outcome, Reply
    from posthog._transport.base import Request, Response, Transport
    from posthog.config import ClientConfig
    from posthog.exceptions import TransportError

__all__ = ["Sender", "run"]

log = logging.getLogger("posthog")


def run(
    steps: Exchange, transport: Transport, wait: Callable[[float], bool], count: int = 0
) -> Outcome:
    """Drive an exchange to its outcome, blocking on each request and each wait.

    With the ``posthog`` logger at DEBUG each attempt and each scheduled retry is logged;
    otherwise the check costs one cached level test per batch, not per event."""
    from posthog._events.exchange import Send

    debug = log.isEnabledFor(logging.DEBUG)
    attempt = 0
    last: Reply | None = None
    try:
        step = next(steps)
        while True:
            reply: Reply
            if isinstance(step, Send):
                attempt += 1
                reply = _attempt(transport, step.request)
                if debug:
                    _log_attempt(step.request, reply, count, attempt)
            else:
                if debug:
                    log.debug(
                        "[PostHog] retry %d scheduled in %.2fs after %s",
                        attempt,
                        step.seconds,
                        _describe(last),
                    )
                reply = wait(step.seconds)
            last = reply
            step = steps.send(reply)
    except StopIteration as done:
        outcome: Outcome = done.value
        return outcome


def _log_attempt(request: Request, reply: Reply, count: int, attempt: int) -> None:
    log.debug(
        "[PostHog] POST %s: %d event(s), %d bytes, attempt %d -> %s",
        request.url,
        count,
        len(request.body or b""),
        attempt,
        _describe(reply),
    )


def _describe(reply: Reply | None) -> str:
    from posthog._transport.base import Response

    if isinstance(reply, Response):
        return f"HTTP {reply.status}"
    if isinstance(reply, Exception):
        return f"{type(reply).__name__}: {reply}"
    return "no reply"


def _attempt(transport: Transport, request: Request) -> Response | TransportError:
    """One request. A custom transport that raises its own exception type (not only
    ``TransportError``) has made a failed attempt: the retry policy applies, as for a
    network error, and the worker thread lives on."""
    try:
        return transport.request(request)
    except Exception as exc:
        from posthog._transport.base import as_transport_error

        return as_transport_error(exc)


class Sender:
    """Delivers batches through ``transport``. The wire format (``_events.exchange``) loads
    with the first batch, on the worker thread: ``import posthog`` and the first
    ``capture()`` do not pay for it."""

    def __init__(self, config: ClientConfig, transport: Transport) -> None:
        self.config = config
        self.transport = transport

    def deliver(
        self,
        events: Sequence[bytes],
        *,
        ai: bool = False,
        wait: Callable[[float], bool],
        max_retries: int | None = None,
        deadline: float | None = None,
    ) -> Outcome:
        from posthog._events.exchange import exchange

        retries = self.config.max_retries if max_retries is None else max_retries
        steps = exchange(self.config, events, ai=ai, retries=retries, deadline=deadline)
        return run(steps, self.transport, wait, len(events))
