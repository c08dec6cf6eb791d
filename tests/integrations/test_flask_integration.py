"""Flask: requests through Flask's test client produce events with the request's person,
session, properties and tags; concurrent requests keep their own context; unhandled view
errors become $exception events; with Flask-Login, the logged-in user's email is a tag."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable

import pytest
from flask import Flask, g
from flask_login import LoginManager, UserMixin, current_user, login_user
from integration_support import TRACING, events_named
from user_support import EMAILS, WithEmail

import posthog
from posthog import Posthog
from posthog.integrations.flask import PosthogFlask, PosthogFlaskIntegration
from support.recording_server import RecordingServer


def make_app(
    client: Posthog, setup: Callable[[Flask], None] | None = None, **options: object
) -> Flask:
    """A test app; ``setup`` runs before the extension is initialised (as an app's own
    extensions and hooks set up ahead of it would)."""
    app = Flask(__name__)
    if setup is not None:
        setup(app)
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


# -- the email tag from Flask-Login's current_user -----------------------------------------


class LoginUser(WithEmail, UserMixin):
    def __init__(self, user_id: str) -> None:
        super().__init__(user_id)
        self.id = user_id


USERS = {user_id: LoginUser(user_id) for user_id in EMAILS}


def login_app(client: Posthog, load_user_first: bool = True, **options: object) -> Flask:
    """``make_app`` with Flask-Login set up, and ``/login/<id>`` logging a user in. With
    ``load_user_first`` a ``before_request`` hook registered before the extension uses
    ``current_user`` (as an app using it in every view would), so it is loaded when the
    request's context opens."""

    def setup(app: Flask) -> None:
        app.secret_key = "test-only"
        manager = LoginManager()
        manager.init_app(app)
        manager.user_loader(USERS.get)
        if load_user_first:

            @app.before_request
            def use_current_user() -> None:
                g.signed_in = current_user.is_authenticated

        @app.get("/login/<user_id>")
        def login(user_id: str) -> str:
            login_user(USERS[user_id])
            return "ok"

    return make_app(client, setup, **options)


def purchase_as(app: Flask, user_id: str | None) -> int:
    browser = app.test_client()
    if user_id is not None:
        assert browser.get(f"/login/{user_id}").status_code == 200
    headers = {"X-POSTHOG-DISTINCT-ID": user_id or "anon"}
    return browser.get("/purchase", headers=headers).status_code


def test_logged_in_users_email_is_a_tag(server: RecordingServer, client: Posthog) -> None:
    app = login_app(client)
    assert purchase_as(app, "ada") == 200
    [event] = events_named(server, client, "purchase", 1)
    assert event["properties"]["email"] == "ada@example.com"
    assert "email" in event["properties"]["$context_tags"]


@pytest.mark.parametrize("user_id", [None, "blank", "number", "none", "broken"])
def test_no_email_tag_without_a_readable_email(
    server: RecordingServer, client: Posthog, user_id: str | None
) -> None:
    app = login_app(client)
    assert purchase_as(app, user_id) == 200
    [event] = events_named(server, client, "purchase", 1)
    assert event["distinct_id"] == (user_id or "anon")
    assert event["properties"]["$request_path"] == "/purchase"
    assert "email" not in event["properties"]


def test_extra_properties_win_over_email(server: RecordingServer, client: Posthog) -> None:
    app = login_app(client, extra_properties=lambda req: {"email": "override@example.com"})
    assert purchase_as(app, "ada") == 200
    [event] = events_named(server, client, "purchase", 1)
    assert event["properties"]["email"] == "override@example.com"


def test_login_manager_without_a_user_loader_adds_nothing(
    server: RecordingServer, client: Posthog
) -> None:
    # Flask-Login raises when it has to load a user and cannot; the extension never makes
    # it load one, so the request works.
    app = make_app(client)
    LoginManager().init_app(app)
    assert app.test_client().get("/purchase").status_code == 200
    [event] = events_named(server, client, "purchase", 1)
    assert event["properties"]["$request_path"] == "/purchase"
    assert "email" not in event["properties"]


def test_a_user_not_loaded_by_the_app_is_not_loaded(
    server: RecordingServer, client: Posthog
) -> None:
    """The extension never makes Flask-Login load the user: a request whose app never
    reads ``current_user`` (static files, health checks) runs no ``user_loader``, and
    its events carry no ``email``."""
    loads: list[str] = []

    def setup(app: Flask) -> None:
        app.secret_key = "test-only"
        manager = LoginManager()
        manager.init_app(app)
        manager.user_loader(lambda user_id: loads.append(user_id) or USERS.get(user_id))

    app = make_app(client, setup)
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = "ada"
        session["_fresh"] = True
    assert browser.get("/purchase").status_code == 200
    [event] = events_named(server, client, "purchase", 1)
    assert event["properties"]["$request_path"] == "/purchase"
    assert "email" not in event["properties"]
    assert loads == []


def test_the_apps_own_hooks_run_before_the_user_is_loaded(
    server: RecordingServer, client: Posthog
) -> None:
    """A ``user_loader`` needing what the app's own ``before_request`` hook (registered
    after the extension) sets up still finds it: the view sees the logged-in user."""

    def setup(app: Flask) -> None:
        app.secret_key = "test-only"
        manager = LoginManager()
        manager.init_app(app)
        manager.user_loader(lambda user_id: USERS.get(user_id) if "db" in g else None)

    app = make_app(client, setup)
    app.before_request(lambda: setattr(g, "db", object()))

    @app.get("/me")
    def me() -> str:
        client.capture("me")
        return current_user.email if current_user.is_authenticated else "anonymous"

    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = "ada"
        session["_fresh"] = True
    assert browser.get("/me").text == "ada@example.com"
    [event] = events_named(server, client, "me", 1)
    assert event["properties"]["$request_path"] == "/me"


def test_a_view_error_carries_the_email_of_the_user_the_view_loaded(
    server: RecordingServer, client: Posthog
) -> None:
    """The user first read by the view is not on the request's earlier tags, but the
    ``$exception`` captured once the view has raised carries its ``email``."""
    app = login_app(client, load_user_first=False)

    @app.get("/fails-for-user")
    def fails_for_user() -> str:
        raise RuntimeError(f"broken for {current_user.get_id()}")

    browser = app.test_client()
    assert browser.get("/login/ada").status_code == 200
    assert browser.get("/fails-for-user").status_code == 500
    [event] = events_named(server, client, "$exception", 1)
    assert event["properties"]["email"] == "ada@example.com"
    assert event["properties"]["$request_path"] == "/fails-for-user"


def test_flask_login_is_optional() -> None:
    """With Flask-Login not installed (importing it fails), requests work and are tagged
    without ``email``, in a fresh interpreter."""
    script = textwrap.dedent(
        """
        import sys
        sys.modules["flask_login"] = None  # any import of it now raises ImportError
        from flask import Flask
        import posthog
        from posthog.integrations.flask import PosthogFlask

        app = Flask(__name__)
        app.get("/")(lambda: posthog.get_tags())
        PosthogFlask(app, client=posthog.Posthog("phc_test", disabled=True))
        response = app.test_client().get("/")
        assert response.status_code == 200, response.status_code
        tags = response.get_json()
        assert tags["$request_path"] == "/" and "email" not in tags, tags
        print("ok")
        """
    )
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"
