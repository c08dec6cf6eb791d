"""``Posthog`` / ``Client``: the public surface. Each method validates, builds a message
through the pure builders in ``_events`` and hands bytes to the delivery edge.

Promises: no public call raises unless ``debug=True``; ``capture()`` never blocks on I/O;
every event not delivered is counted under a reason (see :meth:`Client.stats`).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from posthog import _lifecycle
from posthog._delivery.sender import Sender
from posthog._delivery.stats import DropReason, Reporter
from posthog._delivery.worker import Lane, Worker
from posthog._events import message as build
from posthog._events.args import CaptureCall, resolve_capture
from posthog._events.batch import MAX_AI_EVENT_BYTES, MAX_EVENT_BYTES
from posthog._events.encode import encode, encode_complete, expand, full_message, item_size
from posthog._events.enrich import EventDefaults
from posthog._events.serialize import CleanReport, loads
from posthog._transport.http import HTTPTransport
from posthog.config import (
    CaptureCompression,
    CaptureMode,
    ClientConfig,
    normalize_host,
    unknown_options,
)
from posthog.contexts import ContextScope, current_scope
from posthog.exceptions import (
    ClientClosedError,
    EventTooLargeError,
    InvalidArgumentError,
    PostHogError,
    QueueFullError,
)

from posthog._client_exceptions import ExceptionsMixin  # isort: skip
from posthog._client_flags import FlagsMixin  # isort: skip
from posthog._client_people import PeopleMixin  # isort: skip

if TYPE_CHECKING:
    from posthog._delivery.snapshot import DeliveryStats
    from posthog._transport.base import Transport

__all__ = ["Client", "Posthog"]

log = logging.getLogger("posthog")

BeforeSend = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class Client(PeopleMixin, FlagsMixin, ExceptionsMixin):
    """A PostHog client. Thread-safe; create one per process and share it."""

    def __init__(
        self,
        project_api_key: str | None = None,
        host: str | None = None,
        debug: bool = False,
        max_queue_size: int = 10_000,
        send: bool = True,
        on_error: Callable[[Exception, list[Any]], Any] | None = None,
        flush_at: int = 100,
        flush_interval: float = 5.0,
        gzip: bool = False,
        max_retries: int = 3,
        sync_mode: bool = False,
        timeout: float = 15,
        thread: int = 1,
        poll_interval: float = 30,
        personal_api_key: str | None = None,
        disabled: bool = False,
        disable_geoip: bool = True,
        is_server: bool = True,
        historical_migration: bool = False,
        feature_flags_request_timeout_seconds: float = 3,
        feature_flags_request_max_retries: int = 1,
        super_properties: Mapping[str, Any] | None = None,
        enable_exception_autocapture: bool = False,
        log_captured_exceptions: bool = False,
        project_root: str | None = None,
        privacy_mode: bool = False,
        before_send: BeforeSend | None = None,
        enable_local_evaluation: bool = True,
        capture_mode: Any = None,
        capture_compression: Any = None,
        secret_key: str | None = None,
        in_app_modules: list[str] | None = None,
        *,
        api_key: str | None = None,
        proxy: str | None = None,
        ca_bundle: str | None = None,
        transport: Transport | None = None,
        on_drop: Callable[[str, int, str], Any] | None = None,
        shutdown_timeout: float = 5.0,
        flag_definitions: str | Mapping[str, Any] | None = None,
        **future_options: Any,
    ) -> None:
        key = (project_api_key or api_key or "").strip()
        self.api_key = key
        self.host = normalize_host(host)
        self.config = ClientConfig(
            api_key=key,
            host=self.host,
            max_queue_size=max_queue_size,
            send=send,
            flush_at=flush_at,
            flush_interval=flush_interval,
            gzip=gzip,
            max_retries=max(0, int(max_retries)),
            sync_mode=sync_mode,
            timeout=float(timeout),
            thread=thread,
            historical_migration=historical_migration,
            capture_mode=CaptureMode.parse(capture_mode),
            capture_compression=CaptureCompression.parse(capture_compression, gzip),
            shutdown_timeout=shutdown_timeout,
            feature_flags_request_timeout_seconds=float(feature_flags_request_timeout_seconds),
            feature_flags_request_max_retries=max(0, int(feature_flags_request_max_retries)),
            poll_interval=float(poll_interval),
            proxy=proxy,
            ca_bundle=ca_bundle,
            extra=dict(future_options),
        )
        self._debug = False
        self.debug = debug
        unknown = unknown_options(future_options)
        if unknown:  # a typo'd option would otherwise go unnoticed
            message = f"unknown option(s) {', '.join(unknown)}; check the spelling"
            if self._debug:
                raise TypeError(f"Posthog() got {message}")
            log.warning("[PostHog] ignoring %s", message)
        self.disabled = bool(disabled)
        if not key:
            log.error("[PostHog] no project API key given; the client is disabled")
            self.disabled = True
        self.disable_geoip = disable_geoip
        self.is_server = is_server
        self.on_error = on_error
        self.before_send = before_send if callable(before_send) else None
        if before_send is not None and not callable(before_send):
            log.warning("[PostHog] before_send is not callable; ignoring it")
        self.shutdown_timeout = shutdown_timeout
        self.send = send
        self.sync_mode = sync_mode
        self.enable_exception_autocapture = enable_exception_autocapture
        self.log_captured_exceptions = log_captured_exceptions
        self.project_root = project_root
        self.in_app_modules = in_app_modules
        self.privacy_mode = privacy_mode
        self._super_properties = dict(super_properties or {})
        self._defaults = EventDefaults.build(self._super_properties, is_server)
        self.transport: Transport = transport or HTTPTransport(proxy=proxy, ca_bundle=ca_bundle)
        self._reporter = Reporter(on_drop)
        self._closed = False
        self._lanes = [
            Lane("analytics", ai=False, max_event_bytes=MAX_EVENT_BYTES),
            Lane("ai", ai=True, max_event_bytes=MAX_AI_EVENT_BYTES),
        ]
        self._sender = Sender(self.config, self.transport)
        self._worker = Worker(
            lanes=self._lanes,
            sender=self._sender,
            reporter=self._reporter,
            defaults=lambda: self._defaults,
            flush_at=flush_at,
            flush_interval=flush_interval,
            on_error=on_error,
        )
        self._threaded = send and not sync_mode and thread > 0
        self._sync_lock = threading.Lock()
        self._init_flags(
            secret_key=secret_key,
            personal_api_key=personal_api_key,
            poll_interval=float(poll_interval),
            enable_local_evaluation=enable_local_evaluation,
            flag_definitions=flag_definitions,
        )
        _lifecycle.register(self)
        if self._threaded and "uwsgi" in sys.modules:
            from posthog.integrations._common import warn_if_uwsgi_without_threads

            warn_if_uwsgi_without_threads()  # without threads our worker would never run
        if enable_exception_autocapture:
            self._install_exception_hooks()

    # -- runtime switches ----------------------------------------------------------------
    @property
    def debug(self) -> bool:
        return self._debug

    @debug.setter
    def debug(self, value: bool) -> None:
        self._debug = bool(value)
        if self._debug:
            log.setLevel(logging.DEBUG)
            if not log.handlers and not logging.getLogger().handlers:
                log.addHandler(logging.StreamHandler())
        elif log.level == logging.DEBUG:
            log.setLevel(logging.WARNING)

    @property
    def super_properties(self) -> dict[str, Any]:
        return dict(self._super_properties)

    @super_properties.setter
    def super_properties(self, value: Mapping[str, Any] | None) -> None:
        self._super_properties = dict(value or {})
        self._defaults = EventDefaults.build(self._super_properties, self.is_server)

    # -- capture -------------------------------------------------------------------------
    def capture(self, *args: Any, **kwargs: Any) -> str | None:
        """Capture an event. Both documented call styles work (see ``posthog._events.args``):

        ``capture('distinct id', 'movie played', {'movie_id': '123'})`` and
        ``capture('movie played', distinct_id='distinct id', properties={...})``.
        Returns the event's uuid, or ``None`` when the event was not admitted.
        """
        if self.disabled:
            return None
        try:
            call = resolve_capture(args, kwargs)
            scope = current_scope()
            return self._admit(self._capture_draft(call, scope, flags=True), ai=False)
        except Exception as exc:
            return self._failed("capture", exc)

    def capture_ai(self, event: str, **kwargs: Any) -> str | None:
        """Capture an LLM-observability event (``$ai_*``) to the AI endpoint (8 MiB cap)."""
        if self.disabled:
            return None
        try:
            call = resolve_capture((event,), kwargs)
            scope = current_scope()
            return self._admit(self._capture_draft(call, scope, flags=False), ai=True)
        except Exception as exc:
            return self._failed("capture_ai", exc)

    def _capture_draft(
        self, call: CaptureCall, scope: ContextScope | None, flags: bool
    ) -> build.Draft:
        geoip = call.disable_geoip
        return build.capture_draft(
            self._defaults,
            call,
            bool(self.disable_geoip if geoip is None else geoip),
            (
                self._capture_flag_properties(call, scope)
                if flags and (call.flags is not None or call.send_feature_flags)
                else None
            ),
            scope,
        )

    def _geoip(self, value: Any) -> bool:
        return bool(self.disable_geoip if value is None else value)

    # -- admission -----------------------------------------------------------------------
    def _admit(self, draft: build.Draft, *, ai: bool) -> str | None:
        ident: str = draft.message["uuid"]
        if self.before_send is not None:
            report = CleanReport()
            item, ident_or_none = self._run_before_send(draft, report)
            if item is None or ident_or_none is None:
                return None
            ident = ident_or_none
            draft.problems.extend(report.dropped)
        else:
            item = encode(draft)
        if draft.problems:
            self._warn_problems(draft)
        lane = self._lanes[1] if ai else self._lanes[0]
        size = item_size(item, self._defaults)
        if size > lane.max_event_bytes:
            return self._refuse(
                DropReason.TOO_LARGE,
                EventTooLargeError(
                    f"event {draft.message['event']!r} is {size} bytes, over the "
                    f"{lane.max_event_bytes}-byte limit"
                ),
            )
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "[PostHog] %s event %r uuid=%s (%d bytes)",
                "sending" if self.sync_mode else "queued" if self.send else "not sending",
                draft.message.get("event"),
                ident,
                size,
            )
        if not self.send:
            return ident
        if self._closed:
            return self._refuse(DropReason.SHUTDOWN, ClientClosedError("client is shut down"))
        if not self._threaded:
            return (
                self._send_now(item, ai, ident)
                if self.sync_mode
                else self._enqueue(lane, item, ident)
            )
        return self._enqueue(lane, item, ident)

    def _enqueue(self, lane: Lane, item: bytes, ident: str) -> str | None:
        items = lane.items
        config = self.config
        if len(items) >= config.max_queue_size:
            return self._refuse(
                DropReason.QUEUE_FULL,
                QueueFullError(f"{lane.name} queue is full ({config.max_queue_size} events)"),
            )
        items.append(item)
        self._reporter.count_queued()
        if self._threaded:
            worker = self._worker
            if worker._thread is None:
                worker.ensure_started()
            n = len(items)
            if (n == 1 or n >= config.flush_at) and not worker.wake.is_set():
                worker.wake.set()
        return ident

    def _send_now(self, item: bytes, ai: bool, ident: str) -> str | None:
        self._reporter.count_queued()
        event = expand(item, self._defaults)
        deadline = time.monotonic() + self.config.timeout
        try:
            outcome = self._sender.deliver(
                [event], ai=ai, wait=_sleep_then_continue, deadline=deadline
            )
        except Exception as exc:  # not a network failure (those are outcomes): still counted
            from posthog._events.exchange import Outcome

            outcome = Outcome(0, [event], PostHogError(f"{type(exc).__name__}: {exc}"), 0)
        self._worker._account(outcome)
        if outcome.error is not None and self._debug:
            raise outcome.error
        return None if outcome.failed else ident

    def _run_before_send(
        self, draft: build.Draft, report: CleanReport
    ) -> tuple[bytes | None, str | None]:
        callback = self.before_send
        assert callback is not None
        try:
            result = callback(full_message(draft, self._defaults))
        except Exception as exc:
            if self._debug:
                raise
            self._reporter.drop(DropReason.BEFORE_SEND, 1, f"before_send raised {exc!r}")
            return None, None
        if result is None:
            self._reporter.drop(DropReason.BEFORE_SEND, 1, "before_send returned None")
            return None, None
        if not isinstance(result, dict):
            self._reporter.drop(
                DropReason.BEFORE_SEND, 1, f"before_send returned {type(result).__name__}, not dict"
            )
            return None, None
        item = encode_complete(result, report)
        return item, _uuid_of(item)

    def _refuse(self, reason: str, error: PostHogError) -> str | None:
        if self._debug:
            raise error
        self._reporter.drop(reason, 1, str(error))
        return None

    def _failed(self, method: str, exc: Exception) -> str | None:
        if self._debug:
            raise exc
        # The call could not become a message (bad arguments, or a bug of ours): either way
        # the event is counted under a documented reason, never an ad-hoc one.
        self._reporter.drop(DropReason.INVALID, 1, f"{method}(): {type(exc).__name__}: {exc}")
        return None

    def _warn_problems(self, draft: build.Draft) -> None:
        name = draft.message.get("event")
        if self._debug:
            raise InvalidArgumentError(f"[PostHog] event {name!r}: " + "; ".join(draft.problems))
        by_kind: dict[str, list[str]] = {}
        for problem in draft.problems:
            by_kind.setdefault(_problem_kind(problem), []).append(problem)
        for kind, problems in by_kind.items():  # rate-limited: one line per kind per minute
            self._reporter.warn(kind, f"event {name!r}: " + "; ".join(problems))

    # -- lifecycle -----------------------------------------------------------------------
    def stats(self) -> DeliveryStats:
        """Delivery figures: queued, sent, retried, failed batches, drops by reason."""
        return self._reporter.snapshot(self._worker.pending())

    def flush(self, timeout_seconds: float | None = 10) -> bool:
        """Send everything queued now; wait at most ``timeout_seconds``. True when done."""
        try:
            done = self._worker.flush(timeout_seconds)
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "[PostHog] flush %s (%s)",
                    "complete" if done else f"timed out after {timeout_seconds}s",
                    self.stats(),
                )
            return done
        except Exception as exc:
            if self._debug:
                raise
            log.warning("[PostHog] flush failed: %r", exc)
            return False

    def join(self) -> None:
        """Deliver everything queued (bounded by ``shutdown_timeout``) and stop the thread."""
        self._closed = True
        try:
            self._worker.close(self.shutdown_timeout)
        except Exception as exc:
            if self._debug:
                raise
            log.warning("[PostHog] join failed: %r", exc)

    def shutdown(self) -> None:
        """``join()``, stop polling, release connections. Later captures are dropped.

        Safe after ``join()`` or a second time: the cleanup always runs."""
        if not self._closed or self._worker.alive():
            self.join()
        self._shutdown_flags()
        self._uninstall_exception_hooks()
        try:
            self.transport.close()
        except Exception:
            pass

    def _at_exit(self, budget: float) -> None:
        # Also for a client already closing: shutdown() may be running in another thread
        # (the module-level client replaced after a settings change) and would be cut
        # off by interpreter exit. Its pending events get this budget, or are counted.
        if self._threaded:
            self._closed = True
            self._worker.close(budget)

    def _after_fork_in_child(self) -> None:
        self._worker.after_fork_in_child()
        self._sync_lock = threading.Lock()
        reset_transport = getattr(self.transport, "after_fork_in_child", None)
        if callable(reset_transport):
            reset_transport()
        self._flags_after_fork()

    # -- exception capture hooks (filled in by posthog.exception_capture) ----------------
    def _install_exception_hooks(self) -> None:
        try:
            from posthog.exception_capture import install  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            return
        install(self)

    def _uninstall_exception_hooks(self) -> None:
        try:
            from posthog.exception_capture import uninstall  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            return
        uninstall(self)


def _problem_kind(problem: str) -> str:
    for kind in ("timestamp", "uuid"):
        if problem.startswith("invalid " + kind):
            return kind
    return "property value"


def _uuid_of(event: bytes) -> str | None:
    try:
        value = loads(event).get("uuid")
    except Exception:
        return None
    return None if value is None else str(value)


def _sleep_then_continue(seconds: float) -> bool:
    time.sleep(seconds)
    return False


class Posthog(Client):
    """The documented name: ``from posthog import Posthog``."""
