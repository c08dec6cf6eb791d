"""Posting capture batches from the event loop.

The decisions are the sync sender's: bodies from ``posthog._events.batch``, the retry
policy from ``posthog._events.retry`` and the sender's own helpers (which statuses retry,
v1 headers, compression, reading v1 verdicts) - this class inherits them and only
replaces the two places where the sync sender blocks: the request and the wait.
"""

from __future__ import annotations

import asyncio
import gzip as _gzip
import time
from collections.abc import Sequence
from typing import Any

from posthog._delivery.sender import (
    AI_PATH,
    BATCH_PATH,
    USER_AGENT,
    V1_PATH,
    Outcome,
    Sender,
    _error_message,
    _now_iso,
    _uuid_of,
    parse_retry_after,
)
from posthog._events.batch import v0_body, v1_body
from posthog._events.ids import new_uuid
from posthog._events.retry import V1_RETRYABLE, backoff_delay
from posthog._transport.base import MockTransport, Request, Response
from posthog.config import CaptureMode, ClientConfig
from posthog.exceptions import APIError, CaptureV1Error, PostHogError, TransportError

from posthog._transport.asynchronous import AsyncTransport  # isort: skip

__all__ = ["AsyncSender"]


class AsyncSender(Sender):
    def __init__(self, config: ClientConfig, transport: AsyncTransport) -> None:
        super().__init__(config, MockTransport())  # the sync transport is never used
        self.async_transport = transport
        self.stop = asyncio.Event()  # set: give up waiting between retries now

    async def deliver_async(
        self, events: Sequence[bytes], *, ai: bool = False, deadline: float | None = None
    ) -> Outcome:
        retries = max(0, self.config.max_retries)
        if self.config.capture_mode == CaptureMode.V1 and not ai:
            return await self._v1(events, retries, deadline)
        return await self._v0(events, AI_PATH if ai else BATCH_PATH, retries, deadline)

    async def _wait(self, delay: float) -> bool:
        """Sleep ``delay`` seconds; True when told to stop instead."""
        try:
            await asyncio.wait_for(self.stop.wait(), delay)
        except asyncio.TimeoutError:
            return False
        return True

    async def _send(
        self, url: str, headers: dict[str, str], body: bytes, deadline: float | None
    ) -> Response:
        timeout = self.config.timeout
        if deadline is not None:
            timeout = max(0.05, min(timeout, deadline - time.monotonic()))
        return await self.async_transport.request(Request("POST", url, headers, body, timeout))

    async def _v0(
        self, events: Sequence[bytes], path: str, retries: int, deadline: float | None
    ) -> Outcome:
        cfg = self.config
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if cfg.gzip:
            headers["Content-Encoding"] = "gzip"
        attempt = 0
        while True:
            body = v0_body(events, cfg.api_key, cfg.historical_migration, _now_iso())
            if cfg.gzip:
                body = _gzip.compress(body, compresslevel=6, mtime=0)
            error = await self._post_v0(cfg.host + path, headers, body, deadline)
            if error is None:
                return Outcome(len(events), [], None, attempt)
            if not self._should_retry(error, attempt, retries):
                return Outcome(0, list(events), error, attempt)
            attempt += 1
            delay = backoff_delay(attempt, getattr(error, "retry_after", None))
            if self._out_of_time(delay, deadline) or await self._wait(delay):
                return Outcome(0, list(events), error, attempt)

    async def _post_v0(
        self, url: str, headers: dict[str, str], body: bytes, deadline: float | None
    ) -> PostHogError | None:
        try:
            response = await self._send(url, headers, body, deadline)
        except TransportError as exc:
            return exc
        if response.status == 200:
            return None
        retry_after = parse_retry_after(response.header("retry-after"))
        return APIError(response.status, _error_message(response), retry_after)

    async def _v1(self, events: Sequence[bytes], retries: int, deadline: float | None) -> Outcome:
        request_id, created_at = new_uuid(), _now_iso()
        pending, sent, attempt = list(events), 0, 0
        drops: dict[str, Any] = {}
        dropped: list[bytes] = []
        last_error: PostHogError | None = None
        while pending:
            headers = self._v1_headers(request_id, attempt + 1)
            body = self._compress(
                v1_body(pending, created_at, self.config.historical_migration), headers
            )
            retry_after: float | None = None
            try:
                response = await self._send(self.config.host + V1_PATH, headers, body, deadline)
            except TransportError as exc:
                last_error = exc
            else:
                if 200 <= response.status < 300:
                    ok, retry, verdicts = self._v1_results(response, pending)
                    if ok is None:
                        error = APIError(response.status, "unreadable v1 response")
                        return Outcome(sent, pending, error, attempt)
                    sent += ok
                    drops.update(verdicts)
                    dropped.extend(e for e in pending if _uuid_of(e) in verdicts)
                    pending = retry
                    if not pending:
                        break
                    last_error = APIError(response.status, "events to retry")
                else:
                    retry_after = parse_retry_after(response.header("retry-after"))
                    last_error = APIError(response.status, _error_message(response), retry_after)
                    if response.status not in V1_RETRYABLE:
                        break
            if attempt >= retries:
                break
            attempt += 1
            delay = backoff_delay(attempt, retry_after)
            if self._out_of_time(delay, deadline) or await self._wait(delay):
                break
        if not pending and not drops:
            return Outcome(sent, [], None, attempt)
        error = CaptureV1Error(
            getattr(last_error, "status", "drop"),
            f"{len(drops)} event(s) dropped, {len(pending)} not accepted",
            request_id=request_id,
            attempts=attempt + 1,
            retry_exhausted=[_uuid_of(e) for e in pending],
            drops=drops,
        )
        return Outcome(sent, pending + dropped, error, attempt)
