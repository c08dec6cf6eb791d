"""Routing, authentication and the ingestion endpoints.

``App.handle`` turns any :class:`Request` into a :class:`Response` and never raises:
problems the client can fix become 4xx JSON naming them, anything else a logged 500.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from importlib import resources

from . import api, flag_routes, writer
from .errors import HttpError, bad_request, not_found, unauthorized
from .flags import FlagSource
from .ingest import (
    IncomingEvent,
    api_key_of,
    decode_body,
    parse_events,
    parse_events_v1,
    parse_payload,
    query_data,
)
from .store import Store
from .web import Request, Response, json_response

log = logging.getLogger("posthog_devserver")

CAPTURE_PATHS = {"/batch", "/capture", "/e", "/i/v0/e", "/track", "/i/v0/ai/batch", "/s"}
CAPTURE_V1_PATH = "/i/v1/analytics/events"
REMOTE_CONFIG = re.compile(r"^/api/projects/[^/]+/feature_flags/(?P<key>[^/]+)/remote_config$")
STATIC_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Content-Encoding, Authorization, "
    "If-None-Match, PostHog-Attempt, PostHog-Request-Id, PostHog-Request-Timestamp, "
    "PostHog-Sdk-Info",
}
SECURITY = {
    "Content-Security-Policy": "default-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Route = Callable[[Request], Response]


class App:
    """The dev server's behaviour, independent of sockets."""

    def __init__(
        self,
        store: Store,
        flags: FlagSource,
        project_api_key: str | None = None,
        personal_api_key: str | None = None,
    ) -> None:
        self.store = store
        self.flags = flags
        self.project_api_key = project_api_key
        self.personal_api_key = personal_api_key
        self.writer_state = writer.WriterState()
        store.rollback_hooks.append(self.writer_state.reset)
        self._routes: dict[tuple[str, str], Route] = {
            ("POST", CAPTURE_V1_PATH): self.capture_v1,
            ("POST", "/flags"): functools.partial(flag_routes.flags, self),
            ("POST", "/decide"): functools.partial(flag_routes.decide, self),
            ("GET", "/flags/definitions"): functools.partial(flag_routes.definitions, self),
            ("GET", "/api/feature_flag/local_evaluation"): functools.partial(
                flag_routes.definitions, self
            ),
            ("POST", "/api/flags/evaluate"): functools.partial(flag_routes.evaluate_api, self),
            ("GET", "/api/flags"): functools.partial(flag_routes.list_flags, self),
            ("GET", "/_health"): lambda _req: json_response({"status": "ok"}),
        }
        for path in CAPTURE_PATHS:
            self._routes[("POST", path)] = self.capture
            self._routes[("GET", path)] = self.capture
        for path, route in api.routes(store).items():
            self._routes[("GET", path)] = route

    # -- dispatch -------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        try:
            response = self._dispatch(request)
        except HttpError as exc:
            response = json_response(exc.body(), exc.status)
        except Exception:
            log.exception("error while serving %s %s", request.method, request.path)
            response = json_response(
                {"type": "server_error", "code": "error", "detail": "Internal server error."},
                500,
            )
        if not request.path.startswith("/api/") or request.path.startswith("/api/projects/"):
            response.headers = {**CORS, **response.headers}
        return response

    def _dispatch(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if request.method == "OPTIONS":
            return Response(204)
        method = "GET" if request.method == "HEAD" else request.method
        route = self._routes.get((method, path))
        if route is not None:
            return route(request)
        match = REMOTE_CONFIG.match(path)
        if match and method == "GET":
            return flag_routes.remote_config(self, request, match.group("key"))
        if method == "GET" and request.path in STATIC_FILES:
            return _static(request.path)
        if any(p == path for (_, p) in self._routes):
            raise HttpError(405, "method_not_allowed", f"{request.method} is not allowed here.")
        raise not_found(f"No route for {request.method} {request.path}.")

    # -- keys -----------------------------------------------------------------------------

    def check_project_key(self, key: str | None) -> str:
        """The project a request belongs to; any key unless one was configured."""
        if not key:
            raise bad_request(
                "missing_api_key",
                "API key not provided: send 'api_key' (or 'token') in the body.",
                "api_key",
            )
        if self.project_api_key is not None and key != self.project_api_key:
            raise unauthorized("invalid_api_key", "Project API key invalid.")
        return key

    def check_personal_key(self, request: Request) -> str:
        key = request.bearer()
        if not key:
            raise unauthorized(
                "not_authenticated",
                "Authentication credentials were not provided: send 'Authorization: Bearer"
                " <personal API key>'.",
            )
        if self.personal_api_key is not None and key != self.personal_api_key:
            raise unauthorized("authentication_failed", "Personal API key invalid.")
        return key

    # -- ingestion ------------------------------------------------------------------------

    def capture(self, request: Request) -> Response:
        if request.method == "GET":  # ``?data=<JSON or base64 JSON>``, as a browser sends
            body, encoding, content_type = query_data(request.raw_query), "", ""
        else:
            body = request.body
            encoding, content_type = (
                request.header("content-encoding"),
                request.header("content-type"),
            )
        data = decode_body(body, encoding, request.query.get("compression", ""))
        payload = parse_payload(data, content_type)
        query_key = request.query.get("token") or request.query.get("api_key")
        project = self.check_project_key(api_key_of(payload.value, request.bearer(), query_key))
        events = parse_events(payload.value, encode=payload.encode)
        self._store(project, events)
        return json_response({"status": 1})

    def capture_v1(self, request: Request) -> Response:
        bearer = request.bearer()
        if not bearer:
            raise bad_request(
                "missing_api_key", "API key not provided: send 'Authorization: Bearer <key>'."
            )
        project = self.check_project_key(bearer)
        data = decode_body(request.body, request.header("content-encoding"))
        payload = parse_payload(data, request.header("content-type"))
        events = parse_events_v1(payload.value, encode=payload.encode)
        self._store(project, events)
        return json_response({"results": {e.uuid: {"result": "ok"} for e in events}})

    def _store(self, project: str, events: list[IncomingEvent]) -> None:
        """Queue the events for the writer; queries made afterwards will see them."""
        self.store.submit(
            functools.partial(
                writer.ingest, state=self.writer_state, project=project, events=events
            )
        )


@functools.cache
def _static_bytes(name: str) -> bytes:
    return (resources.files("posthog_devserver") / "static" / name).read_bytes()


def _static(path: str) -> Response:
    name, content_type = STATIC_FILES[path]
    return Response(200, _static_bytes(name), content_type, dict(SECURITY))
