"""Posting batches: one sender for capture v0, v1 and the AI endpoint.

The sender serialises once, compresses once, then applies the pure retry policy. Waiting
between attempts goes through ``wait(seconds) -> bool`` so a shutdown can cut it short
(``wait`` returns True when the sender should give up now).
"""

from __future__ import annotations

import datetime as _dt
import gzip as _gzip
import logging
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from posthog._events.batch import v0_body, v1_body
from posthog._events.ids import new_uuid
from posthog._events.retry import V1_RETRYABLE, backoff_delay, is_retryable_status
from posthog._events.serialize import loads
from posthog._transport.base import Request, Response, Transport
from posthog.config import CaptureCompression, CaptureMode, ClientConfig
from posthog.exceptions import APIError, CaptureV1Error, PostHogError, TransportError
from posthog.version import VERSION

__all__ = ["Outcome", "Sender", "parse_retry_after"]

log = logging.getLogger("posthog")
USER_AGENT = f"hogwire/{VERSION}"

BATCH_PATH = "/batch/"
AI_PATH = "/i/v0/ai/batch/"
V1_PATH = "/i/v1/analytics/events"


@dataclass(slots=True)
class Outcome:
    """What became of a batch: how many events got through, and the final error if any."""

    sent: int
    failed: list[bytes]
    error: PostHogError | None
    retries: int


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # rare: only for HTTP-date Retry-After

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return max(0.0, (when - _dt.datetime.now(_dt.timezone.utc)).total_seconds())


def _error_message(response: Response) -> str:
    try:
        data = loads(response.body)
        if isinstance(data, dict) and data.get("detail"):
            return str(data["detail"])
    except Exception:
        pass
    return response.body[:200].decode("utf-8", errors="replace") or "request failed"


def _now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


class Sender:
    def __init__(self, config: ClientConfig, transport: Transport) -> None:
        self.config = config
        self.transport = transport

    # -- entry point ---------------------------------------------------------------------
    def deliver(
        self,
        events: Sequence[bytes],
        *,
        ai: bool = False,
        wait: Callable[[float], bool],
        max_retries: int | None = None,
        deadline: float | None = None,
    ) -> Outcome:
        retries = self.config.max_retries if max_retries is None else max_retries
        if self.config.capture_mode == CaptureMode.V1 and not ai:
            return self._deliver_v1(events, wait, max(0, retries), deadline)
        return self._deliver_v0(
            events, AI_PATH if ai else BATCH_PATH, wait, max(0, retries), deadline
        )

    # -- v0 ------------------------------------------------------------------------------
    def _deliver_v0(
        self,
        events: Sequence[bytes],
        path: str,
        wait: Callable[[float], bool],
        retries: int,
        deadline: float | None,
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
            error = self._post(cfg.host + path, headers, body, deadline)
            if error is None:
                return Outcome(len(events), [], None, attempt)
            if not self._should_retry(error, attempt, retries):
                return Outcome(0, list(events), error, attempt)
            attempt += 1
            delay = backoff_delay(attempt, getattr(error, "retry_after", None))
            if self._out_of_time(delay, deadline) or wait(delay):
                return Outcome(0, list(events), error, attempt)

    def _post(
        self, url: str, headers: dict[str, str], body: bytes, deadline: float | None
    ) -> PostHogError | None:
        try:
            response = self._request(url, headers, body, deadline)
        except TransportError as exc:
            return exc
        if response.status == 200:
            return None
        return APIError(
            response.status,
            _error_message(response),
            parse_retry_after(response.header("retry-after")),
        )

    def _request(
        self, url: str, headers: dict[str, str], body: bytes, deadline: float | None
    ) -> Response:
        timeout = self.config.timeout
        if deadline is not None:
            timeout = max(0.05, min(timeout, deadline - time.monotonic()))
        return self.transport.request(Request("POST", url, headers, body, timeout))

    @staticmethod
    def _should_retry(error: PostHogError, attempt: int, retries: int) -> bool:
        if attempt >= retries:
            return False
        if isinstance(error, APIError):
            return isinstance(error.status, int) and is_retryable_status(error.status)
        return isinstance(error, TransportError)

    @staticmethod
    def _out_of_time(delay: float, deadline: float | None) -> bool:
        return deadline is not None and time.monotonic() + delay >= deadline

    # -- v1 ------------------------------------------------------------------------------
    def _deliver_v1(
        self,
        events: Sequence[bytes],
        wait: Callable[[float], bool],
        retries: int,
        deadline: float | None,
    ) -> Outcome:
        cfg = self.config
        request_id = new_uuid()
        created_at = _now_iso()
        pending = list(events)
        sent = 0
        drops: dict[str, Any] = {}
        dropped: list[bytes] = []
        attempt = 0
        last_error: PostHogError | None = None
        while pending:
            headers = self._v1_headers(request_id, attempt + 1)
            body = self._compress(v1_body(pending, created_at, cfg.historical_migration), headers)
            try:
                response = self._request(cfg.host + V1_PATH, headers, body, deadline)
            except TransportError as exc:
                last_error, retry_after = exc, None
            else:
                if 200 <= response.status < 300:
                    ok, retry, verdicts = self._v1_results(response, pending)
                    if ok is None:  # unparseable 2xx: the server took it, we can't tell more
                        return Outcome(
                            sent,
                            pending,
                            APIError(response.status, "unreadable v1 response"),
                            attempt,
                        )
                    sent += ok
                    drops.update(verdicts)
                    dropped.extend(e for e in pending if _uuid_of(e) in verdicts)
                    pending = retry
                    if not pending:
                        break
                    last_error, retry_after = APIError(response.status, "events to retry"), None
                else:
                    retry_after = parse_retry_after(response.header("retry-after"))
                    last_error = APIError(response.status, _error_message(response), retry_after)
                    if response.status not in V1_RETRYABLE:
                        break
            if attempt >= retries:
                break
            attempt += 1
            delay = backoff_delay(attempt, retry_after)
            if self._out_of_time(delay, deadline) or wait(delay):
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

    def _v1_headers(self, request_id: str, attempt: int) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "PostHog-Sdk-Info": USER_AGENT,
            "Authorization": f"Bearer {self.config.api_key}",
            "PostHog-Attempt": str(attempt),
            "PostHog-Request-Id": request_id,
            "PostHog-Request-Timestamp": _now_iso(),
        }

    def _compress(self, body: bytes, headers: dict[str, str]) -> bytes:
        mode = self.config.capture_compression
        if mode == CaptureCompression.GZIP:
            headers["Content-Encoding"] = "gzip"
            return _gzip.compress(body, compresslevel=6, mtime=0)
        if mode == CaptureCompression.DEFLATE:
            headers["Content-Encoding"] = "deflate"
            return zlib.compress(body, 6)
        if mode == CaptureCompression.ZSTD:
            try:
                import zstandard
            except ImportError:
                log.warning("[PostHog] zstd needs the 'zstd' extra; sending gzip instead")
                headers["Content-Encoding"] = "gzip"
                return _gzip.compress(body, compresslevel=6, mtime=0)
            headers["Content-Encoding"] = "zstd"
            return bytes(zstandard.ZstdCompressor().compress(body))
        return body

    @staticmethod
    def _v1_results(
        response: Response, pending: list[bytes]
    ) -> tuple[int | None, list[bytes], dict[str, Any]]:
        try:
            results = loads(response.body).get("results")
        except Exception:
            return None, pending, {}
        if not isinstance(results, dict):
            return len(pending), [], {}
        retry: list[bytes] = []
        drops: dict[str, Any] = {}
        ok = 0
        for event in pending:
            ident = _uuid_of(event)
            verdict = results.get(ident) or {}
            kind = verdict.get("result", "ok") if isinstance(verdict, dict) else "ok"
            if kind == "retry":
                retry.append(event)
            elif kind == "drop":
                drops[ident] = verdict.get("details")
            else:
                ok += 1
        return ok, retry, drops


def _uuid_of(event: bytes) -> str:
    try:
        return str(loads(event).get("uuid"))
    except Exception:
        return ""
