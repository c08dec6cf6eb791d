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

When the scope has an authenticated ``scope["user"]`` with a non-empty string ``email``
(Starlette's ``AuthenticationMiddleware`` sets ``scope["user"]``; the app's own user
class decides whether it has an email), events carry it as the ``email`` tag; a user
that cannot be read adds nothing. The user is read when the request's context opens, so
this middleware must run *inside* ``AuthenticationMiddleware``: add it before it
(``add_middleware`` puts each new middleware outside the ones already added)::

    app.add_middleware(PosthogASGIMiddleware, client=client)
    app.add_middleware(AuthenticationMiddleware, backend=MyBackend())

or list it after it in ``Starlette(middleware=[Middleware(AuthenticationMiddleware,
...), Middleware(PosthogASGIMiddleware, ...)])``. Outside it, requests work the same
and events just have no ``email``. Tags from ``extra_properties`` win over ``email``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from posthog.integrations._common import (
    RequestInfo,
    as_distinct_id,
    authenticated_email,
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
    """An ASGI ``http``/``websocket`` scope as the framework-neutral :class:`RequestInfo`.

    The URL is the one the framework itself reports (Starlette's ``request.url``): the
    ASGI spec puts the full path, ``root_path`` included, in ``scope["path"]`` (so do
    Starlette's ``Mount`` and servers such as uvicorn given ``--root-path``), so
    ``root_path`` is never prepended; it would double the prefix.
    """
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers") or ():
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    scheme = scope.get("scheme") or ("ws" if scope.get("type") == "websocket" else "http")
    client = scope.get("client")
    query = scope.get("query_string") or b""
    return RequestInfo(
        method=scope.get("method") or ("WEBSOCKET" if scope.get("type") == "websocket" else "GET"),
        path=scope.get("path") or "/",
        scheme=scheme,
        host=headers.get("host") or _server_host(scope.get("server"), scheme),
        query_string=query.decode("latin-1") if isinstance(query, bytes) else str(query),
        headers=headers,
        remote_addr=client[0] if client else None,
    )


_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _server_host(server: Any, scheme: str) -> str:
    """``host[:port]`` from ``scope["server"]`` when there is no Host header: the port is
    left out when it is the scheme's default, an IPv6 address is bracketed."""
    if not server:
        return ""
    host, port = str(server[0]), server[1] if len(server) > 1 else None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"


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
        person = call_setting(self.distinct_id, scope, what="distinct_id")
        with request_context(
            request_info(scope),
            client=self.client,
            capture_tracing_headers=self.capture_tracing_headers,
            distinct_id=as_distinct_id(person),
            email=authenticated_email(scope.get("user")),
            extra_properties=call_setting(self.extra_properties, scope, what="extra_properties"),
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
