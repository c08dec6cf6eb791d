"""DRF's exception handler with Sentry's ``PostHogIntegration``: an unhandled API error is
one Sentry event and one PostHog ``$exception`` linked to each other, though both our
handler and the Django middleware see it; a 5xx that DRF answers (Sentry never hears of
it) is still one PostHog event. Real ``sentry_sdk``, DRF and Django's test client."""

from __future__ import annotations

from typing import Any

from django.test import Client as DjangoClient
from django.test import override_settings
from django.urls import path
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_support import CapturingTransport, init_sentry

from integrations.integration_support import configure_django
from posthog import Posthog
from posthog.sentry.posthog_integration import PostHogIntegration
from support.recording_server import RecordingServer

configure_django()  # DRF reads Django's settings when imported

from rest_framework.exceptions import APIException  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

HEADERS = {"X-POSTHOG-DISTINCT-ID": "api-user", "X-POSTHOG-SESSION-ID": "sess-9"}


class Maintenance(APIException):
    status_code = 503
    default_detail = "down for maintenance"


class Boom(APIView):
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    def get(self, request: Request) -> Response:
        raise ValueError("ledger locked")


class Down(Boom):
    def get(self, request: Request) -> Response:
        raise Maintenance()


urlpatterns = [path("boom/", Boom.as_view()), path("down/", Down.as_view())]


def get(client: Posthog, transport: CapturingTransport, url: str) -> int:
    init_sentry(
        transport, [DjangoIntegration(), PostHogIntegration(organization="orgname", client=client)]
    )
    with override_settings(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["posthog.integrations.django.PosthogContextMiddleware"],
        POSTHOG_MW_CLIENT=client,
        REST_FRAMEWORK={"EXCEPTION_HANDLER": "posthog.integrations.drf.exception_handler"},
    ):
        response = DjangoClient(raise_request_exception=False).get(url, headers=HEADERS)
    return int(response.status_code)


def test_unhandled_api_error_is_one_linked_event_each(
    server: RecordingServer, sentry_events: CapturingTransport, client: Posthog
) -> None:
    assert get(client, sentry_events, "/boom/") == 500
    assert client.flush(5)
    [sentry_event] = sentry_events.events()
    [ph_event] = server.wait_for_events(1)
    props = ph_event["properties"]
    assert ph_event["event"] == "$exception" and ph_event["distinct_id"] == "api-user"
    assert props["$sentry_event_id"] == sentry_event["event_id"]
    assert props["$session_id"] == "sess-9" and props["$request_path"] == "/boom/"
    assert props["$exception_list"][0]["value"] == "ledger locked"
    assert props["$exception_source"] == "django.middleware"  # handed over last
    assert sentry_event["tags"]["PostHog URL"] == f"{server.url}/person/api-user"


def test_answered_server_error_is_one_unlinked_event(
    server: RecordingServer, sentry_events: CapturingTransport, client: Posthog
) -> None:
    assert get(client, sentry_events, "/down/") == 503
    client.capture("done", distinct_id="test")
    assert client.flush(5)
    server.wait_for(lambda s: len(s.events()) >= 2, 5)
    exception, done = server.events()
    assert (exception["event"], done["event"]) == ("$exception", "done")
    assert exception["distinct_id"] == "api-user"
    assert exception["properties"]["$exception_source"] == "django.rest_framework"
    assert "$sentry_event_id" not in exception["properties"]
    assert sentry_events.events() == []
