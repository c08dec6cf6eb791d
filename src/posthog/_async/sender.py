"""Posting capture batches from the event loop: the awaiting driver of the exchanges.

Every decision is the sync sender's, because both drive the same sans-I/O exchanges
(``posthog._events.exchange``: bodies, headers, compression, retry policy, v1 verdicts,
deadlines). This module only replaces the two places where the sync driver blocks: it
awaits the request and sleeps on ``stop`` so a shutdown can end a backoff early.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from posthog._events.exchange import Exchange, Outcome, Reply, Send, exchange
from posthog._transport.asynchronous import AsyncTransport
from posthog.config import ClientConfig
from posthog.exceptions import TransportError

__all__ = ["AsyncSender", "run_async"]


async def run_async(steps: Exchange, transport: AsyncTransport, stop: asyncio.Event) -> Outcome:
    """Drive an exchange to its outcome; a wait ends early (True) once ``stop`` is set."""
    try:
        step = next(steps)
        while True:
            reply: Reply
            if isinstance(step, Send):
                try:
                    reply = await transport.request(step.request)
                except TransportError as exc:
                    reply = exc
            else:
                reply = await _wait(stop, step.seconds)
            step = steps.send(reply)
    except StopIteration as done:
        outcome: Outcome = done.value
        return outcome


async def _wait(stop: asyncio.Event, delay: float) -> bool:
    """Sleep ``delay`` seconds; True when told to stop instead."""
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except asyncio.TimeoutError:
        return False
    return True


class AsyncSender:
    def __init__(self, config: ClientConfig, transport: AsyncTransport) -> None:
        self.config = config
        self.async_transport = transport
        self.stop = asyncio.Event()  # set: give up waiting between retries now

    async def deliver_async(
        self, events: Sequence[bytes], *, ai: bool = False, deadline: float | None = None
    ) -> Outcome:
        steps = exchange(
            self.config, events, ai=ai, retries=self.config.max_retries, deadline=deadline
        )
        return await run_async(steps, self.async_transport, self.stop)
