"""An error raised by a streamed response's body, with Sentry's ``PostHogIntegration``:
Sentry's WSGI middleware reports it while the server iterates the body, after the
framework has closed the request. Still exactly one PostHog ``$exception``, linked to the
Sentry event and carrying the request's person and session. Django through its real
``WSGIHandler`` (the test client bypasses the WSGI middleware Sentry adds), Flask through
its test client; real ``sentry_sdk``."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from django.http import HttpRequest, StreamingHttpResponse
from django.test import override_settings
from django.urls import path
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.flask import FlaskIntegration
from sentry_support import CapturingTransport, init_sentry

from posthog import Posthog
from posthog.sentry.posthog_integration import PostHogIntegration
from support.recording_server import RecordingServer

HEADERS = {"X-POSTHOG-DISTINCT-ID": "u-7", "X-POSTHOG-SESSION-ID": "sess-7"}


def broken_body() -> Iterator[bytes]:
    yield b"a"
    raise ValueError("stream broke")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(broken_body())


urlpatterns = [path("stream/", stream)]


def consume(result: Iterable[bytes]) -> None:
    """What a WSGI server does: iterate the body, close it whatever happens."""
    try:
        with pytest.raises(ValueError, match="stream broke"):
            for _ in result:
                pass
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def django_stream(client: Posthog) -> None:
    from django.core.handlers.wsgi import WSGIHandler

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/stream/",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in HEADERS.items()},
    }
    with override_settings(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["posthog.integrations.django.PosthogContextMiddleware"],
        POSTHOG_MW_CLIENT=client,
    ):
        consume(WSGIHandler()(environ, lambda status, headers, exc_info=None: None))


def flask_stream(client: Posthog) -> None:
    from flask import Flask, Response

    from posthog.integrations.flask import PosthogFlask

    app = Flask(__name__)

    @app.get("/stream")
    def flask_view() -> Response:
        return Response(broken_body())

    PosthogFlask(app, client=client)
    consume(app.test_client().get("/stream", headers=HEADERS, buffered=False).response)


@pytest.mark.parametrize(
    ("integration", "serve", "source"),
    [
        (DjangoIntegration, django_stream, "django.middleware"),
        (FlaskIntegration, flask_stream, "flask"),
    ],
    ids=["django", "flask"],
)
def test_stream_error_is_one_linked_exception_with_the_request_context(
    server: RecordingServer,
    sentry_events: CapturingTransport,
    client: Posthog,
    integration: Callable[[], Any],
    serve: Callable[[Posthog], None],
    source: str,
) -> None:
    init_sentry(
        sentry_events, [integration(), PostHogIntegration(organization="orgname", client=client)]
    )
    serve(client)
    assert client.flush(5)
    [sentry_event] = sentry_events.events()
    [ph_event] = [e for e in server.events() if e["event"] == "$exception"]
    props = ph_event["properties"]
    assert props["$sentry_event_id"] == sentry_event["event_id"]
    assert ph_event["distinct_id"] == "u-7" and props["$session_id"] == "sess-7"
    assert props["$exception_source"] == source
    assert sentry_event["tags"]["PostHog URL"] == f"{server.url}/person/u-7"
