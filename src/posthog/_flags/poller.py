"""Loading flag definitions (spec 3.9, 5.2): one fetch, what it means, and a poll thread.

``interpret`` decides from a status and body what to publish (pure); ``DefinitionLoader``
does one GET with ETag and publishes into the store; ``Poller`` repeats that every
``poll_interval`` seconds, backing off after repeated 401/403 answers.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from posthog._flags.model import EMPTY_FLAGSET, parse_definitions
from posthog._flags.remote import USER_AGENT
from posthog._flags.store import Definitions, DefinitionStore
from posthog._transport.base import Request, Response, Transport
from posthog.exceptions import TransportError

__all__ = ["DefinitionLoader", "Outcome", "Poller", "interpret", "load_file"]

log = logging.getLogger("posthog")

DEFINITIONS_PATH = "/flags/definitions"
LEGACY_PATH = "/api/feature_flag/local_evaluation/"
FETCH_TIMEOUT = 10.0
MAX_BACKOFF = 32


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one fetch means: ``publish`` (new Definitions or None to keep), how to log."""

    publish: Definitions | None
    level: int
    message: str
    auth_failure: bool = False
    try_legacy: bool = False
    ok: bool = False


def interpret(response: Response, current: Definitions, request_etag: str | None) -> Outcome:
    """Spec 3.9: 304 keep, 200 parse and swap, 401/402 clear, other errors keep."""
    status = response.status
    if status == 304:
        etag = response.header("etag") or request_etag
        same = Definitions(current.flagset, etag, current.loaded, current.source)
        return Outcome(same, logging.DEBUG, "flag definitions not modified", ok=True)
    if status == 200:
        try:
            data = json.loads(response.body)
        except ValueError:
            return Outcome(None, logging.WARNING, "malformed JSON in flag definitions; kept")
        if not isinstance(data, Mapping) or not isinstance(data.get("flags", []), list):
            return Outcome(None, logging.WARNING, "unexpected flag definitions shape; kept")
        defs = Definitions(parse_definitions(data), response.header("etag"), True, "server")
        return Outcome(defs, logging.DEBUG, f"loaded {len(defs.flagset.flags)} flags", ok=True)
    if status == 401:
        return Outcome(
            Definitions(EMPTY_FLAGSET, None, True, "cleared"),
            logging.ERROR,
            "flag definitions refused (401): verify project_api_key and secret_key; cleared",
            auth_failure=True,
        )
    if status == 402:
        return Outcome(
            Definitions(EMPTY_FLAGSET, None, True, "cleared"),
            logging.WARNING,
            "feature flags are quota limited (402); local definitions cleared",
        )
    if status == 404:
        return Outcome(None, logging.DEBUG, "definitions endpoint not found", try_legacy=True)
    return Outcome(
        None,
        logging.ERROR,
        f"flag definitions request failed ({status}); kept the last good definitions",
        auth_failure=status == 403,
    )


def load_file(source: str | Mapping[str, Any]) -> Definitions:
    """Definitions from a JSON file path or an already-decoded mapping (no network)."""
    if isinstance(source, Mapping):
        return Definitions(parse_definitions(source), None, True, "file")
    with open(source, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: flag definitions must be a JSON object")
    return Definitions(parse_definitions(data), None, True, "file")


class DefinitionLoader:
    """One GET of the definitions with ETag, falling back to the legacy path on 404."""

    def __init__(
        self,
        transport: Transport,
        host: str,
        api_key: str,
        secret: str,
        store: DefinitionStore,
        timeout: float = FETCH_TIMEOUT,
    ) -> None:
        self._transport = transport
        self._host = host.rstrip("/")
        self._api_key = api_key
        self._secret = secret
        self._store = store
        self._timeout = timeout
        self._legacy = False
        self._lock = threading.Lock()
        self.auth_failures = 0
        self.last_error: str | None = None

    def _url(self) -> str:
        path = LEGACY_PATH if self._legacy else DEFINITIONS_PATH
        return f"{self._host}{path}?token={self._api_key}&send_cohorts"

    def load(self) -> bool:
        """Fetch once and publish; True when the store holds fresh definitions."""
        with self._lock:  # one fetch at a time; a late answer never overwrites a newer one
            try:
                outcome = self._fetch()
                if outcome.try_legacy and not self._legacy:
                    self._legacy = True
                    outcome = self._fetch()
            except TransportError as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "[PostHog] could not load flag definitions (%s); will retry", self.last_error
                )
                self._store.attempted()
                return False
            self.auth_failures = self.auth_failures + 1 if outcome.auth_failure else 0
            if outcome.publish is not None:
                self._store.publish(outcome.publish)
            else:
                self._store.attempted()
            self.last_error = None if outcome.ok else outcome.message
            log.log(outcome.level, "[PostHog] %s", outcome.message)
            return outcome.ok

    def _fetch(self) -> Outcome:
        current = self._store.current
        etag = current.etag if current.source == "server" else None
        headers = {"Authorization": f"Bearer {self._secret}", "User-Agent": USER_AGENT}
        if etag:
            headers["If-None-Match"] = etag
        response = self._transport.request(
            Request("GET", self._url(), headers, None, self._timeout)
        )
        return interpret(response, current, etag)


class Poller:
    """A daemon thread: load now, then every ``interval()`` seconds until stopped."""

    def __init__(
        self, loader: DefinitionLoader, interval: Callable[[], float], *, immediate: bool = True
    ) -> None:
        self._loader = loader
        self._immediate = immediate
        self._interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="posthog-flag-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def wake(self) -> None:
        """Re-read the interval now (after ``poll_interval`` changed)."""
        self._wake.set()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def delay(self) -> float:
        """The next wait: the interval, doubled per repeated 401/403 (at most 32x)."""
        factor: int = min(MAX_BACKOFF, 1 << max(0, self._loader.auth_failures - 1))
        interval: float = max(0.01, float(self._interval()))
        return interval * factor

    def _run(self) -> None:
        if not self._immediate:
            self._wait()
        while not self._stop.is_set():
            try:
                self._loader.load()
            except Exception as exc:  # a poller must outlive any single bad answer
                log.warning("[PostHog] flag definitions poll failed: %r", exc)
            self._wait()

    def _wait(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            self._wake.clear()
            remaining = self.delay() - (time.monotonic() - start)
            if remaining <= 0 or not self._wake.wait(remaining):
                return  # the interval passed
