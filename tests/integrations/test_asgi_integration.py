"""ASGI: FastAPI and Starlette apps through their own test clients (and concurrent
in-process requests) produce events with the request's person, session and properties,
and the email of the user Starlette's AuthenticationMiddleware authenticated."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from integration_support import TRACING, events_named
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    BaseUser,
    SimpleUser,
)
from starlette.datastructures import URL
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket
from user_support import EMAILS, WithEmail

import posthog
from posthog import Posthog
from posthog.integrations.asgi import PosthogASGIMiddleware, request_info
from support.recording_server import RecordingServer

# Starlette 1.x asks for its "httpx2" fork in its test client and warns at import when it
# finds plain httpx; the test client still works with httpx.
_HTTPX_NOTICE = r"Using `httpx` with `starlette.testclient` is deprecated"
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", _HTTPX_NOTICE)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.filterwarnings(f"ignore:{_HTTPX_NOTICE}")


def fastapi_app(client: Posthog, **options: object) -> FastAPI:
    app = FastAPI()
    gate = asyncio.Event()
    arrived: list[str] = []

    @app.get("/purchase")
    async def purchase() -> dict[str, str]:
        posthog.tag("cart_size", 1)
        client.capture("purchase")
        return {"ok": "yes"}

    @app.get("/sync-endpoint")
    def sync_endpoint() -> dict[str, str]:  # runs in a worker thread: context must follow
        client.capture("sync endpoint")
        return {"ok": "yes"}

    @app.get("/concurrent")
    async def concurrent(request: Request) -> dict[str, str]:
        arrived.append(request.headers["x-posthog-distinct-id"])
        if len(arrived) == 2:
            gate.set()
        await asyncio.wait_for(gate.wait(), 5)  # both requests are in flight together
        client.capture("concurrent")
        return {"ok": "yes"}

    @app.get("/broken")
    async def broken() -> dict[str, str]:
        raise LookupError("nope")

    app.add_middleware(PosthogASGIMiddleware, client=client, **options)
    return app


def test_fastapi_request_context(server: RecordingServer, client: Posthog) -> None:
    with TestClient(fastapi_app(client)) as browser:
        assert browser.get("/purchase?q=1", headers=TRACING).status_code == 200
        assert browser.get("/sync-endpoint", headers=TRACING).status_code == 200
    [event] = events_named(server, client, "purchase", 1)
    props = event["properties"]
    assert event["distinct_id"] == "browser-person"
    assert props["$session_id"] == "sess-1" and props["$window_id"] == "win-1"
    assert props["$current_url"] == "http://testserver/purchase?q=1"
    assert props["$request_method"] == "GET" and props["$request_path"] == "/purchase"
    assert props["$ip"] == "testclient" and props["$user_agent"] == "pytest-agent/1.0"
    assert props["$raw_user_agent"] == "pytest-agent/1.0"
    assert props["cart_size"] == 1
    [sync_event] = events_named(server, client, "sync endpoint", 1)
    assert sync_event["distinct_id"] == "browser-person"
    assert sync_event["properties"]["$session_id"] == "sess-1"


def test_concurrent_requests_keep_their_own_context(
    server: RecordingServer, client: Posthog
) -> None:
    app = fastapi_app(client)

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            responses = await asyncio.gather(
                *(
                    http.get(
                        "/concurrent",
                        headers={"X-POSTHOG-DISTINCT-ID": u, "X-POSTHOG-SESSION-ID": f"s-{u}"},
                    )
                    for u in ("a", "b")
                )
            )
        return [r.status_code for r in responses]

    assert asyncio.run(run()) == [200, 200]
    events = events_named(server, client, "concurrent", 2)
    assert sorted((e["distinct_id"], e["properties"]["$session_id"]) for e in events) == [
        ("a", "s-a"),
        ("b", "s-b"),
    ]


def test_unhandled_error_becomes_exception_event(server: RecordingServer, client: Posthog) -> None:
    with TestClient(fastapi_app(client), raise_server_exceptions=False) as browser:
        assert browser.get("/broken", headers=TRACING).status_code == 500
    [event] = events_named(server, client, "$exception", 1)
    assert event["distinct_id"] == "browser-person"
    assert event["properties"]["$request_path"] == "/broken"
    assert event["properties"]["$exception_list"][0]["type"] == "LookupError"


def test_starlette_websocket_filter_and_callable(server: RecordingServer, client: Posthog) -> None:
    async def home(request: Request) -> PlainTextResponse:
        client.capture("home")
        return PlainTextResponse("ok")

    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        client.capture("ws message", properties={"text": await ws.receive_text()})
        await ws.close()

    app = Starlette(routes=[Route("/", home), WebSocketRoute("/ws", socket)])
    wrapped = PosthogASGIMiddleware(
        app,
        client=client,
        distinct_id=lambda scope: dict(scope["headers"]).get(b"x-user", b"").decode() or None,
        request_filter=lambda scope: scope["path"] != "/",
        extra_properties=lambda scope: {"tenant": "acme"},
    )
    with TestClient(wrapped) as browser:
        browser.get("/", headers={"X-User": "u1"})
        with browser.websocket_connect("/ws", headers={**TRACING, "X-User": "u2"}) as ws:
            ws.send_text("hello")
    [home_event] = events_named(server, client, "home", 1)
    [ws_event] = events_named(server, client, "ws message", 1)
    assert home_event["properties"]["$process_person_profile"] is False  # filtered out
    assert ws_event["distinct_id"] == "u2"  # the app's callable wins over the header
    assert ws_event["properties"]["$session_id"] == "sess-1"
    assert ws_event["properties"]["$request_path"] == "/ws"
    assert ws_event["properties"]["tenant"] == "acme"


def url_echo_app(client: Posthog, seen: dict[str, tuple[str, str]]) -> Starlette:
    """Routes that capture an event named after the request and remember the URL the
    framework itself sees (``request.url``), to compare with the event's properties."""

    async def items(request: Request) -> PlainTextResponse:
        name = request.query_params["name"]
        seen[name] = (str(request.url), request.url.path)
        client.capture(name)
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/items", items)])


def assert_urls_match(server: RecordingServer, client: Posthog, seen: dict[str, Any]) -> None:
    for name, (url, path) in seen.items():
        [event] = events_named(server, client, name, 1)
        assert event["properties"]["$current_url"] == url, name
        assert event["properties"]["$request_path"] == path, name


def test_url_under_a_mount_is_the_requests_own(server: RecordingServer, client: Posthog) -> None:
    seen: dict[str, tuple[str, str]] = {}
    inner = PosthogASGIMiddleware(url_echo_app(client, seen), client=client)  # inside Mount
    outer = FastAPI()
    outer.mount("/api", url_echo_app(client, seen))
    outer.mount("/wrapped", inner)
    outer.add_middleware(PosthogASGIMiddleware, client=client)  # around the Mount too
    with TestClient(outer) as browser:
        assert browser.get("/api/items?name=outer").status_code == 200
        assert browser.get("/wrapped/items?name=inner").status_code == 200
    assert seen["outer"] == ("http://testserver/api/items?name=outer", "/api/items")
    assert seen["inner"] == ("http://testserver/wrapped/items?name=inner", "/wrapped/items")
    assert_urls_match(server, client, seen)


def test_url_with_a_proxy_root_path_is_the_requests_own(
    server: RecordingServer, client: Posthog
) -> None:
    seen: dict[str, tuple[str, str]] = {}
    app = PosthogASGIMiddleware(url_echo_app(client, seen), client=client)
    outer = Starlette(routes=[Mount("/sub", url_echo_app(client, seen))])
    wrapped_outer = PosthogASGIMiddleware(outer, client=client)
    with TestClient(app, root_path="/proxy") as browser:
        # A spec-following server puts the prefix in both root_path and path...
        assert browser.get("/proxy/items?name=full").status_code == 200
        # ...an older one leaves it out of path; either way the URL is the framework's.
        assert browser.get("/items?name=stripped").status_code == 200
    with TestClient(wrapped_outer, root_path="/proxy") as browser:
        assert browser.get("/proxy/sub/items?name=mounted").status_code == 200
    assert seen["full"][1] == "/proxy/items"
    assert seen["mounted"][1] == "/proxy/sub/items"
    assert_urls_match(server, client, seen)


@pytest.mark.parametrize(
    ("scheme", "server", "root_path"),
    [
        ("http", ("10.0.0.5", 80), ""),
        ("https", ("example.com", 443), "/api"),
        ("https", ("example.com", 8443), "/api"),
        ("ws", ("::1", 8000), ""),
        ("http", None, "/api"),
    ],
)
def test_url_without_a_host_header_is_starlettes(
    scheme: str, server: tuple[str, int] | None, root_path: str
) -> None:
    scope = {
        "type": "websocket" if scheme == "ws" else "http",
        "scheme": scheme,
        "server": server,
        "root_path": root_path,
        "path": f"{root_path}/items",
        "query_string": b"a=1",
        "headers": [],
    }
    info = request_info(scope)
    assert info.url == str(URL(scope=scope))
    assert info.path == f"{root_path}/items"


# -- the email tag from Starlette's AuthenticationMiddleware -------------------------------


class EmailUser(WithEmail, SimpleUser):
    def __init__(self, user_id: str) -> None:
        super().__init__(user_id, user_id)  # SimpleUser(username)


USERS: dict[str, BaseUser] = {user_id: EmailUser(user_id) for user_id in EMAILS}
USERS["plain"] = SimpleUser("plain")  # a user class without email


class HeaderBackend(AuthenticationBackend):
    """``Authorization: User <name>`` authenticates as ``USERS[name]``."""

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        scheme, _, name = conn.headers.get("authorization", "").partition(" ")
        if scheme != "User":
            return None
        return AuthCredentials(["authenticated"]), USERS[name]


def auth_app(client: Posthog, *, posthog_inside: bool, **options: Any) -> Starlette:
    """``/purchase`` (and the ``/ws`` websocket) behind AuthenticationMiddleware, with our
    middleware inside it (listed after it) or outside it (listed before it)."""

    async def purchase(request: Request) -> PlainTextResponse:
        client.capture("purchase")
        return PlainTextResponse(request.user.display_name)  # the app sees its user

    async def socket(ws: WebSocket) -> None:
        await ws.accept()
        client.capture("ws message")
        await ws.close()

    auth = Middleware(AuthenticationMiddleware, backend=HeaderBackend())
    ours = Middleware(PosthogASGIMiddleware, client=client, **options)
    return Starlette(
        routes=[Route("/purchase", purchase), WebSocketRoute("/ws", socket)],
        middleware=[auth, ours] if posthog_inside else [ours, auth],
    )


def purchase_as(app: Any, user: str | None) -> str:
    headers = {"X-POSTHOG-DISTINCT-ID": user or "anon"}
    if user is not None:
        headers["Authorization"] = f"User {user}"
    with TestClient(app) as browser:
        response = browser.get("/purchase", headers=headers)
    assert response.status_code == 200
    return response.text


def test_authenticated_users_email_is_a_tag(server: RecordingServer, client: Posthog) -> None:
    app = auth_app(client, posthog_inside=True)
    assert purchase_as(app, "ada") == "ada"
    with (
        TestClient(app) as browser,
        browser.websocket_connect("/ws", headers={"Authorization": "User ada"}),
    ):
        pass
    [event] = events_named(server, client, "purchase", 1)
    assert event["properties"]["email"] == "ada@example.com"
    assert "email" in event["properties"]["$context_tags"]
    [ws_event] = events_named(server, client, "ws message", 1)
    assert ws_event["properties"]["email"] == "ada@example.com"


def test_documented_add_middleware_order(server: RecordingServer, client: Posthog) -> None:
    app = FastAPI()

    @app.get("/purchase")
    async def purchase(request: Request) -> str:
        client.capture("purchase")
        return str(request.user.display_name)

    app.add_middleware(PosthogASGIMiddleware, client=client)
    app.add_middleware(AuthenticationMiddleware, backend=HeaderBackend())  # outside ours
    assert purchase_as(app, "ada") == '"ada"'
    [event] = events_named(server, client, "purchase", 1)
    assert event["properties"]["email"] == "ada@example.com"


def test_outside_authentication_middleware_there_is_no_email_yet(
    server: RecordingServer, client: Posthog
) -> None:
    # scope["user"] is set by AuthenticationMiddleware after our context has opened.
    app = auth_app(client, posthog_inside=False)
    assert purchase_as(app, "ada") == "ada"
    [event] = events_named(server, client, "purchase", 1)
    assert event["distinct_id"] == "ada"
    assert event["properties"]["$request_path"] == "/purchase"
    assert "email" not in event["properties"]


@pytest.mark.parametrize("user", [None, "blank", "number", "none", "broken", "plain"])
def test_no_email_tag_without_a_readable_email(
    server: RecordingServer, client: Posthog, user: str | None
) -> None:
    app = auth_app(client, posthog_inside=True)
    assert purchase_as(app, user) == (user or "")
    [event] = events_named(server, client, "purchase", 1)
    assert event["distinct_id"] == (user or "anon")
    assert event["properties"]["$request_path"] == "/purchase"
    assert "email" not in event["properties"]


def test_extra_properties_win_over_email(server: RecordingServer, client: Posthog) -> None:
    app = auth_app(
        client, posthog_inside=True, extra_properties=lambda scope: {"email": "other@example.com"}
    )
    purchase_as(app, "ada")
    [event] = events_named(server, client, "purchase", 1)
    assert event["properties"]["email"] == "other@example.com"
