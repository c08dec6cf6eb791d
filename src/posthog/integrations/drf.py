"""Django REST framework: API server errors as ``$exception`` events.

DRF's ``APIView.handle_exception`` turns the errors raised in API views into responses
itself, so Django's ``process_exception`` (where ``PosthogContextMiddleware`` captures
view errors) never sees most of them. This exception handler sees them all.

Setup (``settings.py``)::

    REST_FRAMEWORK = {"EXCEPTION_HANDLER": "posthog.integrations.drf.exception_handler"}

With a handler of your own, wrap it (a callable or its dotted path) and point
``EXCEPTION_HANDLER`` at the result::

    # myapp/api.py
    from posthog.integrations.drf import wrap
    exception_handler = wrap("myapp.errors.custom_exception_handler")

The handler calls DRF's default handler (or the wrapped one) and returns its response
unchanged; the PostHog part never raises and never alters the response. It captures the
server errors only: an exception the handler leaves unhandled (it returns ``None`` and
DRF re-raises it, so Django answers 500) and one it answers with a status of 500 or more
(``APIException`` subclasses with ``status_code >= 500``). Client errors (validation,
authentication, permission, not found, throttling: 4xx responses) are the API working
as designed and are not captured.

It follows the Django middleware's settings: ``POSTHOG_MW_CAPTURE_EXCEPTIONS = False``
turns it off, ``POSTHOG_MW_REQUEST_FILTER`` returning ``False`` skips the request, and
``POSTHOG_MW_CLIENT`` (default: the module-level client) is the client used.

With ``PosthogContextMiddleware`` installed the event is made in the request's context
(person, ``$session_id``, request tags). An unhandled error also reaches the
middleware's ``process_exception``: it is still one event, and with Sentry's
``PostHogIntegration`` (Sentry reports unhandled errors, not the ones DRF answered) the
one linked to Sentry's event. ``$exception_source`` is ``django.rest_framework``, or
``django.middleware`` for such a linked unhandled error (the middleware hands it to
Sentry last). Without the middleware the event gets the request's properties and
tracing headers (``POSTHOG_MW_CAPTURE_TRACING_HEADERS``) and, as person, the user DRF
authenticated for the request (else the ``X-POSTHOG-DISTINCT-ID`` header); the Sentry
link then needs the middleware.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from posthog.contexts import current_scope
from posthog.integrations._common import (
    call_setting,
    capture_exception,
    request_context,
    resolve_client,
)
from posthog.integrations.django import (
    _capture_tracing_headers,
    _read_user,
    _setting,
    request_info,
)

__all__ = ["SOURCE", "exception_handler", "wrap"]

log = logging.getLogger("posthog")

#: ``$exception_source`` of the events this handler captures.
SOURCE = "django.rest_framework"

Handler = Callable[[BaseException, Mapping[str, Any]], Any]


def _drf_default(exc: BaseException, context: Mapping[str, Any]) -> Any:
    from rest_framework.views import exception_handler as default

    return default(exc, context)


def wrap(handler: Handler | str) -> Handler:
    """An exception handler calling ``handler`` (a callable or its dotted path, imported
    on first use) and capturing the server errors it leaves unhandled or answers with a
    5xx status. ``handler``'s result, or its own exception, is passed on unchanged."""
    resolved: Handler | None = None if isinstance(handler, str) else handler

    def posthog_exception_handler(exc: BaseException, context: Mapping[str, Any]) -> Any:
        nonlocal resolved
        if resolved is None:
            from django.utils.module_loading import import_string

            resolved = import_string(handler)
        response = resolved(exc, context)
        try:
            _observe(exc, context, response)
        except Exception as error:  # never alter the API's behaviour
            log.debug("[PostHog] DRF exception handler failed: %r", error)
        return response

    return posthog_exception_handler


def _is_server_error(response: Any) -> bool:
    if response is None:
        return True  # DRF re-raises it: Django answers 500
    status = getattr(response, "status_code", None)
    return isinstance(status, int) and status >= 500


def _observe(exc: BaseException, context: Mapping[str, Any], response: Any) -> None:
    if not _is_server_error(response):
        return
    if not _setting("POSTHOG_MW_CAPTURE_EXCEPTIONS", default=True):
        return
    api_request = context.get("request") if isinstance(context, Mapping) else None
    request = getattr(api_request, "_request", api_request)  # DRF's Request wraps Django's
    if request is not None:
        verdict = call_setting(
            _setting("POSTHOG_MW_REQUEST_FILTER"), request, what="POSTHOG_MW_REQUEST_FILTER"
        )
        if verdict is False:
            return
    configured = _setting("POSTHOG_MW_CLIENT")
    client = resolve_client(configured)
    if current_scope() is not None or request is None:
        capture_exception(client, exc, SOURCE)  # the middleware's (or the app's) context
        return
    # No middleware: a scope for this capture only, filled from the request.
    with request_context(
        request_info(request),
        client=configured,
        capture_tracing_headers=_capture_tracing_headers(),
        distinct_id=_authenticated(api_request),
    ):
        capture_exception(client, exc, SOURCE)


def _authenticated(api_request: Any) -> str | None:
    """The user DRF has authenticated for this request, if it has: reading
    ``request.user`` would run the authenticators again (maybe the very error handled)."""
    user = vars(api_request).get("_user") if hasattr(api_request, "__dict__") else None
    return _read_user(user).pk


#: The handler to name in ``REST_FRAMEWORK["EXCEPTION_HANDLER"]``: DRF's default handler
#: with the server errors captured.
exception_handler: Handler = wrap(_drf_default)
