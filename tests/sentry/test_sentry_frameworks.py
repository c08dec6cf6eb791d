"""Our framework integrations capture view errors too. With Sentry's ``PostHogIntegration``
active, an error must still make exactly one PostHog ``$exception`` event, and that event
is the one linked to the Sentry event (and the Sentry event to the PostHog person) —
whichever of the two sees the error first. Django, Flask and FastAPI through their own
test clients; real ``sentry_sdk`` with its framework integrations."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, override_settings
from django.test import Client as DjangoClient
from django.urls import path
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.flask import FlaskIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration
from sentry_support import CapturingTransport, init_sentry

from posthog import Posthog
from posthog.sentry.posthog_integration import PostHogIntegration
from support.recording_server import RecordingServer

_HTTPX_NOTICE = r"Using `httpx` with `starlette.testclient` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _HTTPX_NOTICE)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.filterwarnings(f"ignore:{_HTTPX_NOTICE}")

SESSION = {"X-POSTHOG-SESSION-ID": "sess-7"}


def headers_for(person: str | None, header: str = "X-POSTHOG-DISTINCT-ID") -> dict[str, str]:
    return {**SESSION, **({header: person} if person else {})}


def linked_pair(
    server: RecordingServer,
    client: Posthog,
    sentry_events: CapturingTransport,
    person: str | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one Sentry event and the one PostHog ``$exception``; asserts they point at each
    other, and at ``person`` (``None``: a personless event, no person URL in Sentry)."""
    assert client.flush(5)
    [sentry_event] = sentry_events.events()
    [ph_event] = [e for e in server.events() if e["event"] == "$exception"]
    event_id = sentry_event["event_id"]
    props = ph_event["properties"]
    assert props["$sentry_event_id"] == event_id
    assert props["$sentry_url"] == (
        f"https://sentry.io/organizations/orgname/issues/?project=42&query={event_id}"
    )
    assert props["$session_id"] == "sess-7"
    tags = sentry_event.get("tags") or {}
    if person:
        assert ph_event["distinct_id"] == person
        assert tags["PostHog URL"] == f"{server.url}/person/{person}"
    else:
        assert props["$process_person_profile"] is False
        assert "PostHog URL" not in tags  # no person to point at
    return sentry_event, ph_event


# -- Django ---------------------------------------------------------------------------------
def checkout(request: HttpRequest) -> HttpResponse:
    raise ValueError("card declined")


async def acheckout(request: HttpRequest) -> HttpResponse:
    raise ValueError("card declined")


urlpatterns = [path("checkout/", checkout), path("acheckout/", acheckout)]


def django_settings(client: Posthog) -> override_settings:
    """Our context middleware (exception capture on by default) and the documented Sentry
    middleware, both reading the person from the documented ``POSTHOG_DJANGO`` setting."""
    return override_settings(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=[
            "posthog.integrations.django.PosthogContextMiddleware",
            "posthog.sentry.django.PosthogDistinctIdMiddleware",
        ],
        POSTHOG_MW_CLIENT=client,
        POSTHOG_DJANGO={"distinct_id": lambda request: request.headers.get("X-User")},
    )


def sentry_with(
    transport: CapturingTransport, client: Posthog, *integrations: Any, **options: Any
) -> None:
    ours = PostHogIntegration(organization="orgname", client=client)
    init_sentry(transport, [*integrations, ours], **options)


def django_get(url: str, headers: dict[str, str], *, use_async: bool) -> int:
    if use_async:
        browser = AsyncClient(raise_request_exception=False)
        return int(asyncio.run(browser.get(url, headers=headers)).status_code)
    return int(DjangoClient(raise_request_exception=False).get(url, headers=headers).status_code)


@pytest.mark.parametrize(
    ("url", "person", "use_async"),
    [("/checkout/", "u-42", False), ("/checkout/", None, False), ("/acheckout/", "a-1", True)],
    ids=["sync", "anonymous", "async"],
)
def test_django_view_error_one_linked_event_each(
    server: RecordingServer,
    sentry_events: CapturingTransport,
    client: Posthog,
    url: str,
    person: str | None,
    use_async: bool,
) -> None:
    sentry_with(sentry_events, client, DjangoIntegration())
    with django_settings(client):
        assert django_get(url, headers_for(person, "X-User"), use_async=use_async) == 500
    _, ph_event = linked_pair(server, client, sentry_events, person)
    props = ph_event["properties"]
    assert props["$exception_source"] == "django.middleware"
    assert props["$request_path"] == url
    [entry] = props["$exception_list"]
    assert (entry["type"], entry["value"]) == ("ValueError", "card declined")


@pytest.mark.parametrize(
    ("sentry_integrations", "sentry_sees_it"),
    [
        # PostHogIntegration on, but Sentry has no Django integration: nobody reports the
        # error to Sentry, so the middleware captures it itself when the request ends.
        ([PostHogIntegration(organization="orgname")], False),
        # Sentry without PostHogIntegration: the middleware captures as it always does.
        ([DjangoIntegration()], True),
    ],
    ids=["posthog-integration-only", "sentry-django-only"],
)
def test_django_middleware_captures_when_sentry_does_not_link(
    server: RecordingServer,
    sentry_events: CapturingTransport,
    client: Posthog,
    sentry_integrations: list[Any],
    sentry_sees_it: bool,
) -> None:
    init_sentry(sentry_events, sentry_integrations)
    with django_settings(client):
        DjangoClient(raise_request_exception=False).get("/checkout/", headers={"X-User": "u-1"})
    assert client.flush(5)
    assert len(sentry_events.events()) == int(sentry_sees_it)
    [ph_event] = server.events()
    assert ph_event["event"] == "$exception" and ph_event["distinct_id"] == "u-1"
    assert ph_event["properties"]["$exception_source"] == "django.middleware"
    assert "$sentry_event_id" not in ph_event["properties"]


# -- Flask and ASGI -------------------------------------------------------------------------
def flask_get(client: Posthog, headers: dict[str, str]) -> int:
    from flask import Flask

    from posthog.integrations.flask import PosthogFlask

    app = Flask(__name__)

    @app.get("/checkout")
    def flask_checkout() -> str:
        raise LookupError("card gone")

    PosthogFlask(app, client=client)
    return int(app.test_client().get("/checkout", headers=headers).status_code)


async def starlette_checkout(request: Any) -> Any:
    raise LookupError("card gone")


def asgi_get(app: Any, headers: dict[str, str]) -> int:
    with TestClient(app, raise_server_exceptions=False) as browser:
        return int(browser.get("/checkout", headers=headers).status_code)


def fastapi_get(client: Posthog, headers: dict[str, str]) -> int:
    """Our middleware added the usual way; Sentry's Starlette integration wraps the whole
    app, so Sentry reports the error after it has left our middleware and its context."""
    from fastapi import FastAPI

    from posthog.integrations.asgi import PosthogASGIMiddleware

    app = FastAPI()

    @app.get("/checkout")
    async def fastapi_checkout() -> None:
        raise LookupError("card gone")

    app.add_middleware(PosthogASGIMiddleware, client=client)
    return asgi_get(app, headers)


def sentry_inside_asgi_get(client: Posthog, headers: dict[str, str]) -> int:
    """Sentry's ASGI middleware inside ours: Sentry reports first, in our context."""
    from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
    from starlette.applications import Starlette
    from starlette.routing import Route

    from posthog.integrations.asgi import PosthogASGIMiddleware

    app = Starlette(routes=[Route("/checkout", starlette_checkout)])
    return asgi_get(PosthogASGIMiddleware(SentryAsgiMiddleware(app), client=client), headers)


#: framework -> (request runner, Sentry integrations, the ``$exception_source`` we can
#: rely on). No source check where Sentry may report first and capture the event itself:
#: Flask's signal calls Sentry's and our receivers in no set order.
FRAMEWORKS: dict[str, tuple[Callable[[Posthog, dict[str, str]], int], list[Any], str | None]] = {
    "flask": (flask_get, [FlaskIntegration()], None),
    "fastapi": (fastapi_get, [StarletteIntegration(), FastApiIntegration()], "asgi"),
    "sentry-inside-asgi": (sentry_inside_asgi_get, [], None),
}


@pytest.mark.parametrize("person", ["p-1", None])
@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_framework_error_one_linked_event_each(
    server: RecordingServer,
    sentry_events: CapturingTransport,
    client: Posthog,
    framework: str,
    person: str | None,
) -> None:
    get, integrations, source = FRAMEWORKS[framework]
    sentry_with(sentry_events, client, *integrations)
    assert get(client, headers_for(person)) == 500
    _, ph_event = linked_pair(server, client, sentry_events, person)
    props = ph_event["properties"]
    assert props["$request_path"] == "/checkout"
    assert props["$exception_list"][0]["type"] == "LookupError"
    if source is not None:
        assert props["$exception_source"] == source


@pytest.mark.parametrize("ignored", [LookupError, "LookupError", "builtins.LookupError"])
def test_error_sentry_ignores_is_still_captured_by_the_asgi_middleware(
    server: RecordingServer, sentry_events: CapturingTransport, client: Posthog, ignored: Any
) -> None:
    """Sentry's outer ASGI middleware drops errors listed in ``ignore_errors`` before any
    event processor runs, so handing such an error to Sentry would lose it."""
    integrations = [StarletteIntegration(), FastApiIntegration()]
    sentry_with(sentry_events, client, *integrations, ignore_errors=[ignored])
    assert fastapi_get(client, headers_for("p-2")) == 500
    assert client.flush(5)
    assert sentry_events.events() == []
    [ph_event] = server.events()
    assert ph_event["distinct_id"] == "p-2" and "$sentry_event_id" not in ph_event["properties"]
    assert ph_event["properties"]["$exception_source"] == "asgi"
