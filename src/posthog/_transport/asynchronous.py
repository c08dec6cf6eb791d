"""Async transports: httpx (the ``async`` extra) or a sync ``Transport`` run in a thread.

With the sync transports beside it, this is the only code that knows
the HTTP library. An ``httpx.AsyncClient`` belongs to the event loop it was first used
on, so one is kept per loop; a client used under several ``asyncio.run()`` calls gets a
fresh one for each.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol, runtime_checkable

from posthog._transport.base import (
    Request,
    Response,
    Transport,
    as_transport_error,
    was_refused,
)
from posthog.exceptions import RequestTimeoutError, TransportError

__all__ = ["AsyncTransport", "HTTPXTransport", "ThreadedTransport", "default_transport"]


@runtime_checkable
class AsyncTransport(Protocol):
    async def request(self, request: Request) -> Response:
        """Send one request; raise ``TransportError`` (or a subclass) if it cannot complete."""
        ...

    async def aclose(self) -> None: ...


class HTTPXTransport:
    """``httpx.AsyncClient`` per event loop; errors mapped to ``posthog.exceptions``."""

    def __init__(
        self, *, proxy: str | None = None, ca_bundle: str | None = None, max_connections: int = 16
    ) -> None:
        try:  # the optional 'async' extra; imported only when an async client is built
            import httpx
        except ImportError as exc:
            raise ImportError(
                "AsyncPosthog sends with httpx, which is not installed: "
                "pip install 'hogwire[async]' (or pass transport=)"
            ) from exc

        self._httpx = httpx
        self._options: dict[str, Any] = {
            "limits": httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            "follow_redirects": False,
        }
        if proxy:
            self._options["proxy"] = proxy
        if ca_bundle:
            self._options["verify"] = ca_bundle
        self._max = max_connections
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._slots = asyncio.Semaphore(max_connections)

    def _for_loop(self) -> tuple[Any, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = self._httpx.AsyncClient(**self._options)
            self._slots = asyncio.Semaphore(self._max)
            self._loop = loop
        return self._client, self._slots

    async def request(self, request: Request) -> Response:
        """One request; every failure (a bad URL or CA bundle too) is a ``TransportError``."""
        try:
            return await self._request(request)
        except TransportError:
            raise
        except Exception as exc:
            raise as_transport_error(exc) from exc

    async def _request(self, request: Request) -> Response:
        """One request; ``request.timeout`` bounds all of it, waiting for a connection too.

        Requests beyond ``max_connections`` wait here rather than in httpcore's pool,
        whose queue handling costs O(waiting x connections) on the loop per completion
        (a thousand queued flag calls would stall the loop for seconds).
        """
        httpx = self._httpx
        client, slots = self._for_loop()
        deadline = time.monotonic() + request.timeout
        try:
            await asyncio.wait_for(slots.acquire(), request.timeout)
        except asyncio.TimeoutError:
            raise RequestTimeoutError(f"no connection free within {request.timeout}s") from None
        try:
            reply = await client.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                content=request.body,
                timeout=max(0.001, deadline - time.monotonic()),
            )
        except httpx.TimeoutException as exc:
            raise RequestTimeoutError(f"request timed out after {request.timeout}s") from exc
        except httpx.HTTPError as exc:
            message = f"{type(exc).__name__}: {exc}"
            raise TransportError(message, refused=was_refused(exc)) from exc
        finally:
            slots.release()
        headers = {k.lower(): v for k, v in reply.headers.items()}
        return Response(reply.status_code, headers, reply.content)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()


class ThreadedTransport:
    """A sync ``Transport`` (e.g. ``MockTransport`` or a custom one) run off the loop."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def request(self, request: Request) -> Response:
        try:
            return await asyncio.to_thread(self.transport.request, request)
        except TransportError:
            raise
        except Exception as exc:  # a custom transport's own exception: a failed attempt
            raise as_transport_error(exc) from exc

    async def aclose(self) -> None:
        await asyncio.to_thread(self.transport.close)


def default_transport(transport: Any, proxy: str | None, ca_bundle: str | None) -> AsyncTransport:
    if transport is None:
        return HTTPXTransport(proxy=proxy, ca_bundle=ca_bundle)
    if isinstance(transport, AsyncTransport):
        return transport
    if isinstance(transport, Transport):
        return ThreadedTransport(transport)
    raise TypeError("transport must be a posthog Transport or an AsyncTransport")
