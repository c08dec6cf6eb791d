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
``$user_agent``, and ``$raw_user_agent``, the same User-Agent header as sent: the name
PostHog's server-side classification such as bot detection reads) as context tags. When
the request has an authenticated user with a non-empty ``email``, events carry it as the
``email`` tag. The user is read through ``request.auser()`` on the async path (Django
refuses database access on the event loop); a user that cannot be read adds nothing.

Optional settings:

* ``POSTHOG_MW_DISTINCT_ID``: ``callable(request) -> str | None`` deriving the person
  (falls back to ``POSTHOG_DJANGO["distinct_id"]``, then the authenticated user's pk,
  then the ``X-POSTHOG-DISTINCT-ID`` tracing header);
* ``POSTHOG_MW_CLIENT``: the client to use (default: the module-level client);
* ``POSTHOG_MW_CAPTURE_EXCEPTIONS`` (default ``True``): view exceptions become
  ``$exception`` events (source ``django.middleware``; with Sentry's
  ``PostHogIntegration`` active, the event Sentry links, still one per error);
* ``POSTHOG_MW_REQUEST_FILTER``: ``callable(request) -> bool``; ``False`` skips the request;
* ``POSTHOG_MW_EXTRA_PROPERTIES`` (alias ``POSTHOG_MW_EXTRA_TAGS``; the first wins):
  ``callable(request) -> dict`` of extra tags;
* ``POSTHOG_MW_PROPERTIES_MAP`` (alias ``POSTHOG_MW_TAG_MAP``):
  ``callable(dict) -> dict`` given the request's final tags (request properties,
  ``email``, then the extra tags) and returning the tags to apply, to rename, remove or
  add some. If it raises or returns something other than a dict, the unmapped tags are
  applied and the first failure is logged as a warning;
* ``POSTHOG_MW_CAPTURE_TRACING_HEADERS`` (default ``True``; old name
  ``POSTHOG_MW_TRUST_TRACING_HEADERS``).

A ``StreamingHttpResponse`` (sync or async iterator) keeps the request's context while
its body is produced, until the response is closed; an error raised by the body is an
``$exception`` like a view error.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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

__all__ = ["PosthogContextMiddleware", "request_info"]


def _named_setting(*names: str, default: Any = None) -> tuple[str, Any]:
    """The first of ``names`` set in Django's settings, and its value."""
    from django.conf import settings

    for name in names:
        if hasattr(settings, name):
            return name, getattr(settings, name)
    return names[0], default


def _setting(*names: str, default: Any = None) -> Any:
    return _named_setting(*names, default=default)[1]


def _capture_tracing_headers() -> bool:
    """``POSTHOG_MW_CAPTURE_TRACING_HEADERS`` (deprecated alias
    ``POSTHOG_MW_TRUST_TRACING_HEADERS``), on by default."""
    return bool(
        _setting(
            "POSTHOG_MW_CAPTURE_TRACING_HEADERS", "POSTHOG_MW_TRUST_TRACING_HEADERS", default=True
        )
    )


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


@dataclass(frozen=True, slots=True)
class _User:
    """What the middleware uses of ``request.user``: nothing unless authenticated."""

    pk: str | None = None
    email: str | None = None


def _read_user(user: Any) -> _User:
    """The authenticated user's pk and non-empty email. Reading a user can fail (a lazy
    database lookup, a custom user model): a user that cannot be read is no user."""
    try:
        if user is None or not user.is_authenticated:
            return _User()
        pk = as_distinct_id(getattr(user, "pk", None))
    except Exception:
        return _User()
    return _User(pk, authenticated_email(user))


async def _aread_user(request: Any) -> _User:
    """:func:`_read_user` on the async path: ``request.user`` may query the database,
    which Django refuses on the event loop; ``auser()`` (Django 5+) is the async way."""
    auser = getattr(request, "auser", None)
    if callable(auser):
        try:
            return _read_user(await auser())
        except Exception:
            return _User()
    from asgiref.sync import sync_to_async

    return await sync_to_async(_read_user)(getattr(request, "user", None))


def _checked_map(hook: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """``hook``, failing (for :func:`call_setting` to log once) when it returns no dict."""

    def checked(tags: dict[str, Any]) -> dict[str, Any]:
        result = hook(tags)
        if not isinstance(result, dict):
            raise TypeError(f"returned {type(result).__name__}, not a dict of tags")
        return result

    return checked


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
        self._extra_setting, self._extra = _named_setting(
            "POSTHOG_MW_EXTRA_PROPERTIES", "POSTHOG_MW_EXTRA_TAGS"
        )
        self._map_setting, tag_map = _named_setting(
            "POSTHOG_MW_PROPERTIES_MAP", "POSTHOG_MW_TAG_MAP"
        )
        self._map = _checked_map(tag_map) if callable(tag_map) else None
        self._tracing = _capture_tracing_headers()
        self._distinct_id, self._distinct_id_setting = _distinct_id_hook()
        warn_if_uwsgi_without_threads()

    # -- sync ----------------------------------------------------------------------------
    def __call__(self, request: Any) -> Any:
        if self._is_async:
            return self._acall(request)
        if not self._wanted(request):
            return self.get_response(request)
        user, person = self._identify(request)
        with self._context(request, person, user.email) as scope:
            return self._carry(scope, self.get_response(request))

    def _identify(self, request: Any) -> tuple[_User, str | None]:
        """The request's user and person: the user's pk, or the distinct id hook's answer.
        The hook often fails for anonymous users (``request.user.distinct_id``): the
        request is then personless, and call_setting warns only once."""
        user = _read_user(getattr(request, "user", None))
        if self._distinct_id is None:
            return user, user.pk
        hooked = call_setting(self._distinct_id, request, what=self._distinct_id_setting)
        return user, as_distinct_id(hooked)

    # -- async ---------------------------------------------------------------------------
    async def _acall(self, request: Any) -> Any:
        if not self._wanted(request):
            return await self.get_response(request)
        if self._distinct_id is None:
            user = await _aread_user(request)
            person = user.pk
        else:
            # The callable usually reads request.user: never on the event loop. One
            # thread hop reads both.
            from asgiref.sync import sync_to_async

            user, person = await sync_to_async(self._identify)(request)
        with self._context(request, person, user.email) as scope:
            return self._carry(scope, await self.get_response(request))

    # -- shared --------------------------------------------------------------------------
    def _wanted(self, request: Any) -> bool:
        if self._filter is None:
            return True
        return call_setting(self._filter, request, what="POSTHOG_MW_REQUEST_FILTER") is not False

    @contextlib.contextmanager
    def _context(self, request: Any, person: str | None, email: str | None) -> Iterator[Any]:
        """The request's scope. Its tags, in the order later ones win: the request
        properties, ``email``, the extra tags; then the map."""
        with request_context(
            request_info(request),
            client=self._client,
            capture_tracing_headers=self._tracing,
            distinct_id=person,
            email=email,
            extra_properties=call_setting(self._extra, request, what=self._extra_setting),
        ) as scope:
            if self._map is not None:
                self._apply_map(scope)
            yield scope

    def _apply_map(self, scope: Any) -> None:
        mapped = call_setting(self._map, dict(scope.tags), what=self._map_setting)
        if isinstance(mapped, dict):  # None: it failed, and the unmapped tags stay
            scope.tags.clear()
            scope.tags.update({str(name): value for name, value in mapped.items()})

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
