"""Django: one PostHog context per request, for sync and async middleware stacks.

Setup (``settings.py``)::

    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "posthog.integrations.django.PosthogContextMiddleware",
    ]

and the documented ``AppConfig.ready()`` that sets ``posthog.api_key`` and
``posthog.host``. Inside a view, ``posthog.capture("purchase")`` is then attributed to
the request's person and carries ``$session_id``, ``$window_id`` and the request
properties (``$current_url``, ``$request_method``, ``$request_path``, ``$ip``,
``$user_agent``) as context tags.

Optional settings:

* ``POSTHOG_MW_DISTINCT_ID``: ``callable(request) -> str | None`` deriving the person
  (falls back to ``POSTHOG_DJANGO["distinct_id"]``, then the authenticated user's pk,
  then the ``X-POSTHOG-DISTINCT-ID`` tracing header);
* ``POSTHOG_MW_CLIENT``: the client to use (default: the module-level client);
* ``POSTHOG_MW_CAPTURE_EXCEPTIONS`` (default ``True``): view exceptions become
  ``$exception`` events (source ``django.middleware``; with Sentry's
  ``PostHogIntegration`` active, the event Sentry links, still one per error);
* ``POSTHOG_MW_REQUEST_FILTER``: ``callable(request) -> bool``; ``False`` skips the request;
* ``POSTHOG_MW_EXTRA_TAGS`` (alias ``POSTHOG_MW_EXTRA_PROPERTIES``):
  ``callable(request) -> dict`` of extra tags;
* ``POSTHOG_MW_CAPTURE_TRACING_HEADERS`` (default ``True``; old name
  ``POSTHOG_MW_TRUST_TRACING_HEADERS``).

A ``StreamingHttpResponse`` (sync or async iterator) keeps the request's context while
its body is produced, until the response is closed; an error raised by the body is an
``$exception`` like a view error.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
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
from posthog.integrations._streaming import StreamScope

__all__ = ["PosthogContextMiddleware", "request_info"]


def _setting(*names: str, default: Any = None) -> Any:
    from django.conf import settings

    for name in names:
        if hasattr(settings, name):
            return getattr(settings, name)
    return default


def request_info(request: Any) -> RequestInfo:
    """A Django ``HttpRequest`` as the framework-neutral :class:`RequestInfo`."""
    try:
        host = request.get_host()
    except Exception:  # DisallowedHost and friends: the URL is still useful without it
        host = ""
    meta = request.META
    return RequestInfo(
        method=request.method or "GET",
        path=request.path,
        scheme=request.scheme or "http",
        host=host,
        query_string=meta.get("QUERY_STRING", ""),
        headers={k.lower(): v for k, v in request.headers.items()},
        remote_addr=meta.get("REMOTE_ADDR"),
    )


def _user_pk(user: Any) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return as_distinct_id(getattr(user, "pk", None))


def _distinct_id_hook() -> tuple[Callable[[Any], Any] | None, str]:
    """The configured distinct id callable and the name of the setting it came from."""
    name = "POSTHOG_MW_DISTINCT_ID"
    hook = _setting(name)
    if hook is None:
        documented = _setting("POSTHOG_DJANGO", default=None)
        if isinstance(documented, dict):
            name, hook = "POSTHOG_DJANGO['distinct_id']", documented.get("distinct_id")
    return (hook if callable(hook) else None), name


class PosthogContextMiddleware:
    """Wraps each request in a fresh context; captures view exceptions."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self._is_async = inspect.iscoroutinefunction(get_response)
        if self._is_async:
            from asgiref.sync import markcoroutinefunction

            markcoroutinefunction(self)
        self._client = _setting("POSTHOG_MW_CLIENT")
        self._capture_exceptions = bool(_setting("POSTHOG_MW_CAPTURE_EXCEPTIONS", default=True))
        self._filter = _setting("POSTHOG_MW_REQUEST_FILTER")
        self._extra = _setting("POSTHOG_MW_EXTRA_TAGS", "POSTHOG_MW_EXTRA_PROPERTIES")
        self._tracing = bool(
            _setting(
                "POSTHOG_MW_CAPTURE_TRACING_HEADERS",
                "POSTHOG_MW_TRUST_TRACING_HEADERS",
                default=True,
            )
        )
        self._distinct_id, self._distinct_id_setting = _distinct_id_hook()
        warn_if_uwsgi_without_threads()

    # -- sync ----------------------------------------------------------------------------
    def __call__(self, request: Any) -> Any:
        if self._is_async:
            return self._acall(request)
        if not self._wanted(request):
            return self.get_response(request)
        person = self._person(request)
        with self._context(request, person) as scope:
            return self._carry(scope, self.get_response(request))

    def _person(self, request: Any) -> str | None:
        if self._distinct_id is not None:
            # Often fails for anonymous users (``request.user.distinct_id``): the request
            # is then personless, and call_setting warns only once.
            return as_distinct_id(
                call_setting(self._distinct_id, request, what=self._distinct_id_setting)
            )
        return _user_pk(getattr(request, "user", None))

    # -- async ---------------------------------------------------------------------------
    async def _acall(self, request: Any) -> Any:
        if not self._wanted(request):
            return await self.get_response(request)
        person = await self._aperson(request)
        with self._context(request, person) as scope:
            return self._carry(scope, await self.get_response(request))

    async def _aperson(self, request: Any) -> str | None:
        # request.user may hit the database: never touch it on the event loop.
        from asgiref.sync import sync_to_async

        if self._distinct_id is not None:
            return await sync_to_async(self._person)(request)
        auser = getattr(request, "auser", None)
        if auser is None:
            return None
        try:
            return _user_pk(await auser())
        except Exception:
            return None

    # -- shared --------------------------------------------------------------------------
    def _wanted(self, request: Any) -> bool:
        if self._filter is None:
            return True
        return call_setting(self._filter, request, what="POSTHOG_MW_REQUEST_FILTER") is not False

    def _context(self, request: Any, person: str | None) -> Any:
        extra = call_setting(self._extra, request, what="POSTHOG_MW_EXTRA_TAGS")
        return request_context(
            request_info(request),
            client=self._client,
            capture_tracing_headers=self._tracing,
            distinct_id=person,
            extra_properties=extra if isinstance(extra, dict) else None,
        )

    def process_exception(self, request: Any, exception: BaseException) -> None:
        """Django calls this (inside the request's context) when a view raises."""
        if self._capture_exceptions and self._wanted(request):
            self._capture(exception)

    def _capture(self, exception: BaseException) -> None:
        capture_exception(resolve_client(self._client), exception, "django.middleware")

    def _carry(self, scope: Any, response: Any) -> Any:
        """A streamed body keeps the request's scope until the response is closed.

        The body is wrapped as Django documents (``streaming_content``), and the
        response's ``close`` (called by the server or test client when done, or when the
        client went away) runs in the scope too, since it closes the body's generator.
        A file sent by the server (``file_to_stream``) runs no code of ours: left alone.
        """
        if not getattr(response, "streaming", False) or getattr(response, "file_to_stream", None):
            return response
        stream = StreamScope(scope, self._capture if self._capture_exceptions else None)
        if getattr(response, "is_async", False):
            response.streaming_content = stream.aiterate(response.streaming_content)
        else:
            response.streaming_content = stream.iterate(response.streaming_content)
        close = response.close

        def close_in_scope() -> None:
            try:
                stream.run(close)
            finally:
                stream.finish()

        response.close = close_in_scope
        return response
