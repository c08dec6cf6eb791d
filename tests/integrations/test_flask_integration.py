"""Flask: requests through Flask's test client produce events with the request's person,
session, properties and tags; concurrent requests keep their own context; unhandled view
errors become $exception events."""

from __future__ import annotations

import threading

from flask import Flask
from integration_support import TRACING, events_named

import posthog
from posthog import Posthog
from posthog.integrations.flask import PosthogFlask, PosthogFlaskIntegration
from support.recording_server import RecordingServer


def make_app(client: Posthog, **options: object) -> Flask:
    app = Flask(__name__)
    barrier = threading.Barrier(2, timeout=5)

    @app.get("/purchase")
    def purchase() -> str:
        posthog.tag("cart_size", 2)
        client.capture("purchase", properties={"amount": 5})
        return "ok"

    @app.get("/concurrent")
    def concurrent() -> str:
        barrier.wait()
        client.capture("concurrent")
        return "ok"

    @app.get("/broken")
    def broken() -> str:
        raise KeyError("missing")

    ext = PosthogFlask(client=client, **options)  # type: ignore[arg-type]
    ext.init_app(app)
    assert app.extensions["posthog"] is ext
    return app


def test_request_context_reaches_events(server: RecordingServer, client: Posthog) -> None:
    app = make_app(client)
    response = app.test_client().get("/purchase?x=1", headers=TRACING)
    assert response.status_code == 200
    [event] = events_named(server, client, "purchase", 1)
    props = event["properties"]
    assert event["distinct_id"] == "browser-person"
    assert props["$session_id"] == "sess-1" and props["$window_id"] == "win-1"
    assert props["$current_url"] == "http://localhost/purchase?x=1"
    assert props["$request_method"] == "GET" and props["$request_path"] == "/purchase"
    assert props["$ip"] == "127.0.0.1" and props["$user_agent"] == "pytest-agent/1.0"
    assert props["$raw_user_agent"] == "pytest-agent/1.0"
    assert props["cart_size"] == 2 and props["amount"] == 5
    assert "cart_size" in props["$context_tags"]


def test_distinct_id_callable_filter_and_extra(server: RecordingServer, client: Posthog) -> None:
    app = make_app(
        client,
        distinct_id=lambda req: req.headers.get("X-User"),
        request_filter=lambda req: req.args.get("skip") is None,
        extra_properties=lambda req: {"tenant": "acme"},
        capture_tracing_headers=False,
    )
    browser = app.test_client()
    browser.get("/purchase", headers={**TRACING, "X-User": "user-1"})
    browser.get("/purchase?skip=1", headers={"X-User": "user-2"})
    kept, skipped = sorted(
        events_named(server, client, "purchase", 2), key=lambda e: "tenant" not in e["properties"]
    )
    assert kept["distinct_id"] == "user-1" and kept["properties"]["tenant"] == "acme"
    assert "$session_id" not in kept["properties"]  # tracing headers turned off
    assert "$request_path" not in skipped["properties"]
    assert skipped["properties"]["$process_person_profile"] is False


def test_context_does_not_leak_after_request(server: RecordingServer, client: Posthog) -> None:
    app = make_app(client)
    with app.test_client() as browser:
        browser.get("/purchase", headers=TRACING)
    assert posthog.get_tags() == {}
    client.capture("after")
    [after] = events_named(server, client, "after", 1)
    assert after["properties"]["$process_person_profile"] is False
    assert "$session_id" not in after["properties"]


def test_two_concurrent_requests_keep_their_own_context(
    server: RecordingServer, client: Posthog
) -> None:
    app = make_app(client)
    statuses: list[int] = []

    def call(user: str) -> None:
        response = app.test_client().get(
            "/concurrent",
            headers={"X-POSTHOG-DISTINCT-ID": user, "X-POSTHOG-SESSION-ID": f"s-{user}"},
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=call, args=(u,)) for u in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert statuses == [200, 200]
    events = events_named(server, client, "concurrent", 2)
    assert sorted((e["distinct_id"], e["properties"]["$session_id"]) for e in events) == [
        ("a", "s-a"),
        ("b", "s-b"),
    ]


def test_unhandled_view_error_becomes_exception_event(
    server: RecordingServer, client: Posthog
) -> None:
    app = make_app(client)
    response = app.test_client().get("/broken", headers=TRACING)
    assert response.status_code == 500
    [event] = events_named(server, client, "$exception", 1)
    assert event["distinct_id"] == "browser-person"
    assert event["properties"]["$request_path"] == "/broken"
    assert event["properties"]["$exception_list"][0]["type"] == "KeyError"


def test_reference_name_and_app_argument(server: RecordingServer, client: Posthog) -> None:
    app = Flask(__name__)

    @app.get("/")
    def index() -> str:
        client.capture("home")
        return "ok"

    PosthogFlaskIntegration(app, client=client, capture_exceptions=False)
    app.test_client().get("/", headers=TRACING)
    [event] = events_named(server, client, "home", 1)
    assert event["properties"]["$session_id"] == "sess-1"
