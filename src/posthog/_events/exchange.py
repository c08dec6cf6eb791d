"""Posting a batch as a sans-I/O exchange: the retry loops, written once.

Capture v0 (``/batch/``, ``/i/v0/ai/batch/``) and v1 (``/i/v1/analytics/events``) each
need a loop of "build the body, send it, read the answer, maybe wait and try again".
The sync sender (a worker thread) and the asyncio sender (the event loop) must make the
same decisions and differ only in how they block, so each loop is a generator here that
*asks* for I/O instead of doing it:

* it yields ``Send(request)`` and is resumed with the ``Response`` - or with the
  ``TransportError`` the transport raised;
* it yields ``Sleep(seconds)`` and is resumed with ``True`` when the caller must give up
  now (shutdown), ``False`` once the time has passed;
* it returns the ``Outcome``.

A driver is a few lines per edge (``_delivery.sender`` and ``_async.sender``); tests can
drive an exchange by hand with fake responses. Clocks are parameters for the same reason.
"""

from __future__ import annotations

import datetime as _dt
import gzip as _gzip
import logging
import time
import zlib
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from posthog._events.batch import v0_body, v1_body
from posthog._events.ids import new_uuid
from posthog._events.retry import V1_RETRYABLE, backoff_delay, is_retryable_status
from posthog._events.serialize import loads
from posthog._transport.base import Request, Response
from posthog.config import CaptureCompression, CaptureMode, ClientConfig
from posthog.exceptions import APIError, CaptureV1Error, PostHogError, TransportError
from posthog.version import VERSION

__all__ = [
    "AI_PATH",
    "BATCH_PATH",
    "USER_AGENT",
    "V1_PATH",
    "Exchange",
    "Outcome",
    "Reply",
    "Send",
    "Sleep",
    "Step",
    "exchange",
    "parse_retry_after",
    "v0_exchange",
    "v1_exchange",
]

log = logging.getLogger("posthog")
USER_AGENT = f"hogwire/{VERSION}"

BATCH_PATH = "/batch/"
AI_PATH = "/i/v0/ai/batch/"
V1_PATH = "/i/v1/analytics/events"


@dataclass(slots=True)
class Outcome:
    """What became of a batch: how many events got through, and the final error if any.

    ``retries`` counts the retries scheduled; ``retry_skipped`` is True when the last one
    never ran (its wait would pass the deadline, or a shutdown cut it short), so the
    figures count ``performed_retries`` only.
    """

    sent: int
    failed: list[bytes]
    error: PostHogError | None
    retries: int
    retry_skipped: bool = field(default=False, compare=False)

    @property
    def performed_retries(self) -> int:
        return self.retries - 1 if self.retry_skipped and self.retries > 0 else self.retries


@dataclass(frozen=True, slots=True)
class Send:
    """Step: perform this request; resume with its ``Response`` or ``TransportError``."""

    request: Request


@dataclass(frozen=True, slots=True)
class Sleep:
    """Step: wait this long; resume with True to abandon the batch (shutdown)."""

    seconds: float


Step: TypeAlias = Send | Sleep
Reply: TypeAlias = Response | TransportError | bool
Exchange: TypeAlias = Generator[Step, Reply, Outcome]
Clock: TypeAlias = Callable[[], float]


def exchange(
    config: ClientConfig,
    events: Sequence[bytes],
    *,
    ai: bool,
    retries: int,
    deadline: float | None,
    clock: Clock = time.monotonic,
) -> Exchange:
    """The exchange for one batch: v1 for capture in v1 mode, v0 otherwise (AI is v0)."""
    retries = max(0, retries)
    if config.capture_mode == CaptureMode.V1 and not ai:
        return v1_exchange(config, events, retries, deadline, clock)
    return v0_exchange(config, events, AI_PATH if ai else BATCH_PATH, retries, deadline, clock)


# -- steps -----------------------------------------------------------------------------
def _send(request: Request) -> Generator[Step, Reply, Response | TransportError]:
    reply = yield Send(request)
    if isinstance(reply, bool):  # a driver bug, not a network condition
        raise TypeError("Send must be answered with a Response or a TransportError")
    return reply


def _sleep(seconds: float) -> Generator[Step, Reply, bool]:
    return (yield Sleep(seconds)) is True


def _post(
    config: ClientConfig,
    url: str,
    headers: dict[str, str],
    body: bytes,
    deadline: float | None,
    clock: Clock,
) -> Request:
    """A POST whose timeout never runs past the deadline (a shutdown has a budget)."""
    timeout = config.timeout
    if deadline is not None:
        timeout = max(0.05, min(timeout, deadline - clock()))
    return Request("POST", url, headers, body, timeout)


def _out_of_time(delay: float, deadline: float | None, clock: Clock) -> bool:
    return deadline is not None and clock() + delay >= deadline


# -- v0 --------------------------------------------------------------------------------
def v0_exchange(
    config: ClientConfig,
    events: Sequence[bytes],
    path: str,
    retries: int,
    deadline: float | None,
    clock: Clock = time.monotonic,
) -> Exchange:
    """All-or-nothing batch: retry the whole body on network errors, 408, 429 and 5xx."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if config.gzip:
        headers["Content-Encoding"] = "gzip"
    attempt = 0
    while True:
        # sent_at is refreshed per attempt so the server's clock-skew fix stays right.
        body = v0_body(events, config.api_key, config.historical_migration, _now_iso())
        if config.gzip:
            body = _gzip.compress(body, compresslevel=6, mtime=0)
        request = _post(config, config.host + path, headers, body, deadline, clock)
        error = _v0_error((yield from _send(request)))
        if error is None:
            return Outcome(len(events), [], None, attempt)
        if not _should_retry(error, attempt, retries):
            return Outcome(0, list(events), error, attempt)
        attempt += 1
        delay = backoff_delay(attempt, getattr(error, "retry_after", None))
        if _out_of_time(delay, deadline, clock) or (yield from _sleep(delay)):
            return Outcome(0, list(events), error, attempt, retry_skipped=True)


def _v0_error(reply: Response | TransportError) -> PostHogError | None:
    if isinstance(reply, TransportError):
        return reply
    if reply.status == 200:
        return None
    return APIError(
        reply.status, _error_message(reply), parse_retry_after(reply.header("retry-after"))
    )


def _should_retry(error: PostHogError, attempt: int, retries: int) -> bool:
    if attempt >= retries:
        return False
    if isinstance(error, APIError):
        return isinstance(error.status, int) and is_retryable_status(error.status)
    return isinstance(error, TransportError)


# -- v1 --------------------------------------------------------------------------------
def v1_exchange(
    config: ClientConfig,
    events: Sequence[bytes],
    retries: int,
    deadline: float | None,
    clock: Clock = time.monotonic,
) -> Exchange:
    """Per-event verdicts: resend only the events the server asked to retry.

    One request id for every attempt (the server deduplicates on it); drops are final
    and reported; an unreadable 2xx is terminal (the server took the batch).
    """
    request_id = new_uuid()
    created_at = _now_iso()
    pending = list(events)
    sent = 0
    drops: dict[str, Any] = {}
    dropped: list[bytes] = []
    attempt = 0
    skipped = False
    last_error: PostHogError | None = None
    while pending:
        headers = _v1_headers(config, request_id, attempt + 1)
        body = _compress(config, v1_body(pending, created_at, config.historical_migration), headers)
        request = _post(config, config.host + V1_PATH, headers, body, deadline, clock)
        reply = yield from _send(request)
        retry_after: float | None = None
        if isinstance(reply, TransportError):
            last_error = reply
        elif 200 <= reply.status < 300:
            ok, retry, verdicts = _v1_results(reply, pending)
            if ok is None:  # unparseable 2xx: the server took it, we can't tell more
                error = APIError(reply.status, "unreadable v1 response")
                return Outcome(sent, pending, error, attempt)
            sent += ok
            drops.update(verdicts)
            dropped.extend(e for e in pending if _uuid_of(e) in verdicts)
            pending = retry
            if not pending:
                break
            last_error = APIError(reply.status, "events to retry")
        else:
            retry_after = parse_retry_after(reply.header("retry-after"))
            last_error = APIError(reply.status, _error_message(reply), retry_after)
            if reply.status not in V1_RETRYABLE:
                break
        if attempt >= retries:
            break
        attempt += 1
        delay = backoff_delay(attempt, retry_after)
        if _out_of_time(delay, deadline, clock) or (yield from _sleep(delay)):
            skipped = True
            break
    if not pending and not drops:
        return Outcome(sent, [], None, attempt)
    error = CaptureV1Error(
        getattr(last_error, "status", "drop"),
        f"{len(drops)} event(s) dropped, {len(pending)} not accepted",
        request_id=request_id,
        attempts=attempt if skipped else attempt + 1,
        retry_exhausted=[_uuid_of(e) for e in pending],
        drops=drops,
    )
    return Outcome(sent, pending + dropped, error, attempt, retry_skipped=skipped)


def _v1_headers(config: ClientConfig, request_id: str, attempt: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "PostHog-Sdk-Info": USER_AGENT,
        "Authorization": f"Bearer {config.api_key}",
        "PostHog-Attempt": str(attempt),
        "PostHog-Request-Id": request_id,
        "PostHog-Request-Timestamp": _now_iso(),
    }


def _compress(config: ClientConfig, body: bytes, headers: dict[str, str]) -> bytes:
    """Compress per ``capture_compression`` and set Content-Encoding to match."""
    mode = config.capture_compression
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


def _v1_results(
    response: Response, pending: list[bytes]
) -> tuple[int | None, list[bytes], dict[str, Any]]:
    """(accepted count or None if unreadable, events to retry, drops by uuid)."""
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


# -- reading responses -----------------------------------------------------------------
def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent."""
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


def _uuid_of(event: bytes) -> str:
    try:
        return str(loads(event).get("uuid"))
    except Exception:
        return ""
