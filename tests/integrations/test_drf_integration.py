"""Django REST framework: real ``APIView``s through Django's test client. Server errors
(unhandled, or answered 5xx) become one ``$exception`` each on a loopback server, in the
middleware's request context or, without it, with the request's own properties; client
errors are not captured; the API's responses are exactly DRF's."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from django.http import Http404
from django.test import Client as DjangoClient
from django.test import override_settings
from django.urls import path
from integration_support import TRACING, configure_django, events_named

import posthog
from posthog import Posthog
from posthog.integrations.drf import SOURCE, exception_handler, wrap
from support.recording_server import RecordingServer

configure_django()  # DRF reads Django's settings when imported

from rest_framework import exceptions  # noqa: E402
from rest_framework.authentication import BaseAuthentication  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

MIDDLEWARE = "posthog.integrations.django.PosthogContextMiddleware"
HANDLER = "posthog.integrations.drf.exception_handler"
DEFAULT_HANDLER = "rest_framework.views.exception_handler"


class HeaderAuthentication(BaseAuthentication):
    """``X-User`` authenticates as that user; ``X-User: !`` fails authentication."""

    def authenticate(self, request: Request) -> Any:
        name = request.headers.get("X-User")
        if name == "!":
            raise exceptions.AuthenticationFailed("bad token")
        if not name:
            return None
        return SimpleNamespace(pk=name, is_authenticated=True), None

    def authenticate_header(self, request: Request) -> str:
        return 'Token realm="api"'


class Raising(APIView):
    """``GET`` raises the exception made by ``as_view(error=...)``."""

    error: Any = None
    authentication_classes = [HeaderAuthentication]  # read when the class is defined
    permission_classes: list[Any] = []

    def get(self, request: Request) -> Response:
        raise self.error()


class ServiceUnavailable(exceptions.APIException):
    """An ``APIException`` with a 5xx status, as applications define them."""

    status_code = 503
    default_detail = "Service temporarily unavailable, try again later."
    default_code = "service_unavailable"


class UpstreamDown(Exception):
    """Turned into a 502 by :func:`custom_handler`."""


class Teapot(Exception):
    """Turned into a 418 by :func:`custom_handler`."""


def custom_handler(exc: BaseException, context: dict[str, Any]) -> Response | None:
    """An application's own handler: two errors of its own, the rest as DRF does."""
    if isinstance(exc, UpstreamDown):
        return Response({"detail": "upstream down"}, status=502, headers={"X-Retry": "later"})
    if isinstance(exc, Teapot):
        return Response({"detail": "teapot"}, status=418)
    from rest_framework.views import exception_handler as drf_default

    return drf_default(exc, context)


wrapped_custom_handler = wrap(f"{__name__}.custom_handler")

# Each request raises a new exception (one instance is captured at most once per client).
CLIENT_ERRORS: dict[str, Callable[[], BaseException]] = {
    "invalid/": lambda: exceptions.ValidationError({"name": ["This field is required."]}),
    "denied/": exceptions.PermissionDenied,
    "missing/": exceptions.NotFound,
    "django404/": lambda: Http404("no such cart"),
    "throttled/": lambda: exceptions.Throttled(wait=30),
    "unauthenticated/": exceptions.NotAuthenticated,
}
SERVER_ERRORS: dict[str, Callable[[], BaseException]] = {
    "boom/": lambda: ValueError("db down"),
    "unavailable/": ServiceUnavailable,
}
CUSTOM_ERRORS: dict[str, Callable[[], BaseException]] = {
    "upstream/": lambda: UpstreamDown("payments"),
    "teapot/": Teapot,
}
ROUTES = {**CLIENT_ERRORS, **SERVER_ERRORS, **CUSTOM_ERRORS}
urlpatterns = [path(route, Raising.as_view(error=error)) for route, error in ROUTES.items()]


def configured(
    client: Posthog | None, *, middleware: bool = True, handler: str = HANDLER, **extra: Any
) -> override_settings:
    values: dict[str, Any] = {
        "ROOT_URLCONF": __name__,
        "MIDDLEWARE": [MIDDLEWARE] if middleware else [],
        "REST_FRAMEWORK": {"EXCEPTION_HANDLER": handler},
        **extra,
    }
    if client is not None:
        values["POSTHOG_MW_CLIENT"] = client
    return override_settings(**values)


def browser() -> DjangoClient:
    return DjangoClient(raise_request_exception=False)  # unhandled errors answer 500


def only_done_arrives_after(
    server: RecordingServer, client: Posthog, expected: list[str] | None = None
) -> None:
    """Everything captured before ``done`` is delivered with it: only ``expected``."""
    client.capture("done", distinct_id="test")
    events_named(server, client, "done", 1)
    assert [e["event"] for e in server.events()] == [*(expected or []), "done"]


def by_type(events: list[Any]) -> dict[str, Any]:
    return {e["properties"]["$exception_list"][0]["type"]: e for e in events}


def test_server_errors_are_captured_once_in_the_middlewares_context(
    server: RecordingServer, client: Posthog
) -> None:
    with configured(client):
        assert browser().get("/boom/", headers=TRACING).status_code == 500
        assert browser().get("/unavailable/", headers=TRACING).status_code == 503
    events = by_type(events_named(server, client, "$exception", 2))
    assert len(server.events()) == 2  # the re-raised ValueError reached the middleware too
    assert set(events) == {"ValueError", "ServiceUnavailable"}
    for event in events.values():
        props = event["properties"]
        assert event["distinct_id"] == "browser-person"
        assert props["$session_id"] == "sess-1" and props["$window_id"] == "win-1"
        assert props["$request_method"] == "GET"
        assert props["$user_agent"] == "pytest-agent/1.0"
    assert events["ServiceUnavailable"]["properties"]["$exception_source"] == SOURCE
    assert events["ServiceUnavailable"]["properties"]["$request_path"] == "/unavailable/"
    assert events["ValueError"]["properties"]["$exception_list"][0]["value"] == "db down"


def test_client_errors_are_not_captured(server: RecordingServer, client: Posthog) -> None:
    statuses = []
    with configured(client):
        for route in CLIENT_ERRORS:
            statuses.append(browser().get(f"/{route}", headers={"X-User": "1"}).status_code)
        statuses.append(browser().get("/boom/", headers={"X-User": "!"}).status_code)
    assert statuses == [400, 403, 404, 404, 429, 401, 401]
    only_done_arrives_after(server, client)


def test_responses_are_exactly_drfs(server: RecordingServer, client: Posthog) -> None:
    def answers(handler: str) -> list[tuple[int, bytes, str | None, str | None]]:
        found = []
        with configured(client, handler=handler):
            for route in ROUTES:
                response = browser().get(f"/{route}")
                found.append(
                    (
                        response.status_code,
                        response.content,
                        response.headers.get("Retry-After"),
                        response.headers.get("WWW-Authenticate"),
                    )
                )
        return found

    assert answers(HANDLER) == answers(DEFAULT_HANDLER)
    custom = answers(f"{__name__}.wrapped_custom_handler")
    assert custom == answers(f"{__name__}.custom_handler")
    assert (502, b'{"detail":"upstream down"}') in [c[:2] for c in custom]


def test_a_wrapped_handler_decides_what_is_a_server_error(
    server: RecordingServer, client: Posthog
) -> None:
    with configured(client, handler=f"{__name__}.wrapped_custom_handler"):
        response = browser().get("/upstream/", headers=TRACING)
        assert (response.status_code, response.headers["X-Retry"]) == (502, "later")
        assert browser().get("/teapot/").status_code == 418
    [event] = events_named(server, client, "$exception", 1)
    assert event["properties"]["$exception_list"][0]["type"] == "UpstreamDown"
    assert event["distinct_id"] == "browser-person"
    only_done_arrives_after(server, client, expected=["$exception"])


def test_without_the_middleware_the_request_still_gives_person_and_properties(
    server: RecordingServer, client: Posthog
) -> None:
    with configured(client, middleware=False):
        headers = {**TRACING, "X-User": "42"}
        assert browser().get("/unavailable/?from=app", headers=headers).status_code == 503
        assert browser().get("/boom/", headers=TRACING).status_code == 500
    events = by_type(events_named(server, client, "$exception", 2))
    unavailable = events["ServiceUnavailable"]
    assert unavailable["distinct_id"] == "42"  # the user DRF authenticated wins
    props = unavailable["properties"]
    assert props["$current_url"] == "http://testserver/unavailable/?from=app"
    assert props["$session_id"] == "sess-1" and props["$exception_source"] == SOURCE
    assert events["ValueError"]["distinct_id"] == "browser-person"  # no user: the header


def test_without_the_middleware_or_client_setting_the_module_client_is_used(
    server: RecordingServer, client: Posthog
) -> None:
    posthog.default_client = client
    with configured(None, middleware=False, POSTHOG_MW_CAPTURE_TRACING_HEADERS=False):
        assert browser().get("/unavailable/", headers=TRACING).status_code == 503
    [event] = events_named(server, client, "$exception", 1)
    assert event["properties"]["$process_person_profile"] is False
    assert "$session_id" not in event["properties"]


def test_capture_exceptions_setting_and_request_filter_turn_it_off(
    server: RecordingServer, client: Posthog
) -> None:
    for middleware in (True, False):
        with configured(client, middleware=middleware, POSTHOG_MW_CAPTURE_EXCEPTIONS=False):
            assert browser().get("/boom/").status_code == 500
            assert browser().get("/unavailable/").status_code == 503
        with configured(
            client,
            middleware=middleware,
            POSTHOG_MW_REQUEST_FILTER=lambda request: request.path != "/unavailable/",
        ):
            assert browser().get("/unavailable/").status_code == 503
    only_done_arrives_after(server, client)


class Exploding:
    """A client setting whose capture fails: the API's response must not change."""

    def capture_exception(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("sdk broken")


def test_our_part_never_raises_and_never_alters_the_response() -> None:
    with configured(None, POSTHOG_MW_CLIENT=Exploding()):
        response = browser().get("/unavailable/")
        assert response.status_code == 503
        assert response.json() == {"detail": "Service temporarily unavailable, try again later."}
        handled = exception_handler(ServiceUnavailable(), {"request": object()})
    assert handled is not None and handled.status_code == 503
    assert exception_handler(ValueError("no context"), {}) is None
