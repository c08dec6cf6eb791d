"""The bridge from ``http.server`` to :class:`App`: read the request, write the response.

HTTP/1.1 with keep-alive, so an SDK reuses its connection. A body over the 20 MiB cap
is refused from its ``Content-Length`` before it is read, and that connection closed.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from .errors import HttpError, bad_request
from .ingest import MAX_BODY_BYTES
from .web import Request, Response, json_response

if TYPE_CHECKING:
    from .app import App

log = logging.getLogger("posthog_devserver")
_DISCARD_LIMIT = 4 * MAX_BODY_BYTES


class DevHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End idle keep-alive connections so their handler threads finish."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "posthog-devserver"
    server: DevHTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            request = self._read()
        except HttpError as exc:
            self.close_connection = True
            self._send(json_response(exc.body(), exc.status, {"Connection": "close"}))
            return
        self._send(self.server.app.handle(request))

    def _read(self) -> Request:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise HttpError(
                411, "length_required", "Send a Content-Length; chunked bodies are not supported."
            )
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise bad_request("invalid_length", "Content-Length is not a number.") from None
        if length < 0:
            raise bad_request("invalid_length", "Content-Length is negative.")
        if length > MAX_BODY_BYTES:
            self._discard(length)
            raise bad_request("body_too_large", "Request body exceeds the 20 MiB limit.")
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise bad_request("truncated_body", "Request body is shorter than Content-Length.")
        parts = urlsplit(self.path)
        return Request(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_query=parts.query,
        )

    def _discard(self, length: int) -> None:
        """Read (a bounded amount of) an oversized body so the client sees the answer."""
        if length > _DISCARD_LIMIT:
            return
        remaining = length
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 20))
            if not chunk:
                return
            remaining -= len(chunk)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
