"""Streamed responses keep the request's context while their body is produced.

Django (``StreamingHttpResponse`` over a sync generator or an async iterator, through the
WSGI test client and Django's real ASGI handler) and Flask (a generator, with and without
``stream_with_context``): events captured by the body carry the request's person, session
and properties; the context is gone once the response is closed; a client going away
closes the body inside the context; an error raised by the body is one ``$exception``;
two concurrent streams never see each other's context.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import flask
import pytest
from django.http import HttpRequest, StreamingHttpResponse
from django.test import AsyncClient, override_settings
from django.test import Client as DjangoClient
from django.urls import path
from integration_support import TRACING, configure_django, events_named

import posthog
from posthog import Posthog
from posthog.contexts import current_scope
from posthog.integrations.flask import PosthogFlask
from support.recording_server import RecordingServer

configure_django()

_barrier: list[threading.Barrier] = []
_never = asyncio.Event  # an event nobody sets: an LLM that never sends its next token
_SYNC_FOR_ASYNC = "consume synchronous iterators in order to serve them asynchronously"
_ASYNC_FOR_SYNC = "consume asynchronous iterators in order to serve them synchronously"


def _steps(name: str) -> Iterator[bytes]:
    """A body capturing before its first chunk, between chunks and after its last one."""
    posthog.capture(f"{name} start")
    yield b"a"
    posthog.tag("chunks", 1)
    yield b"b"
    posthog.capture(f"{name} end")


def _aborted(name: str) -> Iterator[bytes]:
    try:
        yield b"a"
        yield b"b"
    finally:
        posthog.capture(f"{name} closed")


def stream(request: HttpRequest) -> StreamingHttpResponse:
    posthog.tag("view_tag", "v")
    return StreamingHttpResponse(_steps("django"))


def astream(request: HttpRequest) -> StreamingHttpResponse:
    async def body() -> AsyncIterator[bytes]:
        posthog.capture("django async start")
        await asyncio.sleep(0)
        yield b"a"
        posthog.capture("django async end")

    return StreamingHttpResponse(body())


def astream_hangs(request: HttpRequest) -> StreamingHttpResponse:
    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"first token"
            await _never().wait()
            yield b"never"
        finally:
            posthog.capture("django async closed")

    return StreamingHttpResponse(body())


def aborted(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(_aborted("django"))


def stream_error(request: HttpRequest) -> StreamingHttpResponse:
    def body() -> Iterator[bytes]:
        yield b"a"
        raise ValueError("stream broke")

    return StreamingHttpResponse(body())


def concurrent(request: HttpRequest) -> StreamingHttpResponse:
    def body() -> Iterator[bytes]:
        yield b"a"
        _barrier[0].wait()  # both bodies are between chunks at the same time
        posthog.capture("django concurrent")
        yield b"b"

    return StreamingHttpResponse(body())


urlpatterns = [
    path("stream/", stream),
    path("astream/", astream),
    path("astream-hangs/", astream_hangs),
    path("aborted/", aborted),
    path("error/", stream_error),
    path("concurrent/", concurrent),
]


def django_settings(client: Posthog, **extra: Any) -> override_settings:
    posthog.default_client = client  # the bodies use the documented module-level API
    return override_settings(
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["posthog.integrations.django.PosthogContextMiddleware"],
        POSTHOG_MW_CLIENT=client,
        **extra,
    )


def assert_request_context(event: dict[str, Any], path: str, person: str = "browser-person"):
    props = event["properties"]
    assert event["distinct_id"] == person, event
    assert props["$session_id"] == "sess-1"
    assert props["$request_path"] == path
    assert props["$current_url"] == f"http://testserver{path}"


def assert_no_context_left(server: RecordingServer, client: Posthog) -> None:
    assert posthog.get_tags() == {} and current_scope() is None
    client.capture("after the response")
    [after] = events_named(server, client, "after the response", 1)
    assert after["properties"]["$process_person_profile"] is False
    assert "$session_id" not in after["properties"]


def two_people_at_once(request: Callable[[dict[str, str]], bytes]) -> list[bytes]:
    """Persons ``a`` and ``b`` request at once (each in a thread); their response bodies."""
    bodies: list[bytes] = []

    def call(person: str) -> None:
        bodies.append(
            request({"X-POSTHOG-DISTINCT-ID": person, "X-POSTHOG-SESSION-ID": f"s-{person}"})
        )

    threads = [threading.Thread(target=call, args=(p,)) for p in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return bodies


def assert_own_contexts(events: list[dict[str, Any]]) -> None:
    pairs = sorted((e["distinct_id"], e["properties"]["$session_id"]) for e in events)
    assert pairs == [("a", "s-a"), ("b", "s-b")]


def asgi_get(path: str, headers: dict[str, str], disconnect_after_first_chunk: bool = False):
    """One GET through Django's real ASGI handler; returns the body parts it sent."""
    from django.core.handlers.asgi import ASGIHandler

    async def run() -> list[bytes]:
        sent: list[bytes] = []
        gone = asyncio.Event()
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                sent.append(message["body"])
                if disconnect_after_first_chunk:
                    gone.set()

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
            + [(b"host", b"testserver")],
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
        }
        await asyncio.wait_for(ASGIHandler()(scope, receive, send), 5)
        return sent

    return asyncio.run(run())


# -- Django ---------------------------------------------------------------------------------
def test_django_sync_stream_keeps_request_context(server: RecordingServer, client: Posthog):
    with django_settings(client):
        response = DjangoClient().get("/stream/", headers=TRACING)
        assert posthog.get_tags() == {}  # not while the server holds the response
        assert b"".join(response.streaming_content) == b"ab"
    start, end = events_named(server, client, "django start", 1) + events_named(
        server, client, "django end", 1
    )
    for event in (start, end):
        assert_request_context(event, "/stream/")
        assert event["properties"]["view_tag"] == "v"
    assert end["properties"]["chunks"] == 1  # a tag set by the body, seen by its next step
    assert_no_context_left(server, client)


def test_django_async_iterator_through_asgi_and_wsgi(server: RecordingServer, client: Posthog):
    with django_settings(client):
        assert asgi_get("/astream/", TRACING) == [b"a"]
        response = DjangoClient().get("/astream/", headers=TRACING)
        with pytest.warns(Warning, match=_ASYNC_FOR_SYNC):  # Django's notice, not ours
            assert b"".join(response) == b"a"
    events = events_named(server, client, "django async start", 2)
    events += events_named(server, client, "django async end", 2)
    for event in events:
        assert_request_context(event, "/astream/")
    assert_no_context_left(server, client)


def test_django_sync_stream_through_asgi_and_async_client(
    server: RecordingServer, client: Posthog
) -> None:
    async def through_async_client() -> bytes:
        response = await AsyncClient().get("/stream/", headers=TRACING)
        return b"".join(response.streaming_content)

    with django_settings(client):
        with pytest.warns(Warning, match=_SYNC_FOR_ASYNC):  # Django's notice, not ours
            assert asgi_get("/stream/", TRACING) == [b"a", b"b"]
        assert asyncio.run(through_async_client()) == b"ab"
    for event in events_named(server, client, "django end", 2):
        assert_request_context(event, "/stream/")
        assert event["properties"]["view_tag"] == "v" and event["properties"]["chunks"] == 1
    assert_no_context_left(server, client)


def test_django_client_gone_closes_the_body_in_context(
    server: RecordingServer, client: Posthog
) -> None:
    with django_settings(client):
        response = DjangoClient().get("/aborted/", headers=TRACING)
        assert next(iter(response.streaming_content)) == b"a"
        response.close()  # what the WSGI server does when the client went away
        response.close()  # and again: harmless
        assert asgi_get("/astream-hangs/", TRACING, disconnect_after_first_chunk=True) == [
            b"first token"
        ]
    [closed] = events_named(server, client, "django closed", 1)
    assert_request_context(closed, "/aborted/")
    [aclosed] = events_named(server, client, "django async closed", 1)
    assert_request_context(aclosed, "/astream-hangs/")
    assert_no_context_left(server, client)


def test_django_stream_error_is_one_exception_event(
    server: RecordingServer, client: Posthog
) -> None:
    with django_settings(client):
        response = DjangoClient().get("/error/", headers=TRACING)
        with pytest.raises(ValueError, match="stream broke"):
            b"".join(response.streaming_content)
        response.close()
    with django_settings(client, POSTHOG_MW_CAPTURE_EXCEPTIONS=False):
        response = DjangoClient().get("/error/", headers={"X-POSTHOG-DISTINCT-ID": "off"})
        with pytest.raises(ValueError, match="stream broke"):
            b"".join(response.streaming_content)
    [error] = events_named(server, client, "$exception", 1)
    assert_request_context(error, "/error/")
    assert error["properties"]["$exception_list"][0]["type"] == "ValueError"
    assert error["properties"]["$exception_source"] == "django.middleware"
    assert_no_context_left(server, client)  # flushed after both requests: still one
    assert [e["event"] for e in server.events()].count("$exception") == 1


def test_django_concurrent_streams_keep_their_own_context(
    server: RecordingServer, client: Posthog
) -> None:
    _barrier[:] = [threading.Barrier(2, timeout=5)]

    def request(headers: dict[str, str]) -> bytes:
        response = DjangoClient().get("/concurrent/", headers=headers)
        return b"".join(response.streaming_content)

    with django_settings(client):
        assert two_people_at_once(request) == [b"ab", b"ab"]
    assert_own_contexts(events_named(server, client, "django concurrent", 2))


# -- Flask ----------------------------------------------------------------------------------
def flask_app(client: Posthog, **options: Any) -> flask.Flask:
    app = flask.Flask(__name__)
    barrier = threading.Barrier(2, timeout=5)

    @app.get("/stream")
    def plain() -> Any:
        posthog.tag("view_tag", "v")
        return _steps("flask")  # a generator returned as the response

    @app.get("/with-context")
    def with_context() -> flask.Response:
        @flask.stream_with_context
        def body() -> Iterator[str]:
            posthog.capture("flask swc", properties={"arg": flask.request.args["q"]})
            yield "a"

        return flask.Response(body())

    @app.get("/torn-down-by-the-body")
    def torn_down_by_the_body() -> flask.Response:
        # stream_with_context as Flask had it before 3.1: the request context is pushed
        # again from the view, so the request is torn down when the body ends, in its
        # last step (Flask 2.3 and 3.0 are supported).
        request_context = flask.globals.request_ctx._get_current_object()
        request_context.push()

        def body() -> Iterator[str]:
            try:
                yield from _steps("flask pushed")
            finally:
                request_context.pop()

        return flask.Response(body())

    @app.get("/nested")
    def nested() -> flask.Response:
        def body() -> Iterator[str]:
            with posthog.new_context():  # spans a yield
                posthog.tag("inner", "yes")
                yield "a"
                posthog.capture("flask nested")
            posthog.capture("flask after nested")
            yield "b"

        return flask.Response(body())

    @app.get("/aborted")
    def aborted() -> flask.Response:
        return flask.Response(_aborted("flask"))

    @app.get("/error")
    def error() -> flask.Response:
        def body() -> Iterator[str]:
            yield "a"
            raise KeyError("stream broke")

        return flask.Response(body())

    @app.get("/concurrent")
    def concurrent() -> flask.Response:
        def body() -> Iterator[str]:
            yield "a"
            barrier.wait()
            posthog.capture("flask concurrent")
            yield "b"

        return flask.Response(body())

    posthog.default_client = client
    PosthogFlask(app, client=client, **options)
    return app


def assert_flask_context(event: dict[str, Any], path: str) -> None:
    props = event["properties"]
    assert event["distinct_id"] == "browser-person", event
    assert props["$session_id"] == "sess-1" and props["$request_path"] == path


def test_flask_streams_keep_request_context(server: RecordingServer, client: Posthog) -> None:
    browser = flask_app(client).test_client()
    assert browser.get("/stream", headers=TRACING).get_data() == b"ab"
    assert browser.get("/with-context?q=1", headers=TRACING).get_data() == b"a"
    start, end = events_named(server, client, "flask start", 1) + events_named(
        server, client, "flask end", 1
    )
    for event in (start, end):
        assert_flask_context(event, "/stream")
        assert event["properties"]["view_tag"] == "v"
    assert end["properties"]["chunks"] == 1
    [swc] = events_named(server, client, "flask swc", 1)
    assert_flask_context(swc, "/with-context")
    assert swc["properties"]["arg"] == "1"  # Flask's own request context is still there
    assert_no_context_left(server, client)


def test_flask_body_scope_spanning_a_yield_is_kept_to_its_end(
    server: RecordingServer, client: Posthog
) -> None:
    browser = flask_app(client).test_client()
    assert browser.get("/nested", headers=TRACING).get_data() == b"ab"
    [inner] = events_named(server, client, "flask nested", 1)
    [outer] = events_named(server, client, "flask after nested", 1)
    assert inner["properties"]["inner"] == "yes" and "inner" not in outer["properties"]
    for event in (inner, outer):
        assert_flask_context(event, "/nested")  # the body's scope is a child of the request's
    assert_no_context_left(server, client)


def test_flask_request_torn_down_by_its_body_leaves_no_context(
    server: RecordingServer, client: Posthog
) -> None:
    browser = flask_app(client).test_client()
    assert browser.get("/torn-down-by-the-body", headers=TRACING).get_data() == b"ab"
    [end] = events_named(server, client, "flask pushed end", 1)
    assert_flask_context(end, "/torn-down-by-the-body")
    assert_no_context_left(server, client)


def test_flask_client_gone_closes_the_body_in_context(
    server: RecordingServer, client: Posthog
) -> None:
    response = flask_app(client).test_client().get("/aborted", headers=TRACING, buffered=False)
    assert next(iter(response.response)) == b"a"
    response.close()  # the server closes the app's iterable when the client went away
    [closed] = events_named(server, client, "flask closed", 1)
    assert_flask_context(closed, "/aborted")
    assert_no_context_left(server, client)


def test_flask_stream_error_is_one_exception_event(
    server: RecordingServer, client: Posthog
) -> None:
    with pytest.raises(KeyError, match="stream broke"):
        flask_app(client).test_client().get("/error", headers=TRACING).get_data()
    quiet = flask_app(client, capture_exceptions=False).test_client()
    with pytest.raises(KeyError, match="stream broke"):
        quiet.get("/error", headers=TRACING).get_data()
    [error] = events_named(server, client, "$exception", 1)
    assert_flask_context(error, "/error")
    assert error["properties"]["$exception_source"] == "flask"
    assert_no_context_left(server, client)
    assert [e["event"] for e in server.events()].count("$exception") == 1


def test_flask_concurrent_streams_keep_their_own_context(
    server: RecordingServer, client: Posthog
) -> None:
    app = flask_app(client)

    def request(headers: dict[str, str]) -> bytes:
        return app.test_client().get("/concurrent", headers=headers).get_data()

    assert two_people_at_once(request) == [b"ab", b"ab"]
    assert_own_contexts(events_named(server, client, "flask concurrent", 2))
