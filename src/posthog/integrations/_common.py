"""What every web integration does per request, independent of the framework.

The pure part reads a framework-neutral :class:`RequestInfo` (method, URL pieces,
headers, peer address) into request properties and PostHog's tracing ids. The only
impure function, :func:`request_context`, opens a context scope and writes those values
into it; each framework adapter just builds a ``RequestInfo`` and wraps the request in it.

Tracing headers are set by posthog-js (``__add_tracing_headers``) so backend events join
the browser's session replay: ``X-POSTHOG-SESSION-ID`` becomes ``$session_id``,
``X-POSTHOG-WINDOW-ID`` ``$window_id`` and ``X-POSTHOG-DISTINCT-ID`` the default person.
They come from the client, so they are sanitised (control characters removed, length
capped) and can be turned off.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from posthog.contexts import (
    ContextScope,
    identify_context,
    new_context,
    set_context_session,
    set_context_window_id,
    tag,
)

__all__ = [
    "DISTINCT_ID_HEADER",
    "MAX_HEADER_LENGTH",
    "SESSION_ID_HEADER",
    "WINDOW_ID_HEADER",
    "RequestInfo",
    "TracingIds",
    "capture_exception",
    "request_context",
    "request_properties",
    "resolve_client",
    "sanitize_header",
    "tracing_ids",
    "uwsgi_threads_problem",
    "warn_if_uwsgi_without_threads",
]

log = logging.getLogger("posthog")

SESSION_ID_HEADER = "x-posthog-session-id"
DISTINCT_ID_HEADER = "x-posthog-distinct-id"
WINDOW_ID_HEADER = "x-posthog-window-id"
MAX_HEADER_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """A request as the integrations need it; ``headers`` keys are lower-case."""

    method: str
    path: str
    scheme: str = "http"
    host: str = ""
    query_string: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    remote_addr: str | None = None

    @property
    def url(self) -> str:
        base = f"{self.scheme}://{self.host}{self.path}" if self.host else self.path
        return f"{base}?{self.query_string}" if self.query_string else base


@dataclass(frozen=True, slots=True)
class TracingIds:
    distinct_id: str | None = None
    session_id: str | None = None
    window_id: str | None = None


def sanitize_header(value: Any) -> str | None:
    """A header value fit to become an id: printable, trimmed, at most 1000 characters."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = "".join(ch for ch in str(value) if ch.isprintable()).strip()
    return text[:MAX_HEADER_LENGTH] or None


def tracing_ids(headers: Mapping[str, str]) -> TracingIds:
    """PostHog's tracing headers from lower-cased ``headers``."""
    return TracingIds(
        distinct_id=sanitize_header(headers.get(DISTINCT_ID_HEADER)),
        session_id=sanitize_header(headers.get(SESSION_ID_HEADER)),
        window_id=sanitize_header(headers.get(WINDOW_ID_HEADER)),
    )


def _client_ip(info: RequestInfo) -> str | None:
    forwarded = info.headers.get("x-forwarded-for")
    if forwarded:
        first = sanitize_header(forwarded.split(",")[0])
        if first:
            return first
    return info.remote_addr or None


def request_properties(info: RequestInfo) -> dict[str, Any]:
    """``$current_url``, ``$request_method``, ``$request_path``, ``$ip``, ``$user_agent``."""
    props: dict[str, Any] = {
        "$current_url": info.url,
        "$request_method": info.method.upper(),
        "$request_path": info.path,
    }
    ip = _client_ip(info)
    if ip:
        props["$ip"] = ip
    agent = info.headers.get("user-agent")
    if agent:
        props["$user_agent"] = agent
    return props


def resolve_client(client: Any) -> Any:
    """The given client, or the module's default client (built from ``posthog.*`` settings)."""
    if client is not None:
        return client
    from posthog import _default

    try:
        return _default.get_client()
    except Exception:  # never break the request because the SDK is misconfigured
        return None


@contextlib.contextmanager
def request_context(
    info: RequestInfo,
    *,
    client: Any = None,
    capture_tracing_headers: bool = True,
    distinct_id: str | None = None,
    extra_properties: Mapping[str, Any] | None = None,
) -> Iterator[ContextScope]:
    """A fresh scope for one request, filled with its person, session and properties.

    ``distinct_id`` (derived by the application, e.g. from the logged-in user) wins over
    the ``X-POSTHOG-DISTINCT-ID`` header, which any client can forge. Exceptions are not
    captured by the scope: each adapter captures view errors itself, once.
    """
    with new_context(fresh=True, capture_exceptions=False, client=client) as scope:
        ids = tracing_ids(info.headers) if capture_tracing_headers else TracingIds()
        person = distinct_id or ids.distinct_id
        if person:
            identify_context(person)
        if ids.session_id:
            set_context_session(ids.session_id)
        if ids.window_id:
            set_context_window_id(ids.window_id)
        for name, value in request_properties(info).items():
            tag(name, value)
        for name, value in (extra_properties or {}).items():
            tag(str(name), value)
        yield scope


def call_setting(func: Any, *args: Any, what: str) -> Any:
    """Call an application-supplied hook; its failure is logged, never raised."""
    if not callable(func):
        return None
    try:
        return func(*args)
    except Exception as exc:
        log.warning("[PostHog] %s raised %r; ignoring it", what, exc)
        return None


def as_distinct_id(value: Any) -> str | None:
    if value is None or value is False or value == "":
        return None
    return str(value)


def capture_exception(client: Any, exc: BaseException, source: str) -> None:
    """Capture an unhandled request exception, if the client can (never raises)."""
    if client is None or not isinstance(exc, Exception):
        return
    capture = getattr(client, "capture_exception", None)
    if not callable(capture):
        return
    try:
        capture(exc, properties={"$exception_source": source})
    except Exception as error:
        log.debug("[PostHog] capturing a request exception failed: %r", error)


# -- uWSGI ---------------------------------------------------------------------------------
_uwsgi_warned = threading.Event()


def uwsgi_threads_problem(opt: Mapping[Any, Any]) -> str | None:
    """Why events would be lost in a uWSGI process with options ``opt`` (pure), or ``None``.

    Without ``enable-threads`` (or ``threads``) uWSGI runs Python with the GIL never
    released to other threads, so the SDK's delivery thread never runs.
    """

    def flag(name: str) -> Any:
        value = opt.get(name, opt.get(name.encode()))
        return value.decode() if isinstance(value, bytes) else value

    enabled = flag("enable-threads")
    if enabled not in (None, False, "false", "0", ""):
        return None
    threads = flag("threads")
    try:
        if threads is not None and int(threads) > 0:
            return None
    except (TypeError, ValueError):
        pass
    return (
        "[PostHog] uWSGI is running without threads: the SDK's delivery thread cannot "
        "run, so events would not be sent. Start uWSGI with --enable-threads (or "
        "--threads N), or use sync_mode=True."
    )


def warn_if_uwsgi_without_threads() -> bool:
    """Log one warning per process when running under uWSGI without threads."""
    module = sys.modules.get("uwsgi")
    if module is None or _uwsgi_warned.is_set():
        return False
    problem = uwsgi_threads_problem(getattr(module, "opt", {}) or {})
    if problem is None:
        return False
    _uwsgi_warned.set()
    log.warning(problem)
    return True
