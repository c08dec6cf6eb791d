"""HTTP/1.1 over the standard library, with one small keep-alive pool per client.

Why not requests/urllib3: a dependency-free transport imports in a few milliseconds,
has no module-global sessions, and lets us map every failure to our own error types.
Proxies (``http://`` with CONNECT tunnelling for HTTPS) and a CA bundle are per client.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from posthog.exceptions import RequestTimeoutError, TransportError

if TYPE_CHECKING:
    import http.client
    import ssl
    from urllib.parse import SplitResult

    from posthog._transport.base import Request, Response

__all__ = ["HTTPTransport"]

_Key = tuple[str, str, int]
_STALE: tuple[type[BaseException], ...] = (ConnectionResetError, BrokenPipeError)


def _http() -> Any:
    """``http.client`` (and with it ``ssl`` and ``email``) is imported by the first request,
    on the worker thread, not at ``import posthog`` or client construction: it would be
    most of their time. So are ``urllib.parse`` and the ``Request``/``Response`` types."""
    global _STALE
    import http.client

    _STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
    return http.client


class HTTPTransport:
    """A thread-safe pooled HTTP client (at most ``pool_size`` idle connections per host)."""

    def __init__(
        self,
        *,
        proxy: str | None = None,
        ca_bundle: str | None = None,
        verify: bool = True,
        pool_size: int = 4,
    ) -> None:
        self._proxy_url = proxy or None
        self._proxy: SplitResult | None = None  # parsed by the first request
        self._ca_bundle = ca_bundle
        self._verify = verify
        self._pool_size = pool_size
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._ssl: ssl.SSLContext | None = None
        self._client: Any = None  # http.client, from the first request on

    # -- public -----------------------------------------------------------------------
    def request(self, request: Request) -> Response:
        """Send ``request``. Every failure is a ``TransportError``: a bad port, a missing CA
        bundle or an ``http.client`` surprise must never reach (and kill) a caller's thread."""
        try:
            return self._request(request)
        except TransportError:
            raise
        except Exception as exc:
            from posthog._transport.base import as_transport_error

            raise as_transport_error(exc) from exc

    def _request(self, request: Request) -> Response:
        from urllib.parse import urlsplit

        if self._client is None:  # the first request (two at once would agree)
            self._proxy = urlsplit(self._proxy_url) if self._proxy_url else None
            self._client = _http()
        parts = urlsplit(request.url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise TransportError(f"unsupported URL {request.url!r}")
        port = parts.port or (443 if scheme == "https" else 80)
        key: _Key = (scheme, parts.hostname, port)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        if self._proxy is not None and scheme == "http":
            target = request.url  # absolute-form through a plain HTTP proxy
        headers = dict(request.headers)
        headers.setdefault("Host", parts.netloc)
        headers.setdefault("Connection", "keep-alive")
        if self._proxy is not None and scheme == "http":
            auth = self._proxy_auth()
            if auth:
                headers["Proxy-Authorization"] = auth
        conn, reused = self._checkout(key, request.timeout)
        try:
            return self._exchange(conn, key, request, target, headers)
        except _STALE as exc:
            conn.close()
            if not reused:
                raise TransportError(f"connection lost: {exc!r}") from None
        except BaseException:
            conn.close()
            raise
        # The server closed an idle keep-alive connection; one fresh attempt.
        conn = self._connect(key, request.timeout)
        try:
            return self._exchange(conn, key, request, target, headers)
        except BaseException:
            conn.close()
            raise

    def after_fork_in_child(self) -> None:
        """Fresh lock and pool: another thread may have held the lock at fork time, and
        the parent's sockets are not ours."""
        self._lock = threading.Lock()
        self._idle = {}
        self._pid = os.getpid()

    def close(self) -> None:
        with self._lock:
            pools, self._idle = self._idle, {}
        for conns in pools.values():
            for conn in conns:
                conn.close()

    # -- internals --------------------------------------------------------------------
    def _exchange(
        self,
        conn: http.client.HTTPConnection,
        key: _Key,
        request: Request,
        target: str,
        headers: dict[str, str],
    ) -> Response:
        try:
            conn.request(request.method, target, body=request.body, headers=headers)
            raw = conn.getresponse()
            body = raw.read()
        except _STALE:
            raise
        except TimeoutError as exc:
            raise RequestTimeoutError(f"timed out after {request.timeout}s: {exc}") from None
        except (OSError, self._client.HTTPException, ValueError) as exc:
            from posthog._transport.base import was_refused

            raise TransportError(f"{type(exc).__name__}: {exc}", refused=was_refused(exc)) from None
        response_headers = {k.lower(): v for k, v in raw.getheaders()}
        if raw.will_close:
            conn.close()
        else:
            self._checkin(key, conn)
        from posthog._transport.base import Response

        return Response(raw.status, response_headers, body)

    def _checkout(self, key: _Key, timeout: float) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's sockets are not ours
                self._idle = {}
                self._pid = os.getpid()
            idle = self._idle.get(key)
            conn = idle.pop() if idle else None
        if conn is not None:
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            conn.timeout = timeout
            return conn, True
        return self._connect(key, timeout), False

    def _checkin(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if self._pid != os.getpid():
                return
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._pool_size:
                idle.append(conn)
                return
        conn.close()

    def _connect(self, key: _Key, timeout: float) -> http.client.HTTPConnection:
        scheme, host, port = key
        proxy = self._proxy
        if scheme == "https":
            context = self._ssl_context()
            if proxy is not None and proxy.hostname:
                conn: http.client.HTTPConnection = self._client.HTTPSConnection(
                    proxy.hostname, proxy.port or 8080, timeout=timeout, context=context
                )
                auth = self._proxy_auth()
                conn.set_tunnel(host, port, headers={"Proxy-Authorization": auth} if auth else None)
                return conn
            conn = self._client.HTTPSConnection(host, port, timeout=timeout, context=context)
            return conn
        if proxy is not None and proxy.hostname:
            conn = self._client.HTTPConnection(proxy.hostname, proxy.port or 8080, timeout=timeout)
            return conn
        conn = self._client.HTTPConnection(host, port, timeout=timeout)
        return conn

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            import ssl

            context = ssl.create_default_context(cafile=self._ca_bundle)
            if not self._verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._ssl = context
        return self._ssl

    def _proxy_auth(self) -> str | None:
        proxy = self._proxy
        if proxy is None or proxy.username is None:
            return None
        import base64
        from urllib.parse import unquote

        raw = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}".encode()
        return "Basic " + base64.b64encode(raw).decode("ascii")
