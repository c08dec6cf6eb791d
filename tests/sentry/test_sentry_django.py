"""An error in a Django view: one Sentry event and one PostHog event pointing at each
other, with the documented ``POSTHOG_DJANGO`` setting and middleware (Django's test
client, in-process; real ``sentry_sdk`` with its Django integration)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.test import Client as DjangoClient
from django.test import override_settings
from django.urls import path
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_support import CapturingTransport, init_sentry

from posthog import Posthog
from posthog.sentry.django import PosthogDistinctIdMiddleware
from posthog.sentry.posthog_integration import PostHogIntegration
from support.recording_server import RecordingServer


def fake_login(get_response: Callable[[HttpRequest], HttpResponse]) -> Any:
    """Stands in for AuthenticationMiddleware: ``X-User`` header -> ``request.user``."""

    def middleware(request: HttpRequest) -> HttpResponse:
        name = request.headers.get("X-User")
        request.user = SimpleNamespace(distinct_id=name) if name else None  # type: ignore[assignment]
        return get_response(request)

    return middleware


class Probe(PosthogDistinctIdMiddleware):
    """The documented middleware, noting whether Django built it for the async path."""

    seen_async: list[bool] = []

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        self.seen_async.append(self._is_async)


def checkout(request: HttpRequest) -> HttpResponse:
    raise ValueError("card declined")


async def acheckout(request: HttpRequest) -> HttpResponse:
    raise ValueError("async card declined")


def healthy(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


urlpatterns = [path("checkout/", checkout), path("acheckout/", acheckout), path("ok/", healthy)]

SETTINGS = {
    "ROOT_URLCONF": __name__,
    "MIDDLEWARE": [
        f"{__name__}.fake_login",
        "posthog.sentry.django.PosthogDistinctIdMiddleware",
    ],
    "POSTHOG_DJANGO": {"distinct_id": lambda request: request.user and request.user.distinct_id},
}


def setup(server: RecordingServer, sentry_events: CapturingTransport) -> Posthog:
    client = Posthog("phc", host=server.url, flush_interval=0.05)
    init_sentry(
        sentry_events,
        [DjangoIntegration(), PostHogIntegration(organization="orgname", client=client)],
    )
    return client


def test_view_error_makes_one_sentry_and_one_posthog_event_linked(
    server: RecordingServer, sentry_events: CapturingTransport
) -> None:
    client = setup(server, sentry_events)
    with override_settings(**SETTINGS):
        response = DjangoClient(raise_request_exception=False).get(
            "/checkout/", headers={"X-User": "user-42"}
        )
    assert response.status_code == 500
    client.flush()
    [sentry_event] = sentry_events.events()
    [ph_event] = server.wait_for_events(1)
    # Sentry -> PostHog
    assert sentry_event["tags"]["posthog_distinct_id"] == "user-42"
    assert sentry_event["tags"]["PostHog URL"] == f"{server.url}/person/user-42"
    # PostHog -> Sentry
    assert ph_event["event"] == "$exception" and ph_event["distinct_id"] == "user-42"
    props = ph_event["properties"]
    event_id = sentry_event["event_id"]
    assert props["$sentry_event_id"] == event_id
    assert props["$sentry_url"] == (
        f"https://sentry.io/organizations/orgname/issues/?project=42&query={event_id}"
    )
    [entry] = props["$exception_list"]
    assert (entry["type"], entry["value"]) == ("ValueError", "card declined")
    assert entry["stacktrace"]["frames"][-1]["function"] == "checkout"
    client.shutdown()


def test_tag_does_not_leak_between_requests(
    server: RecordingServer, sentry_events: CapturingTransport
) -> None:
    client = setup(server, sentry_events)
    browser = DjangoClient(raise_request_exception=False)
    with override_settings(**SETTINGS):
        assert browser.get("/ok/", headers={"X-User": "user-1"}).status_code == 200
        assert browser.get("/checkout/").status_code == 500  # anonymous: lambda gives None
    client.flush()
    [sentry_event] = sentry_events.events()
    assert "posthog_distinct_id" not in (sentry_event.get("tags") or {})
    assert "PostHog URL" not in (sentry_event.get("tags") or {})
    assert server.events() == []
    client.shutdown()


def test_distinct_id_callable_that_raises_leaves_request_untagged(
    server: RecordingServer, sentry_events: CapturingTransport
) -> None:
    client = setup(server, sentry_events)

    def broken(request: HttpRequest) -> str:
        raise AttributeError("AnonymousUser has no distinct_id")

    with override_settings(**{**SETTINGS, "POSTHOG_DJANGO": {"distinct_id": broken}}):
        response = DjangoClient(raise_request_exception=False).get("/checkout/")
    assert response.status_code == 500
    [sentry_event] = sentry_events.events()
    assert "posthog_distinct_id" not in (sentry_event.get("tags") or {})
    client.shutdown()


def async_checkout(
    server: RecordingServer, sentry_events: CapturingTransport, **settings: Any
) -> tuple[Posthog, int]:
    """A failing ``/checkout/`` for ``async-user`` through Django's async path (the Probe
    checks it was taken): the PostHog client and the response's status."""
    import asyncio

    from django.test import AsyncClient

    Probe.seen_async.clear()
    client = setup(server, sentry_events)
    middleware = [f"{__name__}.fake_login", f"{__name__}.Probe"]
    with override_settings(**{**SETTINGS, "MIDDLEWARE": middleware, **settings}):
        browser = AsyncClient(raise_request_exception=False)
        response = asyncio.run(browser.get("/checkout/", headers={"X-User": "async-user"}))
    assert Probe.seen_async == [True]  # Django ran our middleware on its async path
    return client, response.status_code


def test_async_request_path_is_tagged_too(
    server: RecordingServer, sentry_events: CapturingTransport
) -> None:
    client, status = async_checkout(server, sentry_events)
    assert status == 500
    client.flush()
    [sentry_event] = sentry_events.events()
    [ph_event] = server.wait_for_events(1)
    assert sentry_event["tags"]["posthog_distinct_id"] == "async-user"
    assert ph_event["distinct_id"] == "async-user"
    assert ph_event["properties"]["$sentry_event_id"] == sentry_event["event_id"]
    client.shutdown()


def test_async_request_without_a_callable_is_untagged(
    server: RecordingServer, sentry_events: CapturingTransport
) -> None:
    client, status = async_checkout(server, sentry_events, POSTHOG_DJANGO={})
    assert status == 500
    [sentry_event] = sentry_events.events()
    assert "posthog_distinct_id" not in (sentry_event.get("tags") or {})
    client.shutdown()


def test_async_stack_with_real_auth_runs_the_callable_off_the_loop(
    server: RecordingServer, sentry_events: CapturingTransport
) -> None:
    """Real sessions + auth on SQLite: ``request.user`` is a lazy database lookup, which
    Django refuses on the event loop; the callable must still tag the request."""
    import asyncio

    from django.contrib.auth.models import User
    from django.test import AsyncClient

    from integrations.integration_support import django_database

    django_database()
    user, _ = User.objects.get_or_create(username="alice")
    client = setup(server, sentry_events)
    login = DjangoClient()
    login.force_login(user)
    middleware = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "posthog.sentry.django.PosthogDistinctIdMiddleware",
    ]
    documented = {"distinct_id": lambda request: request.user and request.user.username}
    with override_settings(**{**SETTINGS, "MIDDLEWARE": middleware, "POSTHOG_DJANGO": documented}):
        browser = AsyncClient(raise_request_exception=False)
        browser.cookies = login.cookies
        response = asyncio.run(browser.get("/acheckout/"))
    assert response.status_code == 500
    assert client.flush(5)
    [sentry_event] = sentry_events.events()
    [ph_event] = server.wait_for_events(1)
    assert sentry_event["tags"]["posthog_distinct_id"] == "alice"
    assert ph_event["event"] == "$exception" and ph_event["distinct_id"] == "alice"
    assert ph_event["properties"]["$sentry_event_id"] == sentry_event["event_id"]
    client.shutdown()
