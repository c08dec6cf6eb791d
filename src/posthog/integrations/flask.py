"""Flask: an extension opening one PostHog context per request.

::

    from posthog.integrations.flask import PosthogFlask

    posthog_ext = PosthogFlask(client=client, distinct_id=lambda: current_user_id())
    posthog_ext.init_app(app)          # or PosthogFlask(app, client=client)

Inside a view, ``client.capture("purchase")`` is attributed to the request's person and
carries ``$session_id``/``$window_id`` from PostHog's tracing headers and the request
properties as context tags. Unhandled view exceptions become ``$exception`` events (source
``flask``) when ``capture_exceptions`` is on. A streamed response (a generator, with or
without ``stream_with_context``) keeps the request's context while its body is produced,
until the server closes it; an error raised by the body is an ``$exception`` too.
``PosthogFlaskIntegration`` is the same class under the reference SDK's name.

With `Flask-Login <https://flask-login.readthedocs.io>`_ set up on the app
(``LoginManager().init_app(app)``), events also carry the ``email`` tag when the user
Flask-Login has already loaded for the request is authenticated and has a non-empty
string ``email``. The extension never loads the user itself: loading it early would run
the app's ``user_loader`` on every request (static files, health checks) and before the
app's own ``before_request`` hooks, and Flask-Login keeps that first result for the
whole request. So the user is read when the request opens, if a ``before_request`` hook
registered before this extension (or anything before it) used ``current_user``, and
again when a view error is captured, by which time the view has usually used it. An app
wanting the tag on every event of its views loads the user first: a ``before_request``
hook touching ``current_user``, registered before ``init_app``. The user is the one the
request began with (a ``login_user()`` in the view applies from the next request on); a
user that cannot be read adds nothing. Flask-Login stays optional: it is never imported
here, only read when the app has a ``login_manager``. Other conventions such as
``g.user`` are not read (their shape and when they are set are up to each app): add them
with ``extra_properties``, whose tags win over ``email``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from posthog.integrations._common import (
    RequestInfo,
    as_distinct_id,
    authenticated_email,
    call_setting,
    capture_exception,
    request_context,
    resolve_client,
    warn_if_uwsgi_without_threads,
)
from posthog.integrations._streaming import StreamScope

__all__ = ["PosthogFlask", "PosthogFlaskIntegration", "request_info"]

_CONTEXT_KEY = "_posthog_context"
_STREAM_KEY = "_posthog_stream"


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
        app.after_request(self._carry)
        app.teardown_request(self._close)
        got_request_exception.connect(self._on_exception, app, weak=False)
        app.extensions["posthog"] = self
        warn_if_uwsgi_without_threads()

    def _wanted(self, request: Any) -> bool:
        if self.request_filter is None:
            return True
        return call_setting(self.request_filter, request, what="request_filter") is not False

    def _open(self) -> None:
        from flask import current_app, g, request

        if not self._wanted(request):
            return
        person = call_setting(self.distinct_id, request, what="distinct_id")
        manager = request_context(
            request_info(request),
            client=self.client,
            capture_tracing_headers=self.capture_tracing_headers,
            distinct_id=as_distinct_id(person),
            email=_loaded_login_email(current_app),
            extra_properties=call_setting(self.extra_properties, request, what="extra_properties"),
        )
        scope = manager.__enter__()
        setattr(g, _CONTEXT_KEY, (manager, scope))

    def _carry(self, response: Any) -> Any:
        """A body produced after the view returned keeps the request's scope until the
        server closes it. A body passed through untouched (``send_file``'s file wrapper)
        runs no code of ours and stays as it is, for the server's sendfile."""
        from flask import g

        opened = g.get(_CONTEXT_KEY)
        body = response.response
        streamed = inspect.isgenerator(body) or (
            response.is_streamed and not response.direct_passthrough
        )
        if opened is not None and streamed:
            stream = StreamScope(opened[1], self._capture if self.capture_exceptions else None)
            response.response = stream.iterate(body)
            setattr(g, _STREAM_KEY, stream)
        return response

    def _close(self, _exc: BaseException | None = None) -> None:
        """Flask 3.1+ tears the request down when the view's response is returned; before
        3.1, a ``stream_with_context`` body defers that to its own end, inside its last
        step: the request's scope is then closed after that step."""
        from flask import g

        opened = g.pop(_CONTEXT_KEY, None)
        stream = g.pop(_STREAM_KEY, None)
        if opened is None:
            return
        if isinstance(stream, StreamScope):
            stream.after_step(lambda: _exit(opened[0]))
        else:
            _exit(opened[0])

    def _on_exception(self, sender: Any, exception: BaseException, **_extra: Any) -> None:
        from flask import g, request

        if not (self.capture_exceptions and self._wanted(request)):
            return
        opened = g.get(_CONTEXT_KEY)
        if opened is not None and "email" not in opened[1].tags:
            # The view has run: it may have loaded the user since the request opened.
            email = _loaded_login_email(sender)
            if email:
                opened[1].tags["email"] = email
        self._capture(exception)

    def _capture(self, exception: BaseException) -> None:
        capture_exception(resolve_client(self.client), exception, "flask")


def _loaded_login_email(app: Any) -> str | None:
    """The email of the user Flask-Login has already loaded for this request, when ``app``
    uses Flask-Login. Never ``current_user``: reading it would make Flask-Login load the
    user (and keep that result for the request). Flask-Login keeps the loaded user on
    ``g._login_user`` (since 0.6.3; on earlier releases, which keep it elsewhere, no user
    is found and the tag is left out)."""
    if getattr(app, "login_manager", None) is None:
        return None
    from flask import g

    return authenticated_email(g.get("_login_user"))


def _exit(manager: Any) -> None:
    try:
        manager.__exit__(None, None, None)
    except ValueError:  # the context var was set in another context: nothing to undo
        pass


PosthogFlaskIntegration = PosthogFlask
