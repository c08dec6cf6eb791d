"""``$current_url`` keeps an awkward path intact in every framework: the frameworks give
the decoded path, and the URL must percent-encode it again (``?``, ``#``, ``%``, spaces,
non-ASCII), with the query string as sent."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client as DjangoClient
from django.test import override_settings
from django.urls import re_path
from flask import Flask
from integration_support import configure_django, events_named
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from posthog import Posthog
from posthog.integrations.asgi import PosthogASGIMiddleware
from posthog.integrations.flask import PosthogFlask
from support.recording_server import RecordingServer

configure_django()

_HTTPX_NOTICE = r"Using `httpx` with `starlette.testclient` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _HTTPX_NOTICE)
    from starlette.testclient import TestClient

pytestmark = pytest.mark.filterwarnings(f"ignore:{_HTTPX_NOTICE}")

SENT = "/a%20b/%C3%BC/c%3Fd%23e%25f?q=1%202&r=%23"
DECODED_PATH = "/a b/ü/c?d#e%f"


def django_view(request: HttpRequest) -> HttpResponse:
    import posthog

    posthog.capture("hit")
    return HttpResponse("ok")


urlpatterns = [re_path(r"^.*$", django_view)]


def _check(server: RecordingServer, client: Posthog, host: str = "testserver") -> None:
    [event] = events_named(server, client, "hit", 1)
    assert event["properties"]["$current_url"] == f"http://{host}{SENT}"
    assert event["properties"]["$request_path"] == DECODED_PATH


def test_asgi(server: RecordingServer, client: Posthog) -> None:
    async def endpoint(request: Request) -> PlainTextResponse:
        client.capture("hit")
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/{rest:path}", endpoint)])
    app.add_middleware(PosthogASGIMiddleware, client=client)
    with TestClient(app) as browser:
        assert browser.get(SENT).status_code == 200
    _check(server, client)


def test_flask(server: RecordingServer, client: Posthog) -> None:
    app = Flask(__name__)

    @app.get("/<path:rest>")
    def hit(rest: str) -> str:
        client.capture("hit")
        return "ok"

    PosthogFlask(client=client).init_app(app)
    assert app.test_client().get(SENT).status_code == 200
    _check(server, client, host="localhost")


def test_django(server: RecordingServer, client: Posthog) -> None:
    import posthog

    posthog.default_client = client
    middleware = ["posthog.integrations.django.PosthogContextMiddleware"]
    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=middleware):
        assert DjangoClient().get(SENT).status_code == 200
    _check(server, client)


def test_a_surrogate_escaped_path_is_percent_encoded_not_an_error() -> None:
    """A server may decode a path that is not UTF-8 with surrogateescape: the request
    still succeeds and the URL carries the original byte, as a browser would send it."""
    import asyncio

    from posthog.testing import RecordingClient

    recorder = RecordingClient()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        recorder.capture("hit")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    raw = b"/caf\xe9"
    scope = {
        "type": "http",
        "method": "GET",
        "path": raw.decode("utf-8", "surrogateescape"),
        "raw_path": raw,
        "headers": [(b"host", b"h")],
        "query_string": b"",
    }
    sent: list[Any] = []

    async def receive() -> Any:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(PosthogASGIMiddleware(app, client=recorder)(scope, receive, send))
    assert sent[0]["status"] == 200
    [event] = recorder.events
    assert event.properties["$current_url"] == "http://h/caf%E9"
