"""Loading flag definitions (spec 3.9, 5.2): one fetch, what it means, and a poll thread.

``interpret`` decides from a status and body what to publish (pure); ``DefinitionFetch``
is one GET with ETag as a sans-I/O exchange that publishes into the store;
``DefinitionLoader`` runs it with a blocking transport; ``Poller`` repeats that every
``poll_interval`` seconds (the schedule and retry rules are ``policy``'s).
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
from posthog._flags.policy import LoadState
from posthog._flags.remote import USER_AGENT, Exchange, drive
from posthog._flags.store import Definitions, DefinitionStore
from posthog._flags.unsupported import UnsupportedFlags
from posthog._transport.base import Request, Response, Transport
from posthog.exceptions import TransportError

__all__ = [
    "DefinitionFetch",
    "DefinitionLoader",
    "Outcome",
    "Poller",
    "interpret",
    "load_file",
    "publish_file",
]

log = logging.getLogger("posthog")

DEFINITIONS_PATH = "/flags/definitions"
LEGACY_PATH = "/api/feature_flag/local_evaluation/"
FETCH_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one fetch means: ``publish`` (new Definitions or None to keep), how to log."""

    publish: Definitions | None
    level: int
    message: str
    auth_failure: bool = False
    try_legacy: bool = False
    ok: bool = False
    unreachable: bool = False  # no answer at all (network): auth failures stay counted


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


def publish_file(
    store: DefinitionStore, source: str | Mapping[str, Any], unsupported: UnsupportedFlags
) -> bool:
    """Publish definitions from a file (or mapping); an unreadable one is logged."""
    try:
        definitions = load_file(source)
    except (OSError, ValueError) as exc:
        log.error("[PostHog] could not read flag definitions from %r: %s", source, exc)
        return False
    store.publish(definitions)
    unsupported.published(definitions.flagset)
    return True


class DefinitionFetch:
    """One definitions load as a sans-I/O exchange (``drive`` it), with its bookkeeping.

    Shared by the blocking ``DefinitionLoader`` and the asyncio client: the request with
    ETag, the legacy path on 404, what the answer means, the store update and the
    ``LoadState`` that decides retries and back-off.
    """

    def __init__(
        self,
        host: str,
        api_key: str,
        secret: str,
        store: DefinitionStore,
        *,
        retry_gap: float,
        timeout: float = FETCH_TIMEOUT,
        unsupported: UnsupportedFlags | None = None,
    ) -> None:
        self._host = host.rstrip("/")
        self._unsupported = unsupported or UnsupportedFlags()
        self._api_key = api_key
        self._secret = secret
        self._store = store
        self._timeout = timeout
        self._legacy = False
        self.state = LoadState(retry_gap)

    def exchange(self) -> Exchange[bool]:
        """Fetch once and publish; returns True when the store holds fresh definitions."""
        self.state.begin(time.monotonic())
        try:
            outcome = yield from self._answer()
        except BaseException:  # the driver gave up: the attempt is over all the same
            self.state.finish(False, "interrupted", None)
            self._store.attempted()
            raise
        # The state first: a flag call woken by the store must see this attempt as over.
        reached = None if outcome.unreachable else outcome.auth_failure
        self.state.finish(outcome.ok, outcome.message, reached)
        if outcome.publish is not None:
            self._store.publish(outcome.publish)
        else:
            self._store.attempted()
        log.log(outcome.level, "[PostHog] %s", outcome.message)
        if outcome.publish is not None:
            self._unsupported.published(outcome.publish.flagset)
        return outcome.ok

    def _answer(self) -> Exchange[Outcome]:
        try:
            outcome = yield from self._fetch()
            if outcome.try_legacy and not self._legacy:
                self._legacy = True
                outcome = yield from self._fetch()
        except TransportError as exc:
            message = f"could not load flag definitions ({type(exc).__name__}: {exc}); will retry"
            return Outcome(None, logging.WARNING, message, unreachable=True)
        return outcome

    def _fetch(self) -> Exchange[Outcome]:
        current = self._store.current
        etag = current.etag if current.source == "server" else None
        headers = {"Authorization": f"Bearer {self._secret}", "User-Agent": USER_AGENT}
        if etag:
            headers["If-None-Match"] = etag
        path = LEGACY_PATH if self._legacy else DEFINITIONS_PATH
        url = f"{self._host}{path}?token={self._api_key}&send_cohorts"
        reply = yield Request("GET", url, headers, None, self._timeout)
        if isinstance(reply, TransportError):
            raise reply
        if reply is None:  # a driver bug, not a network condition
            raise TypeError("a Request must be answered with a Response or a TransportError")
        return interpret(reply, current, etag)


class DefinitionLoader:
    """Runs ``DefinitionFetch`` with a blocking transport, one fetch at a time."""

    def __init__(
        self,
        transport: Transport,
        host: str,
        api_key: str,
        secret: str,
        store: DefinitionStore,
        *,
        retry_gap: float = FETCH_TIMEOUT,
        timeout: float = FETCH_TIMEOUT,
        unsupported: UnsupportedFlags | None = None,
    ) -> None:
        self._transport = transport
        self._fetch = DefinitionFetch(
            host,
            api_key,
            secret,
            store,
            retry_gap=retry_gap,
            timeout=timeout,
            unsupported=unsupported,
        )
        self.state = self._fetch.state
        self._lock = threading.Lock()

    def load(self) -> bool:
        """Fetch once and publish; True when the store holds fresh definitions."""
        with self._lock:  # one fetch at a time; a late answer never overwrites a newer one
            return drive(self._fetch.exchange(), self._transport, time.sleep)

    def after_fork(self) -> None:
        """In a forked child no parent thread is loading, whatever the state says."""
        self._lock = threading.Lock()
        self.state.abandoned()


class Poller:
    """A daemon thread that loads definitions: at once (``immediate``), then every
    ``interval()`` seconds (backed off after 401/403) while ``repeat``; ``kick()`` asks
    for a load now. Without ``repeat`` the thread ends after a load nobody kicked again.
    """

    def __init__(
        self,
        loader: DefinitionLoader,
        interval: Callable[[], float],
        *,
        immediate: bool = True,
        repeat: bool = True,
    ) -> None:
        self._loader = loader
        self._immediate = immediate
        self._repeat = repeat
        self._interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._mutex = threading.Lock()
        self._kicked = False
        self._done = False
        self._thread = threading.Thread(target=self._run, name="posthog-flag-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive() and not self._done

    def wake(self) -> None:
        """Re-read the interval now (after ``poll_interval`` changed)."""
        self._wake.set()

    def kick(self) -> bool:
        """Load now; False when this thread is ending (start another one instead)."""
        with self._mutex:
            if self._done or not self._thread.is_alive():
                return False
            self._kicked = True
        self._wake.set()
        return True

    def stop(self, timeout: float = 1.0) -> None:
        with self._mutex:
            self._done = True
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def delay(self) -> float:
        """The next wait: the interval, doubled per repeated 401/403 (at most 32x)."""
        return self._loader.state.delay(self._interval())

    def _run(self) -> None:
        if not self._immediate and not self._wait():
            return
        while not self._stop.is_set():
            try:
                self._loader.load()
            except Exception as exc:  # a poller must outlive any single bad answer
                log.warning("[PostHog] flag definitions poll failed: %r", exc)
            if not self._wait():
                return

    def _wait(self) -> bool:
        """Until the next load is due (interval passed or kicked); False: end the thread."""
        start = time.monotonic()
        while not self._stop.is_set():
            with self._mutex:
                if self._kicked:
                    self._kicked = False
                    return True
                if not self._repeat:
                    self._done = True
                    return False
                self._wake.clear()
            remaining = self.delay() - (time.monotonic() - start)
            if remaining <= 0:
                return True
            self._wake.wait(remaining)
        return False
