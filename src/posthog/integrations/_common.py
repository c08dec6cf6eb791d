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

A streamed response's body is produced after the framework has closed the request:
``posthog.integrations._streaming.StreamScope`` carries the request's scope over to it.

View errors go through :func:`capture_exception`. When Sentry's ``PostHogIntegration`` is
active the request hands the error to it, so that the one PostHog ``$exception`` is the
one carrying the Sentry links; the request captures it itself at its end if Sentry
never took it.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

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
    "PENDING_CAPTURE_ATTR",
    "SENTRY_INTEGRATION_ID",
    "SENTRY_LINK_ATTR",
    "SESSION_ID_HEADER",
    "WINDOW_ID_HEADER",
    "PendingCapture",
    "RequestInfo",
    "TracingIds",
    "capture_exception",
    "handed_to_sentry",
    "request_context",
    "request_properties",
    "resolve_client",
    "sanitize_header",
    "settle",
    "take_pending_capture",
    "tracing_ids",
    "uwsgi_threads_problem",
    "warn_if_uwsgi_without_threads",
]

log = logging.getLogger("posthog")

SESSION_ID_HEADER = "x-posthog-session-id"
DISTINCT_ID_HEADER = "x-posthog-distinct-id"
WINDOW_ID_HEADER = "x-posthog-window-id"
MAX_HEADER_LENGTH = 1000
_PATH_SAFE = "/:@!$&'()*+,;="  # RFC 3986 pchar sub-delims; unreserved are always safe


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
        # Frameworks hand us the decoded path: percent-encode it again as a browser's
        # location.href would, so "?", "#", "%", spaces and non-ASCII stay in the path.
        path = quote(self.path, safe=_PATH_SAFE, errors="surrogateescape")
        base = f"{self.scheme}://{self.host}{path}" if self.host else path
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
    """``$current_url``, ``$request_method``, ``$request_path``, ``$ip``, ``$user_agent`` and
    ``$raw_user_agent`` (the same header as sent, under the name PostHog's server-side
    classification such as bot detection reads; spec 3.3)."""
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
        props["$user_agent"] = props["$raw_user_agent"] = agent
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
    email: str | None = None,
    extra_properties: Mapping[str, Any] | None = None,
) -> Iterator[ContextScope]:
    """A fresh scope for one request, filled with its person, session and properties.

    ``distinct_id`` (derived by the application, e.g. from the logged-in user) wins over
    the ``X-POSTHOG-DISTINCT-ID`` header, which any client can forge. The tags, later
    ones winning: the request's properties, ``email`` (the logged-in user's, when not
    empty), then ``extra_properties`` (an application hook's result: anything but a
    mapping, such as ``None`` from a failed hook, adds nothing). Exceptions are not
    captured by the scope: each adapter captures view errors itself, once, through
    :func:`capture_exception`; errors it left to Sentry are settled when the scope ends.
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
        if email:
            tag("email", email)
        if isinstance(extra_properties, Mapping):
            for name, value in extra_properties.items():
                tag(str(name), value)
        handed: list[BaseException] = []
        token = handed_to_sentry.set(handed)
        escaping: BaseException | None = None
        try:
            yield scope
        except BaseException as exc:
            escaping = exc
            raise
        finally:
            settle(handed, escaping)
            handed_to_sentry.reset(token)


def call_setting(func: Any, *args: Any, what: str) -> Any:
    """Call an application-supplied hook; its failure is logged, never raised.

    Hooks run per request, and a hook that fails for some requests (a distinct id
    callable reading ``request.user.id`` of an anonymous user) would fail on every one of
    them: the first failure of each hook is a warning naming ``what`` (the setting the
    application configured), later ones are debug messages.
    """
    if not callable(func):
        return None
    try:
        return func(*args)
    except Exception as exc:
        level = logging.DEBUG if _seen_failing(what, func) else logging.WARNING
        log.log(
            level,
            "[PostHog] %s raised %r; ignoring it (further failures are logged at debug level)",
            what,
            exc,
        )
        return None


_failed_hooks: set[tuple[str, int]] = set()
_failed_hooks_lock = threading.Lock()


def _seen_failing(what: str, func: Any) -> bool:
    """Whether this hook has failed before in this process (and remember that it has)."""
    key = (what, id(func))
    with _failed_hooks_lock:
        if key in _failed_hooks:
            return True
        _failed_hooks.add(key)
        return False


def as_distinct_id(value: Any) -> str | None:
    if value is None or value is False or value == "":
        return None
    return str(value)


def authenticated_email(user: Any) -> str | None:
    """The non-empty string ``email`` of an authenticated ``user`` (Flask-Login's
    ``current_user``, Starlette's ``scope["user"]``), else ``None``. Reading a user can
    fail (a lazy database lookup, an application's own user class): such a user has none."""
    try:
        if user is None or not user.is_authenticated:
            return None
        email = user.email
    except Exception:
        return None
    return email if isinstance(email, str) and email else None


# -- exceptions, and Sentry's PostHogIntegration -------------------------------------------
#: ``PostHogIntegration.identifier``; kept here so finding it needs no Sentry import.
SENTRY_INTEGRATION_ID = "posthog-python"
#: Set on an exception handed to Sentry: the :class:`PendingCapture` that captures it.
PENDING_CAPTURE_ATTR = "__posthog_pending_capture"
#: Set on an exception by ``PostHogIntegration``: the Sentry event's link properties.
SENTRY_LINK_ATTR = "__posthog_sentry_link"

handed_to_sentry: contextvars.ContextVar[list[BaseException] | None] = contextvars.ContextVar(
    "posthog_handed_to_sentry", default=None
)


@dataclass(frozen=True, slots=True)
class PendingCapture:
    """A request's error that Sentry will report: how to capture it as the request would.

    ``context`` is a copy of the request's context, so the event gets the request's
    person, session and tags even when Sentry reports the error after it has left the
    request (an ASGI middleware outside ours).
    """

    client: Any
    source: str
    context: contextvars.Context

    def capture(
        self, exc: BaseException, properties: Mapping[str, Any], distinct_id: Any = None
    ) -> None:
        props = {"$exception_source": self.source, **properties}
        self.context.run(_capture_now, self.client, exc, props, distinct_id)


def take_pending_capture(exc: BaseException | None) -> PendingCapture | None:
    """The capture handed over with ``exc``, removed so that only one taker gets it."""
    note = getattr(exc, PENDING_CAPTURE_ATTR, None)
    if not isinstance(note, PendingCapture):
        return None
    with contextlib.suppress(Exception):
        delattr(exc, PENDING_CAPTURE_ATTR)
    return note


def capture_exception(client: Any, exc: BaseException, source: str) -> None:
    """Capture an unhandled request exception once, if the client can (never raises).

    With Sentry's ``PostHogIntegration`` active, Sentry reports this error too, and only
    the PostHog event made on that path carries the links both ways. So inside a request
    the capture is handed to Sentry; whatever Sentry did not capture is captured when the
    request ends (:func:`settle`), so the error is never lost and never sent twice.
    """
    if client is None or not isinstance(exc, Exception):
        return
    if not callable(getattr(client, "capture_exception", None)):
        return
    handed = handed_to_sentry.get()
    seen_by_sentry = hasattr(exc, SENTRY_LINK_ATTR)
    if handed is not None and not seen_by_sentry and _sentry_links_errors():
        note = PendingCapture(client, source, contextvars.copy_context())
        try:
            setattr(exc, PENDING_CAPTURE_ATTR, note)
            handed.append(exc)
            return
        except Exception:  # an exception type that refuses attributes: capture it now
            pass
    _capture_now(client, exc, {"$exception_source": source})


def _capture_now(
    client: Any, exc: BaseException, properties: Mapping[str, Any], distinct_id: Any = None
) -> None:
    link = getattr(exc, SENTRY_LINK_ATTR, None)  # Sentry reported it first
    props = {**link, **properties} if isinstance(link, dict) else dict(properties)
    try:
        client.capture_exception(exc, distinct_id=distinct_id, properties=props)
    except Exception as error:
        log.debug("[PostHog] capturing a request exception failed: %r", error)


def settle(handed: list[BaseException], escaping: BaseException | None) -> None:
    """At the end of a request, capture the errors handed to Sentry that it did not take.

    An error leaving the request while an outer Sentry ASGI middleware runs it stays
    handed over: that middleware reports it next, and captures it with the saved context.
    """
    for exc in handed:
        if exc is escaping and _outer_sentry_reports(exc):
            continue
        note = take_pending_capture(exc)
        if note is not None:
            note.capture(exc, {})


def _sentry_links_errors() -> bool:
    """Whether ``sentry_sdk`` is in use with ``PostHogIntegration`` on its current client."""
    sentry_sdk = sys.modules.get("sentry_sdk")
    if sentry_sdk is None:
        return False
    try:
        return sentry_sdk.get_client().get_integration(SENTRY_INTEGRATION_ID) is not None
    except Exception:
        return False


def _outer_sentry_reports(exc: BaseException) -> bool:
    """Whether Sentry's ASGI middleware runs this request outside ours and will report
    ``exc`` leaving it. Read from Sentry's own marker and ``ignore_errors`` option; if
    they ever change, the answer is "no": the request captures the error, maybe unlinked."""
    asgi = sys.modules.get("sentry_sdk.integrations.asgi")
    marker = getattr(asgi, "_asgi_middleware_applied", None)
    try:
        if not isinstance(marker, contextvars.ContextVar) or marker.get(False) is not True:
            return False
        ignored = sys.modules["sentry_sdk"].get_client().options.get("ignore_errors") or ()
        names = {type(exc).__name__, f"{type(exc).__module__}.{type(exc).__name__}"}
        return not any(
            item in names if isinstance(item, str) else isinstance(exc, item) for item in ignored
        )
    except Exception:
        return False


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
