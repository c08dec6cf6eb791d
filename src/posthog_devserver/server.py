"""``DevServer``: the whole server in one object, for the CLI, tests and the demo.

with DevServer() as server:          # port 0: a free port; db ":memory:"
    client = Posthog("phc_any", host=server.url)
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from .app import App
from .flags import FlagSource
from .handler import DevHTTPServer
from .store import Store


class DevServer:
    """A PostHog-compatible server on ``host:port`` backed by SQLite ``db``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        db: str = ":memory:",
        flags_path: str | None = None,
        project_api_key: str | None = None,
        personal_api_key: str | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.db = db
        self.flags = FlagSource(flags_path)
        self.project_api_key = project_api_key
        self.personal_api_key = personal_api_key
        self._store: Store | None = None
        self._httpd: DevHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> DevServer:
        """Open the database and start serving in a background thread; return when listening."""
        if self._httpd is not None:
            return self
        store = Store(self.db)
        try:
            app = App(store, self.flags, self.project_api_key, self.personal_api_key)
            httpd = DevHTTPServer((self.host, self.requested_port), app)
        except BaseException:
            store.close()
            raise
        self._store, self._httpd = store, httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="devserver-http",
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Block until :meth:`stop` is called (from a signal handler or another thread)."""
        self.start()
        thread = self._thread
        while thread is not None and thread.is_alive():
            thread.join(0.5)

    def stop(self) -> None:
        """Stop accepting requests, finish queued writes, close the database. Idempotent."""
        httpd, thread, store = self._httpd, self._thread, self._store
        self._httpd = self._thread = self._store = None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            httpd.close_connections()
        if thread is not None:
            thread.join(timeout=10)
        if store is not None:
            store.close()

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses and state --------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running; call start() first")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL to give the SDK as ``host=`` (also the web page)."""
        host = self.host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the server is not running; call start() first")
        return self._store

    def set_flags(self, document: Any) -> None:
        """Replace the flag definitions in code (same JSON shape as the flags file)."""
        self.flags.set(document)
