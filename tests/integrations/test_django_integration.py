"""Django: requests through Django's own test clients (sync and async handler stacks)
produce events on a real loopback server with the request's person, session and
properties; concurrent requests keep their own context; view errors become $exception."""

from __future__ import annotations

import asyncio
import logging
import threading
from types import MappingProxyType, SimpleNamespace
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, override_settings
from django.test import Client as DjangoClient
from django.urls import path
from integration_support import TRACING, configure_django, django_database, events_named

import posthog
from posthog import Posthog
from posthog.integrations.django import PosthogContextMiddleware
from support.recording_server import RecordingServer

configure_django()

MIDDLEWARE = "posthog.integrations.django.PosthogContextMiddleware"
_barrier: list[threading.Barrier] = []


class UnreadableEmailUser:
    """A custom user model whose ``email`` fails to load."""

    pk = "unreadable"
    is_authenticated = True

    @property
    def email(self) -> str:
        raise RuntimeError("email column missing")


def fake_auth(get_response: Any) -> Any:
    """Stands in for AuthenticationMiddleware: ``X-User`` header -> ``request.user``, with
    the ``X-Email`` header as its ``email`` when sent (``!`` for an unreadable one)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        name = request.headers.get("X-User")
        email = request.headers.get("X-Email")
        user: Any = SimpleNamespace(pk=name, is_authenticated=bool(name))
        if email == "!":
            user = UnreadableEmailUser()
        elif email is not None:
            user.email = email
        request.user = user

        async def auser() -> Any:
            return user

        request.auser = auser  # type: ignore[attr-defined]
        return get_response(request)

    return middleware


def purchase(request: HttpRequest) -> HttpResponse:
    posthog.tag("cart_size", 3)
    posthog.capture("purchase", properties={"amount": 10})
    return HttpResponse("ok")


def concurrent(request: HttpRequest) -> HttpResponse:
    _barrier[0].wait()  # both requests are inside their contexts at the same time
    posthog.capture("concurrent")
    return HttpResponse("ok")


def broken(request: HttpRequest) -> HttpResponse:
    raise ValueError("card declined")


async def apurchase(request: HttpRequest) -> HttpResponse:
    await asyncio.sleep(0.01)
    posthog.capture("async purchase")
    return HttpResponse("ok")


async def abroken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("async boom")


urlpatterns = [
    path("purchase/", purchase),
    path("concurrent/", concurrent),
    path("broken/", broken),
    path("apurchase/", apurchase),
    path("abroken/", abroken),
]


def configured(client: Posthog | None, **extra: Any) -> override_settings:
    values: dict[str, Any] = {
        "ROOT_URLCONF": __name__,
        "MIDDLEWARE": [f"{__name__}.fake_auth", MIDDLEWARE],
        **extra,
    }
    if client is not None:
        values["POSTHOG_MW_CLIENT"] = client
        posthog.default_client = client  # views use the documented module-level API
    return override_settings(**values)


def test_documented_appconfig_setup_and_request_context(server: RecordingServer) -> None:
    import hogwire_demo_app.apps as demo

    demo.HOST = server.url
    with configured(None, INSTALLED_APPS=["hogwire_demo_app"]):
        assert posthog.api_key == "phc_from_appconfig"
        response = DjangoClient().get("/purchase/?ref=mail", headers=TRACING)
        assert response.status_code == 200
        assert posthog.flush(5)
    [event] = server.wait_for_events(1)
    assert server.batches()[0]["api_key"] == "phc_from_appconfig"
    props = event["properties"]
    assert event["event"] == "purchase"
    assert event["distinct_id"] == "browser-person"  # no user: the tracing header
    assert props["$session_id"] == "sess-1" and props["$window_id"] == "win-1"
    assert props["$current_url"] == "http://testserver/purchase/?ref=mail"
    assert props["$request_method"] == "GET" and props["$request_path"] == "/purchase/"
    assert props["$ip"] == "127.0.0.1" and props["$user_agent"] == "pytest-agent/1.0"
    assert props["cart_size"] == 3 and props["amount"] == 10
    assert set(props["$context_tags"]) >= {"$current_url", "$request_path", "cart_size"}
    assert "$process_person_profile" not in props


def test_authenticated_user_and_settings_callable_win_over_header(
    server: RecordingServer, client: Posthog
) -> None:
    with configured(client):
        DjangoClient().get("/purchase/", headers={**TRACING, "X-User": "42"})
    with configured(
        client, POSTHOG_MW_DISTINCT_ID=lambda request: f"user-{request.headers['X-User']}"
    ):
        DjangoClient().get("/purchase/", headers={**TRACING, "X-User": "7"})
    with configured(client, POSTHOG_DJANGO={"distinct_id": lambda request: "documented"}):
        DjangoClient().get("/purchase/", headers={"X-User": "7"})
    events = events_named(server, client, "purchase", 3)
    assert sorted(e["distinct_id"] for e in events) == ["42", "documented", "user-7"]


def test_without_any_person_events_are_personless(server: RecordingServer, client: Posthog) -> None:
    with configured(client, POSTHOG_MW_CAPTURE_TRACING_HEADERS=False):
        DjangoClient().get("/purchase/", headers=TRACING)
    [event] = events_named(server, client, "purchase", 1)
    assert event["properties"]["$process_person_profile"] is False
    assert "$session_id" not in event["properties"]


def test_filter_and_extra_tags(server: RecordingServer, client: Posthog) -> None:
    with configured(
        client,
        POSTHOG_MW_REQUEST_FILTER=lambda request: "skip" not in request.GET,
        POSTHOG_MW_EXTRA_TAGS=lambda request: {"tenant": "acme"},
    ):
        DjangoClient().get("/purchase/", headers={"X-User": "1"})
        DjangoClient().get("/purchase/?skip=1", headers={"X-User": "2"})
    kept, skipped = sorted(
        events_named(server, client, "purchase", 2), key=lambda e: "tenant" not in e["properties"]
    )
    assert kept["distinct_id"] == "1" and kept["properties"]["tenant"] == "acme"
    assert "tenant" not in skipped["properties"] and "$request_path" not in skipped["properties"]
    assert skipped["properties"]["$process_person_profile"] is False  # no context at all


def test_two_concurrent_sync_requests_keep_their_own_context(
    server: RecordingServer, client: Posthog
) -> None:
    _barrier[:] = [threading.Barrier(2, timeout=5)]
    statuses: list[int] = []

    def request(user: str) -> None:
        response = DjangoClient().get(
            "/concurrent/", headers={"X-User": user, "X-POSTHOG-SESSION-ID": f"s-{user}"}
        )
        statuses.append(response.status_code)

    with configured(client):
        threads = [threading.Thread(target=request, args=(u,)) for u in ("a", "b")]
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


def test_view_exception_becomes_exception_event(server: RecordingServer, client: Posthog) -> None:
    with configured(client):
        response = DjangoClient(raise_request_exception=False).get(
            "/broken/", headers={"X-User": "u9", **TRACING}
        )
    assert response.status_code == 500
    [event] = events_named(server, client, "$exception", 1)
    assert event["distinct_id"] == "u9"
    assert event["properties"]["$session_id"] == "sess-1"
    assert event["properties"]["$exception_list"][0]["type"] == "ValueError"


def test_exception_capture_can_be_turned_off(server: RecordingServer, client: Posthog) -> None:
    with configured(client, POSTHOG_MW_CAPTURE_EXCEPTIONS=False):
        DjangoClient(raise_request_exception=False).get("/broken/")
        DjangoClient().get("/purchase/")  # a marker event: delivery did happen
    events_named(server, client, "purchase", 1)
    assert [e["event"] for e in server.events()] == ["purchase"]


def test_async_stack_context_and_concurrency(server: RecordingServer, client: Posthog) -> None:
    built: list[bool] = []

    class Probe(PosthogContextMiddleware):
        def __init__(self, get_response: Any) -> None:
            super().__init__(get_response)
            built.append(self._is_async)

    global AsyncProbe
    AsyncProbe = Probe

    async def run() -> list[int]:
        with configured(client, MIDDLEWARE=[f"{__name__}.AsyncProbe"]):
            browser = AsyncClient(raise_request_exception=False)
            responses = await asyncio.gather(
                *(
                    browser.get(
                        "/apurchase/",
                        headers={"X-POSTHOG-DISTINCT-ID": u, "X-POSTHOG-SESSION-ID": f"s-{u}"},
                    )
                    for u in ("p1", "p2", "p3")
                ),
                browser.get("/abroken/", headers={"X-POSTHOG-DISTINCT-ID": "p4"}),
            )
            return [r.status_code for r in responses]

    assert asyncio.run(run()) == [200, 200, 200, 500]
    assert built and all(built)  # Django built the middleware for its async path
    events = events_named(server, client, "async purchase", 3)
    assert sorted((e["distinct_id"], e["properties"]["$session_id"]) for e in events) == [
        ("p1", "s-p1"),
        ("p2", "s-p2"),
        ("p3", "s-p3"),
    ]
    [error] = events_named(server, client, "$exception", 1)
    assert error["distinct_id"] == "p4"
    assert error["properties"]["$request_path"] == "/abroken/"


AsyncProbe: Any = None


def anonymous_distinct_id_failures(caplog: Any, client: Posthog, **setting: Any) -> list[Any]:
    """Five anonymous requests with a distinct id callable that fails for them."""
    with caplog.at_level(logging.DEBUG, logger="posthog"), configured(client, **setting):
        for _ in range(5):
            assert DjangoClient().get("/purchase/").status_code == 200
    return [r for r in caplog.records if "raised" in r.getMessage()]


def test_documented_distinct_id_setting_failing_for_anonymous_users_warns_once(
    server: RecordingServer, client: Posthog, caplog: Any
) -> None:
    # The documented setting; an anonymous user has no ``distinct_id``.
    records = anonymous_distinct_id_failures(
        caplog, client, POSTHOG_DJANGO={"distinct_id": lambda request: request.user.distinct_id}
    )
    assert len(records) == 5  # every failure is still logged...
    warnings = [r for r in records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1  # ...but only the first one as a warning
    message = warnings[0].getMessage()
    assert "POSTHOG_DJANGO['distinct_id']" in message and "POSTHOG_MW_DISTINCT_ID" not in message
    assert len(events_named(server, client, "purchase", 5)) == 5  # the requests still count


def test_mw_distinct_id_setting_failure_names_that_setting(
    server: RecordingServer, client: Posthog, caplog: Any
) -> None:
    records = anonymous_distinct_id_failures(
        caplog, client, POSTHOG_MW_DISTINCT_ID=lambda request: request.user.missing
    )
    warnings = [r for r in records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "POSTHOG_MW_DISTINCT_ID" in warnings[0].getMessage()


# -- email, $raw_user_agent and the properties map -----------------------------------------
def test_email_tag_only_for_an_authenticated_user_with_a_readable_email(
    server: RecordingServer, client: Posthog
) -> None:
    requests = {
        "with-email": {"X-User": "e1", "X-Email": "ada@example.com"},
        "empty-email": {"X-User": "e2", "X-Email": ""},
        "no-email-attribute": {"X-User": "e3"},
        "anonymous": {"X-Email": "anon@example.com"},  # is_authenticated is False
        "unreadable-email": {"X-Email": "!"},
    }
    with configured(client, POSTHOG_MW_EXTRA_TAGS=lambda request: {"case": request.GET["case"]}):
        for case, headers in requests.items():
            response = DjangoClient().get(f"/purchase/?case={case}", headers=headers)
            assert response.status_code == 200  # reading the user never breaks the request
    events = events_named(server, client, "purchase", len(requests))
    emails = {e["properties"]["case"]: e["properties"].get("email") for e in events}
    assert emails == {case: None for case in requests} | {"with-email": "ada@example.com"}
    persons = {e["properties"]["case"]: e["distinct_id"] for e in events}
    assert persons["unreadable-email"] == "unreadable"  # its pk is still the person


def test_raw_user_agent_is_the_header_as_sent_next_to_user_agent(
    server: RecordingServer, client: Posthog
) -> None:
    agent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    with configured(client):
        DjangoClient().get("/purchase/", headers={"User-Agent": agent})
        DjangoClient().get("/purchase/", headers={"User-Agent": ""})
    sent, empty = sorted(
        events_named(server, client, "purchase", 2),
        key=lambda e: "$user_agent" not in e["properties"],
    )
    assert sent["properties"]["$raw_user_agent"] == sent["properties"]["$user_agent"] == agent
    assert "$raw_user_agent" in sent["properties"]["$context_tags"]
    assert "$raw_user_agent" not in empty["properties"] and "$user_agent" not in empty["properties"]


def rename_and_drop(tags: dict[str, Any]) -> dict[str, Any]:
    """A map that shows what it was given, drops ``$ip`` and renames ``tenant``."""
    kept = {k: v for k, v in tags.items() if k not in ("$ip", "tenant")}
    return {**kept, "organisation": tags["tenant"], "map_saw": sorted(tags)}


def test_properties_map_sees_the_final_tags_and_its_result_is_applied(
    server: RecordingServer, client: Posthog
) -> None:
    with configured(
        client,
        POSTHOG_MW_EXTRA_PROPERTIES=lambda request: {"tenant": "acme", "email": "extra@wins"},
        POSTHOG_MW_PROPERTIES_MAP=rename_and_drop,
    ):
        DjangoClient().get(
            "/purchase/", headers={**TRACING, "X-User": "m1", "X-Email": "user@example.com"}
        )
    [event] = events_named(server, client, "purchase", 1)
    props = event["properties"]
    request_tags = ["$current_url", "$request_method", "$request_path", "$ip", "$user_agent"]
    assert props["map_saw"] == sorted([*request_tags, "$raw_user_agent", "email", "tenant"])
    assert props["email"] == "extra@wins"  # extra tags come after the request's own
    assert props["organisation"] == "acme" and "tenant" not in props and "$ip" not in props
    assert props["$raw_user_agent"] == "pytest-agent/1.0"
    assert props["cart_size"] == 3  # tags the view adds later are not the map's business
    assert event["distinct_id"] == "m1" and props["$session_id"] == "sess-1"


def test_tag_map_alias_and_the_new_name_winning(server: RecordingServer, client: Posthog) -> None:
    with configured(client, POSTHOG_MW_TAG_MAP=lambda tags: {"mapped_by": "alias"}):
        DjangoClient().get("/purchase/")
    with configured(
        client,
        POSTHOG_MW_TAG_MAP=lambda tags: {"mapped_by": "alias"},
        POSTHOG_MW_PROPERTIES_MAP=lambda tags: {"mapped_by": "new name"},
    ):
        DjangoClient().get("/purchase/")
    events = events_named(server, client, "purchase", 2)
    assert sorted(e["properties"]["mapped_by"] for e in events) == ["alias", "new name"]
    assert all("$request_path" not in e["properties"] for e in events)  # the map's dict only


def test_extra_properties_is_the_name_that_wins_over_its_alias(
    server: RecordingServer, client: Posthog
) -> None:
    with configured(
        client,
        POSTHOG_MW_EXTRA_TAGS=lambda request: {"extra_by": "alias"},
        # any mapping, as the Flask and ASGI integrations take (not only a dict)
        POSTHOG_MW_EXTRA_PROPERTIES=lambda request: MappingProxyType({"extra_by": "new name"}),
    ):
        DjangoClient().get("/purchase/")
    [event] = events_named(server, client, "purchase", 1)
    assert event["properties"]["extra_by"] == "new name"


def test_failing_or_non_dict_properties_map_keeps_the_tags_and_warns_once(
    server: RecordingServer, client: Posthog, caplog: Any
) -> None:
    def raises(tags: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("tenant")

    for setting, hook in (("POSTHOG_MW_PROPERTIES_MAP", raises), ("POSTHOG_MW_TAG_MAP", list)):
        caplog.clear()
        with (
            caplog.at_level(logging.DEBUG, logger="posthog"),
            configured(client, **{setting: hook}),
        ):
            browser = DjangoClient()  # one middleware instance, as in a server process
            for _ in range(3):
                assert browser.get("/purchase/", headers=TRACING).status_code == 200
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and setting in warnings[0].getMessage()
    events = events_named(server, client, "purchase", 6)
    assert all(e["properties"]["$request_path"] == "/purchase/" for e in events)
    assert all(e["properties"]["$raw_user_agent"] == "pytest-agent/1.0" for e in events)


@pytest.mark.parametrize("hooked", [False, True])
def test_real_auth_email_on_sync_and_async_stacks(
    server: RecordingServer, client: Posthog, hooked: bool
) -> None:
    """Real sessions + auth on SQLite: on the async stack ``request.user`` is a database
    lookup Django refuses on the event loop, so the email comes from ``auser()``, or,
    with a distinct id hook (which reads ``request.user`` too), from the thread the hook
    runs in."""
    from django.contrib.auth.models import User

    django_database()
    user, _ = User.objects.get_or_create(username="grace", defaults={"email": "grace@example.com"})
    login = DjangoClient()
    login.force_login(user)
    real_auth = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        MIDDLEWARE,
    ]
    hook = {"POSTHOG_MW_DISTINCT_ID": lambda request: request.user.username} if hooked else {}
    with configured(
        client,
        MIDDLEWARE=real_auth,
        POSTHOG_MW_TAG_MAP=lambda tags: {**tags, "mapped": True},
        **hook,
    ):
        assert login.get("/purchase/").status_code == 200

        async def run() -> int:
            browser = AsyncClient()
            browser.cookies = login.cookies
            return (await browser.get("/apurchase/")).status_code

        assert asyncio.run(run()) == 200
    events = events_named(server, client, "purchase", 1) + events_named(
        server, client, "async purchase", 1
    )
    assert [e["properties"]["email"] for e in events] == ["grace@example.com"] * 2
    assert [e["distinct_id"] for e in events] == ["grace" if hooked else str(user.pk)] * 2
    assert all(e["properties"]["mapped"] is True for e in events)
