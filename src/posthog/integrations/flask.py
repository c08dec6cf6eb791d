"""Flask: an extension opening one PostHog context per request.

::

    from posthog.integrations.flask import PosthogFlask

    posthog_ext = PosthogFlask(client=client, distinct_id=lambda: current_user_id())
    posthog_ext.init_app(app)          # or PosthogFlask(app, client=client)

Inside a view, ``client.capture("purchase")`` is attributed to the request's person and
carries ``$session_id``/``$window_id`` from PostHog's tracing headers and the request
properties as context tags. Unhandled view exceptions become ``$exception`` events (source
``flask``) when ``capture_exceptions`` is on. ``PosthogFlaskIntegration`` is the same
class under the reference SDK's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from posthog.integrations._common import (
    RequestInfo,
    as_distinct_id,
    call_setting,
    capture_exception,
    request_context,
    resolve_client,
    warn_if_uwsgi_without_threads,
)

__all__ = ["PosthogFlask", "PosthogFlaskIntegration", "request_info"]

_CONTEXT_KEY = "_posthog_context"


def request_info(request: Any) -> RequestInfo:
    """A Flask/Werkzeug request as the framework-neutral :class:`RequestInfo`."""
    query = request.query_string
    return RequestInfo(
        method=request.method,
        path=request.path,
        scheme=request.scheme,
        host=request.host,
        query_string=query.decode("latin-1") if isinstance(query, bytes) else str(query or ""),
        headers={k.lower(): v for k, v in request.headers.items()},
        remote_addr=request.remote_addr,
    )


class PosthogFlask:
    """Flask extension: ``PosthogFlask(app)`` or ``PosthogFlask(...).init_app(app)``."""

    def __init__(
        self,
        app: Any = None,
        *,
        client: Any = None,
        capture_exceptions: bool = True,
        request_filter: Callable[[Any], bool] | None = None,
        extra_properties: Callable[[Any], Mapping[str, Any]] | None = None,
        capture_tracing_headers: bool = True,
        distinct_id: Callable[[Any], Any] | None = None,
    ) -> None:
        self.client = client
        self.capture_exceptions = capture_exceptions
        self.request_filter = request_filter
        self.extra_properties = extra_properties
        self.capture_tracing_headers = capture_tracing_headers
        self.distinct_id = distinct_id
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Any) -> None:
        from flask import got_request_exception

        app.before_request(self._open)
        app.teardown_request(self._close)
        got_request_exception.connect(self._on_exception, app, weak=False)
        app.extensions["posthog"] = self
        warn_if_uwsgi_without_threads()

    def _wanted(self, request: Any) -> bool:
        if self.request_filter is None:
            return True
        return call_setting(self.request_filter, request, what="request_filter") is not False

    def _open(self) -> None:
        from flask import g, request

        if not self._wanted(request):
            return
        extra = call_setting(self.extra_properties, request, what="extra_properties")
        person = call_setting(self.distinct_id, request, what="distinct_id")
        manager = request_context(
            request_info(request),
            client=self.client,
            capture_tracing_headers=self.capture_tracing_headers,
            distinct_id=as_distinct_id(person),
            extra_properties=extra if isinstance(extra, Mapping) else None,
        )
        manager.__enter__()
        setattr(g, _CONTEXT_KEY, manager)

    def _close(self, _exc: BaseException | None = None) -> None:
        from flask import g

        manager = g.pop(_CONTEXT_KEY, None)
        if manager is not None:
            try:
                manager.__exit__(None, None, None)
            except ValueError:  # the context var was set in another context: nothing to undo
                pass

    def _on_exception(self, _sender: Any, exception: BaseException, **_extra: Any) -> None:
        from flask import request

        if self.capture_exceptions and self._wanted(request):
            capture_exception(resolve_client(self.client), exception, "flask")


PosthogFlaskIntegration = PosthogFlask
