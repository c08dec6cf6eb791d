"""Django middleware that tells Sentry which PostHog person a request belongs to.

Documented usage, in ``settings.py``::

    MIDDLEWARE = [
        ...,
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "posthog.sentry.django.PosthogDistinctIdMiddleware",
    ]
    POSTHOG_DJANGO = {"distinct_id": lambda request: request.user and request.user.distinct_id}

Each request runs in its own Sentry scope tagged ``posthog_distinct_id``, so an error
raised by the view carries the tag (and, with ``PostHogIntegration``, becomes a linked
PostHog ``$exception``). A ``distinct_id`` callable that raises or returns nothing
leaves the request untagged. On Django's async path the callable runs in a thread
(``sync_to_async``), since ``request.user`` may query the database.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import sentry_sdk

from posthog.sentry.posthog_integration import DISTINCT_ID_TAG

__all__ = ["PosthogDistinctIdMiddleware", "distinct_id_for"]

log = logging.getLogger("posthog")


def distinct_id_for(request: Any) -> str | None:
    """``settings.POSTHOG_DJANGO["distinct_id"](request)``, or ``None``."""
    return _call(_configured(), request)


def _configured() -> Callable[[Any], Any] | None:
    """The ``POSTHOG_DJANGO["distinct_id"]`` callable, if one is configured."""
    from django.conf import settings

    config = getattr(settings, "POSTHOG_DJANGO", None) or {}
    getter = config.get("distinct_id") if isinstance(config, dict) else None
    return getter if callable(getter) else None


def _call(getter: Callable[[Any], Any] | None, request: Any) -> str | None:
    if getter is None:
        return None
    try:
        value = getter(request)
    except Exception as exc:
        log.debug("[PostHog] POSTHOG_DJANGO['distinct_id'] raised %r", exc)
        return None
    if value is None or value is False or value == "":
        return None
    return str(value)


class PosthogDistinctIdMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        self._is_async = inspect.iscoroutinefunction(get_response)
        if self._is_async:
            from asgiref.sync import markcoroutinefunction

            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self._is_async:
            return self._acall(request)
        with sentry_sdk.new_scope() as scope:
            _tag(scope, request)
            return self.get_response(request)

    async def _acall(self, request: Any) -> Any:
        # The callable usually reads request.user, a lazy database lookup that Django
        # refuses on the event loop (SynchronousOnlyOperation): run it in a thread, when
        # there is one (the setting itself is read on the loop).
        getter = _configured()
        distinct_id = None
        if getter is not None:
            from asgiref.sync import sync_to_async

            distinct_id = await sync_to_async(_call)(getter, request)
        with sentry_sdk.new_scope() as scope:
            _set_tag(scope, distinct_id)
            return await self.get_response(request)


def _tag(scope: Any, request: Any) -> None:
    _set_tag(scope, distinct_id_for(request))


def _set_tag(scope: Any, distinct_id: str | None) -> None:
    if distinct_id is not None:
        scope.set_tag(DISTINCT_ID_TAG, distinct_id)
