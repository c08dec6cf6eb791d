"""ASGI (FastAPI, Starlette, any ASGI app): one PostHog context per request.

Pure ASGI rather than Starlette's ``BaseHTTPMiddleware``, so the context set here is the
one the endpoint runs in (``BaseHTTPMiddleware`` runs the app in another task)::

    from posthog.integrations.asgi import PosthogASGIMiddleware

    app = FastAPI()
    app.add_middleware(PosthogASGIMiddleware, client=client)

HTTP and websocket scopes get a context with the tracing headers and request properties;
other scopes (``lifespan``) pass through untouched. An exception escaping the app becomes
an ``$exception`` event (source ``asgi``) when ``capture_exceptions`` is on, then
propagates unchanged.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from posthog.integrations._common import (
    RequestInfo,
    as_distinct_id,
    call_setting,
    capture_exception,
    request_context,
    resolve_client,
)

__all__ = ["PosthogASGIMiddleware", "request_info"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def request_info(scope: Mapping[str, Any]) -> RequestInfo:
    """An ASGI ``http``/``websocket`` scope as the framework-neutral :class:`RequestInfo`."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers") or ():
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    scheme = scope.get("scheme") or ("ws" if scope.get("type") == "websocket" else "http")
    host = headers.get("host", "")
    if not host and scope.get("server"):
        server_host, port = scope["server"][0], scope["server"][1]
        host = f"{server_host}:{port}" if port else str(server_host)
    client = scope.get("client")
    query = scope.get("query_string") or b""
    return RequestInfo(
        method=scope.get("method") or ("WEBSOCKET" if scope.get("type") == "websocket" else "GET"),
        path=scope.get("root_path", "") + scope.get("path", ""),
        scheme=scheme,
        host=host,
        query_string=query.decode("latin-1") if isinstance(query, bytes) else str(query),
        headers=headers,
        remote_addr=client[0] if client else None,
    )


class PosthogASGIMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        client: Any = None,
        capture_exceptions: bool | None = None,
        request_filter: Callable[[Scope], bool] | None = None,
        extra_properties: Callable[[Scope], Mapping[str, Any]] | None = None,
        capture_tracing_headers: bool = True,
        distinct_id: Callable[[Scope], Any] | None = None,
    ) -> None:
        self.app = app
        self.client = client
        self.capture_exceptions = True if capture_exceptions is None else capture_exceptions
        self.request_filter = request_filter
        self.extra_properties = extra_properties
        self.capture_tracing_headers = capture_tracing_headers
        self.distinct_id = distinct_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") not in ("http", "websocket") or not self._wanted(scope):
            await self.app(scope, receive, send)
            return
        extra = call_setting(self.extra_properties, scope, what="extra_properties")
        person = call_setting(self.distinct_id, scope, what="distinct_id")
        with request_context(
            request_info(scope),
            client=self.client,
            capture_tracing_headers=self.capture_tracing_headers,
            distinct_id=as_distinct_id(person),
            extra_properties=extra if isinstance(extra, Mapping) else None,
        ):
            try:
                await self.app(scope, receive, send)
            except Exception as exc:
                if self.capture_exceptions:
                    capture_exception(resolve_client(self.client), exc, "asgi")
                raise

    def _wanted(self, scope: Scope) -> bool:
        if self.request_filter is None:
            return True
        return call_setting(self.request_filter, scope, what="request_filter") is not False
