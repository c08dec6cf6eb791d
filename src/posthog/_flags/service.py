"""Local first, remote as a bounded fallback (spec 5.1): the flag logic of a client.

``FlagService`` owns the definitions store, the loader thread and the remote call, and
only does the I/O between the pure steps of ``flow`` (what is decided locally, what to
ask the server, how answers become ``FlagRecord`` values) and ``policy`` (when to load,
whether to go remote). It never raises for I/O problems.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from posthog._flags.evaluator import evaluate_all, evaluate_person, payload_for
from posthog._flags.flow import (
    GO_REMOTE,
    BulkPlan,
    FlagLog,
    FlagQuery,
    Outcome,
    bulk_answer,
    bulk_failed,
    bulk_payload,
    bulk_payloads,
    from_local,
    from_remote,
    make_subject,
    plan_bulk,
    remote_body,
    single_answer,
    single_failed,
    single_local,
)
from posthog._flags.policy import Step, local_only
from posthog._flags.poller import DefinitionLoader, Poller, publish_file
from posthog._flags.remote import (
    RemoteResponse,
    error_code,
    request_flags,
    request_remote_config,
)
from posthog._flags.results import Evaluation
from posthog._flags.store import Definitions, DefinitionStore
from posthog._flags.unsupported import UnsupportedFlags
from posthog._transport.base import Transport
from posthog.contexts import get_context_device_id
from posthog.types import FlagRecord

__all__ = [
    "FlagLog",
    "FlagQuery",
    "FlagService",
    "Outcome",
    "bulk_payloads",
    "from_local",
    "from_remote",
    "make_subject",
    "payload_for",
]

log = logging.getLogger("posthog")

_FAST_OPTIONS = frozenset(
    {
        "person_properties",
        "only_evaluate_locally",
        "send_feature_flag_events",
        "disable_geoip",
        "device_id",
    }
)


class FlagService:
    def __init__(
        self,
        *,
        transport: Transport,
        host: str,
        api_key: str,
        secret: str | None,
        timeout: float,
        max_retries: int,
        poll_interval: Callable[[], float],
        enable_local_evaluation: bool,
        definitions: str | Mapping[str, Any] | None,
        warn: FlagLog | None = None,
    ) -> None:
        self.transport = transport
        self.warn = warn or FlagLog(None)
        self.host = host
        self.api_key = api_key
        self.secret = secret
        self.timeout = timeout
        self.max_retries = max_retries
        self.enable_local_evaluation = enable_local_evaluation
        self.store = DefinitionStore()
        self._unsupported = UnsupportedFlags()
        self._interval = poll_interval
        self._file = definitions
        self._lock = threading.Lock()
        self._poller: Poller | None = None
        self._loader: DefinitionLoader | None = None
        self._closed = False
        self._restart = False  # a forked child restarts polling on its next flag call
        if definitions is not None:
            self.load_from_file()

    # -- definitions ---------------------------------------------------------------------
    def load_from_file(self) -> bool:
        assert self._file is not None
        return publish_file(self.store, self._file, self._unsupported)

    def _loader_for(self) -> DefinitionLoader | None:
        if self.secret is None:
            return None
        if self._loader is None:
            self._loader = DefinitionLoader(
                self.transport,
                self.host,
                self.api_key,
                self.secret,
                self.store,
                retry_gap=self.timeout,
                unsupported=self._unsupported,
            )
        return self._loader

    def load(self) -> None:
        """``load_feature_flags()``: one synchronous load, then polling (if enabled)."""
        if self._file is not None:
            self.load_from_file()
            return
        loader = self._loader_for()
        if loader is None:
            log.warning("[PostHog] local evaluation needs a secret_key (personal API key)")
            return
        loader.load()
        if self.enable_local_evaluation:
            with self._lock:
                if not self._closed and not self._running():
                    self._start(loader, immediate=False)

    def ensure_polling(self) -> None:
        """Start (or wake) the definitions loader when ``policy`` says one is due."""
        self._ensure_loading()

    def _running(self) -> bool:
        return self._poller is not None and self._poller.alive()

    def _start(self, loader: DefinitionLoader, *, immediate: bool) -> None:
        poller = Poller(
            loader, self._interval, immediate=immediate, repeat=self.enable_local_evaluation
        )
        self._poller = poller
        poller.start()

    def _ensure_loading(self) -> None:
        """Start or wake the one loader thread when ``policy`` says a load is due."""
        self._restart = False
        if self._file is not None or self._closed or self.secret is None:
            return
        with self._lock:
            loader = self._loader_for()
            assert loader is not None
            step = loader.state.next_step(
                loaded=self.store.current.loaded,
                running=self._running(),
                polling=self.enable_local_evaluation,
                now=time.monotonic(),
            )
            if step is Step.POLL:
                self._start(loader, immediate=False)
            elif step is Step.LOAD:
                poller = self._poller
                if poller is None or not poller.kick():
                    self._start(loader, immediate=True)

    def definitions(self, wait: bool = True) -> Definitions:
        """The current snapshot. Until definitions are loaded a call may start (or wake)
        a load and then waits for it at most ``timeout`` (spec 5.1)."""
        current = self.store.current
        if self._restart:
            self._ensure_loading()
        if current.loaded or self.secret is None or self._file is not None:
            return current
        seen = self.store.attempts
        self._ensure_loading()
        loader = self._loader
        if wait and loader is not None and loader.state.in_flight:
            self.store.wait_settled(seen, self.timeout)
        return self.store.current

    def interval_changed(self) -> None:
        poller = self._poller
        if poller is not None:
            poller.wake()

    def close(self) -> None:
        self._closed = True
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.stop()

    def after_fork(self) -> None:
        """Threads do not survive ``fork``: the child restarts polling on its next call."""
        self._restart = self._poller is not None and not self._closed
        self._poller = None
        self._lock = threading.Lock()
        self.store.after_fork()
        if self._loader is not None:
            self._loader.after_fork()

    # -- evaluation: the steps of posthog._flags.flow, doing only the I/O ---------------
    def _local_only(self, query: FlagQuery) -> bool:
        return local_only(query.only_evaluate_locally, self._file is not None)

    def one(self, query: FlagQuery, key: str) -> FlagRecord:
        flagset = self.definitions().flagset
        local, final = single_local(flagset, query, key, local_only=self._local_only(query))
        if final:
            assert local is not None
            return local
        try:
            response = self.remote(query, [key])
        except Exception as exc:
            return single_failed(key, exc, local, self.warn)
        return single_answer(key, response, self.warn)

    def fast(self, key: str, distinct_id: Any, options: Mapping[str, Any]) -> Evaluation | None:
        """The hot path of a single read: a conclusive local ``Evaluation``, or ``None``
        when the full path is needed (no definitions, groups, inconclusive, ...)."""
        if self._restart:
            self._ensure_loading()
        if distinct_id is None or not _FAST_OPTIONS.issuperset(options):
            return None
        flagset = self.store.current.flagset
        flag = flagset.index.get(key)
        if flag is None:
            return None
        given = options.get("person_properties")
        if given.__class__ is not dict or (
            flagset.reads_distinct_id and "distinct_id" not in given
        ):
            person = dict(given) if given else {}
            if "distinct_id" not in person:
                person["distinct_id"] = distinct_id
            given = person
        device = None
        if not flag.plain or flagset.has_dependencies:  # only then can a device id matter
            device = options.get("device_id")
            if device is None:
                device = get_context_device_id()
            if device is not None:
                device = str(device)
        ev = evaluate_person(flagset, flag, given, distinct_id, device)
        return None if ev.reason in GO_REMOTE else ev

    def local_values(self, query: FlagQuery) -> tuple[dict[str, Any], dict[str, str | None]] | None:
        """Bulk hot path: values and payload strings when local evaluation decides every
        flag (or the call is local-only); ``None`` when the full path is needed."""
        flagset = self.definitions().flagset
        if not flagset.flags:
            return None
        only_local = self._local_only(query)
        values: dict[str, Any] = {}
        payloads: dict[str, str | None] = {}
        for key, ev in evaluate_all(flagset, make_subject(query), query.keys).items():
            if ev.reason in GO_REMOTE:
                if not only_local:
                    return None
                continue
            values[key] = ev.value
            if ev.payload is not None:
                payloads[key] = bulk_payload(ev.payload)
        return values, payloads

    def many(self, query: FlagQuery) -> Outcome:
        """Evaluate locally what we can; ask the server once for the rest."""
        flagset = self.definitions().flagset
        plan: BulkPlan | Outcome = plan_bulk(flagset, query, local_only=self._local_only(query))
        if isinstance(plan, Outcome):
            return plan
        try:
            response = self.remote(query, plan.ask)
        except Exception as exc:
            return bulk_failed(plan, exc, self.warn)
        return bulk_answer(plan, response)

    def remote(self, query: FlagQuery, keys: Sequence[str] | None) -> RemoteResponse:
        body = remote_body(self.api_key, query, keys)
        return request_flags(
            self.transport, self.host, body, timeout=self.timeout, max_retries=self.max_retries
        )

    def remote_config(self, key: str) -> Any:
        if self.secret is None:
            log.warning("[PostHog] get_remote_config_payload needs a secret_key")
            return None
        try:
            return request_remote_config(
                self.transport, self.host, self.api_key, self.secret, key, self.timeout
            )
        except Exception as exc:
            code = error_code(exc)
            self.warn(f"remote config {code}", f"remote config for {key!r} failed ({code}): {exc}")
            return None
