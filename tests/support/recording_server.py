"""A small real HTTP server on 127.0.0.1 that records requests and plays scripted answers.

Tests drive the SDK through its real transport against this server. Answers are chosen
by a ``responder(request) -> Reply`` callable (default: 200 ``{"status": 1}``), so a test
can script faults: statuses, Retry-After, delays, dropped connections.
"""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    raw_body: bytes
    body: bytes
    at: float = 0.0
    status: int = 0  # what the server answered; 0 when it dropped the connection

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = field(default_factory=lambda: {"status": 1})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    reset: bool = False  # close the socket without answering


def _decode(headers: dict[str, str], raw: bytes) -> bytes:
    encoding = headers.get("content-encoding", "")
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "deflate":
        return zlib.decompress(raw)
    if encoding == "zstd":
        import zstandard

        return bytes(zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 30))
    return raw


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # many clients connecting at once must not wait for SYN retries


class RecordingServer:
    def __init__(self, responder: Callable[[Recorded], Reply] | None = None) -> None:
        self.responder = responder or (lambda _r: Reply())
        self.requests: list[Recorded] = []
        self._cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's algorithm and
                # the client's delayed ACK stall every response by ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                rec = Recorded(
                    self.command, self.path, headers, raw, _decode(headers, raw), time.monotonic()
                )
                reply = outer.responder(rec)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.reset:
                    outer._record(rec)
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                    self.close_connection = True
                    return
                body = reply.body
                if isinstance(body, (dict, list)):
                    body = json.dumps(body).encode()
                elif isinstance(body, str):
                    body = body.encode()
                rec.status = reply.status
                outer._record(rec)  # before answering, so a client that saw the answer sees this
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            do_POST = _handle
            do_GET = _handle

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _record(self, rec: Recorded) -> None:
        with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> RecordingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- reading what arrived ------------------------------------------------------------
    def wait_for(self, predicate: Callable[[RecordingServer], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def batches(self, path: str = "/batch/", accepted_only: bool = True) -> list[dict[str, Any]]:
        """Bodies of requests to ``path`` (by default only those answered with 200)."""
        with self._cond:
            return [
                r.json()
                for r in self.requests
                if r.path.startswith(path) and (r.status == 200 or not accepted_only)
            ]

    def events(self, path: str = "/batch/") -> list[dict[str, Any]]:
        return [e for b in self.batches(path) for e in b.get("batch", [])]

    def wait_for_events(
        self, count: int, timeout: float = 10.0, path: str = "/batch/"
    ) -> list[dict[str, Any]]:
        self.wait_for(lambda s: len(s.events(path)) >= count, timeout)
        return self.events(path)
