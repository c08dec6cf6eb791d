"""Celery: the caller's context travels with each task, and worker events are delivered.

::

    from posthog.integrations.celery import PosthogCeleryIntegration

    PosthogCeleryIntegration(client=client).instrument()   # in the caller and the worker

* **Propagation.** Publishing a task inside a context adds the context's distinct id,
  session id, window id and tags to the task's message headers
  (``X-POSTHOG-DISTINCT-ID``, ``X-POSTHOG-SESSION-ID``, ``X-POSTHOG-WINDOW-ID``,
  ``X-POSTHOG-CONTEXT-TAGS``). The worker restores them in a fresh context around the
  task, so ``client.capture("...")`` in the task is attributed like the request that
  queued it. An eager task (``task_always_eager``, ``apply()``) runs inside the caller's
  context instead, in a child scope: the caller's values show through and are intact
  after the task.
* **Delivery.** When a task ends, a short flush (``task_flush_timeout``, 0.5 s) sends its
  events; when one runs out of time (PostHog slow or down) task ends skip it for a while,
  so a worker never slows down with PostHog. When a worker process shuts down, a flush
  bounded by ``flush_timeout`` delivers the rest: prefork pool children leave with
  ``os._exit``, which skips ``atexit``; without this their last events were lost.
* **Errors and lifecycle.** A failing task becomes an ``$exception`` event (source
  ``celery``); optionally ``celery task started|success|failure|retry`` events are
  captured with ``celery_task_name``/``celery_task_id`` properties.
"""

from __future__ import annotations

import inspect
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from posthog.contexts import current_scope, new_context
from posthog.integrations._common import (
    capture_exception,
    resolve_client,
    sanitize_header,
    tracing_ids,
    warn_if_uwsgi_without_threads,
)

__all__ = ["CONTEXT_HEADERS", "PosthogCeleryIntegration", "context_headers", "read_headers"]

log = logging.getLogger("posthog")

DISTINCT_ID = "X-POSTHOG-DISTINCT-ID"
SESSION_ID = "X-POSTHOG-SESSION-ID"
WINDOW_ID = "X-POSTHOG-WINDOW-ID"
CONTEXT_TAGS = "X-POSTHOG-CONTEXT-TAGS"
CONTEXT_HEADERS = (DISTINCT_ID, SESSION_ID, WINDOW_ID, CONTEXT_TAGS)
TASK_FLUSH_PAUSE = 10.0  # seconds without task-end flushes after one ran out of time


def context_headers() -> dict[str, str]:
    """The current context as message headers (empty outside a context)."""
    scope = current_scope()
    if scope is None:
        return {}
    headers: dict[str, str] = {}
    for name, value in (
        (DISTINCT_ID, scope.resolved_distinct_id()),
        (SESSION_ID, scope.resolved_session_id()),
        (WINDOW_ID, scope.resolved_window_id()),
    ):
        if value:
            headers[name] = value
    tags = scope.resolved_tags()
    if tags:
        headers[CONTEXT_TAGS] = json.dumps(tags, default=str)
    return headers


def read_headers(request: Any) -> dict[str, Any]:
    """PostHog headers from a Celery task request, wherever the protocol put them."""
    found: dict[str, Any] = {}
    sources: list[Any] = [getattr(request, "headers", None), request]
    nested = getattr(request, "headers", None)
    if isinstance(nested, Mapping) and isinstance(nested.get("headers"), Mapping):
        sources.insert(0, nested["headers"])
    for name in CONTEXT_HEADERS:
        for source in sources:
            value = _get(source, name)
            if value is not None:
                found[name] = value
                break
    return found


def _get(source: Any, name: str) -> Any:
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(name)
    getter = getattr(source, "get", None)
    return getter(name) if callable(getter) else None


def _tags(raw: Any) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, (str, bytes)):
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return dict(value) if isinstance(value, dict) else {}
    return {}


class PosthogCeleryIntegration:
    def __init__(
        self,
        client: Any = None,
        capture_exceptions: bool = True,
        capture_task_lifecycle_events: bool = False,
        propagate_context: bool = True,
        task_filter: Callable[[str], bool] | None = None,
        flush_timeout: float = 5.0,
        task_flush_timeout: float = 0.5,
    ) -> None:
        self.client = client
        self.capture_exceptions = capture_exceptions
        self.capture_task_lifecycle_events = capture_task_lifecycle_events
        self.propagate_context = propagate_context
        self.task_filter = task_filter
        self.flush_timeout = flush_timeout
        self.task_flush_timeout = task_flush_timeout
        self._skip_task_flush_until = 0.0
        self._open: dict[str, tuple[Any, float, bool]] = {}
        self._lock = threading.Lock()
        self._connected = False

    # -- wiring --------------------------------------------------------------------------
    def instrument(self) -> PosthogCeleryIntegration:
        """Connect to Celery's signals (idempotent). Returns ``self``."""
        from celery import signals

        if self._connected:
            return self
        signals.before_task_publish.connect(self._on_publish, weak=False)
        signals.task_prerun.connect(self._on_prerun, weak=False)
        signals.task_postrun.connect(self._on_postrun, weak=False)
        signals.task_failure.connect(self._on_failure, weak=False)
        signals.task_retry.connect(self._on_retry, weak=False)
        signals.worker_process_shutdown.connect(self._on_worker_shutdown, weak=False)
        signals.worker_shutdown.connect(self._on_worker_shutdown, weak=False)
        self._connected = True
        warn_if_uwsgi_without_threads()
        return self

    def uninstrument(self) -> None:
        from celery import signals

        for signal, handler in (
            (signals.before_task_publish, self._on_publish),
            (signals.task_prerun, self._on_prerun),
            (signals.task_postrun, self._on_postrun),
            (signals.task_failure, self._on_failure),
            (signals.task_retry, self._on_retry),
            (signals.worker_process_shutdown, self._on_worker_shutdown),
            (signals.worker_shutdown, self._on_worker_shutdown),
        ):
            signal.disconnect(handler)
        self._connected = False

    def _wanted(self, name: Any) -> bool:
        if self.task_filter is None:
            return True
        try:
            return bool(self.task_filter(str(name)))
        except Exception as exc:
            log.warning("[PostHog] celery task_filter raised %r; tracking the task", exc)
            return True

    # -- caller side ---------------------------------------------------------------------
    def _on_publish(
        self, sender: Any = None, headers: dict[str, Any] | None = None, **_: Any
    ) -> None:
        if headers is None or not self._wanted(sender):
            return
        if self.capture_task_lifecycle_events:
            self._lifecycle("celery task published", sender, headers.get("id"))
        extra = context_headers() if self.propagate_context else {}
        if not extra:
            return
        headers.update(extra)
        nested = headers.setdefault("headers", {})  # where protocol 1 and retries look
        if isinstance(nested, dict):
            nested.update(extra)

    # -- worker side ---------------------------------------------------------------------
    def _on_prerun(self, task_id: Any = None, task: Any = None, **_: Any) -> None:
        if task is None or not self._wanted(task.name):
            return
        found = read_headers(task.request) if self.propagate_context else {}
        # An eager task (task_always_eager, apply()) runs in the caller's thread, inside the
        # caller's context: it gets a child of it (the caller's values show through, the
        # task's own do not leak out). A worker's task gets a fresh one from the headers.
        eager = _is_eager(task.request)
        manager = new_context(fresh=not eager, capture_exceptions=False, client=self.client)
        scope = manager.__enter__()
        ids = tracing_ids(_lower(found))
        scope.distinct_id = ids.distinct_id  # None: the parent's, in an eager child
        scope.session_id = ids.session_id
        scope.window_id = ids.window_id
        scope.tags.update(_tags(found.get(CONTEXT_TAGS)))
        with self._lock:
            self._open[str(task_id)] = (manager, time.monotonic(), eager)
        if self.capture_task_lifecycle_events:
            self._lifecycle("celery task started", task.name, task_id)

    def _on_postrun(
        self, task_id: Any = None, task: Any = None, state: Any = None, **_: Any
    ) -> None:
        with self._lock:
            entry = self._open.pop(str(task_id), None)
        if entry is None:
            return
        manager, started, eager = entry
        if self.capture_task_lifecycle_events and state == "SUCCESS":
            self._lifecycle(
                "celery task success",
                getattr(task, "name", None),
                task_id,
                {"celery_duration_ms": round((time.monotonic() - started) * 1000, 3)},
            )
        try:
            manager.__exit__(None, None, None)
        except ValueError:  # the task ran in another contextvars context: nothing to undo
            pass
        if not eager:  # an eager task's caller is no worker: its client delivers as usual
            self._flush_after_task()

    def _on_failure(
        self, sender: Any = None, task_id: Any = None, exception: Any = None, **_: Any
    ) -> None:
        name = getattr(sender, "name", None)
        if not self._wanted(name):
            return
        client = resolve_client(self.client)
        if self.capture_exceptions and isinstance(exception, BaseException):
            capture_exception(client, exception, "celery")
        if self.capture_task_lifecycle_events:
            self._lifecycle(
                "celery task failure",
                name,
                task_id,
                {"celery_exception_type": type(exception).__name__},
            )

    def _on_retry(self, sender: Any = None, request: Any = None, **_: Any) -> None:
        if self.capture_task_lifecycle_events and self._wanted(getattr(sender, "name", None)):
            self._lifecycle(
                "celery task retry", getattr(sender, "name", None), getattr(request, "id", None)
            )

    def _on_worker_shutdown(self, **_: Any) -> None:
        self._flush(self.flush_timeout)

    # -- helpers -------------------------------------------------------------------------
    def _lifecycle(
        self, event: str, name: Any, task_id: Any, extra: Mapping[str, Any] | None = None
    ) -> None:
        client = resolve_client(self.client)
        if client is None:
            return
        props = {"celery_task_name": str(name), "celery_task_id": str(task_id), **(extra or {})}
        try:
            client.capture(event, properties=props)
        except Exception as exc:
            log.debug("[PostHog] celery lifecycle event failed: %r", exc)

    def _flush_after_task(self) -> None:
        """A short, bounded flush: the task's events are usually out when the next task
        starts, but a slow or failing PostHog never holds the worker for long. After one
        runs out of time, tasks skip it for ``TASK_FLUSH_PAUSE`` seconds (the client keeps
        retrying in the background and the shutdown flush delivers the rest)."""
        if self.task_flush_timeout <= 0 or time.monotonic() < self._skip_task_flush_until:
            return
        if self._flush(self.task_flush_timeout) is False:
            self._skip_task_flush_until = time.monotonic() + TASK_FLUSH_PAUSE

    def _flush(self, timeout: float) -> bool | None:
        """Flush within ``timeout``: whether all was delivered (None: nothing to flush)."""
        client = resolve_client(self.client)
        flush = getattr(client, "flush", None)
        if not callable(flush):
            return None
        try:
            done = flush(timeout)
            if inspect.iscoroutine(done):  # an AsyncPosthog: its loop delivers on its own
                done.close()
                return None
            if not done:
                log.warning("[PostHog] celery: flush did not finish in %ss", timeout)
            return bool(done)
        except Exception as exc:
            log.warning("[PostHog] celery: flush failed: %r", exc)
            return False


def _is_eager(request: Any) -> bool:
    if getattr(request, "is_eager", False):
        return True
    delivery = getattr(request, "delivery_info", None)
    return isinstance(delivery, Mapping) and bool(delivery.get("is_eager"))


def _lower(found: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in found.items():
        text = sanitize_header(value) if name != CONTEXT_TAGS else None
        if text:
            out[name.lower()] = text
    return out
