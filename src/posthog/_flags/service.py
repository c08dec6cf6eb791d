"""Local first, remote as a bounded fallback (spec 5.1): the flag logic of a client.

``FlagService`` owns the definitions store, the poller and the remote call; it returns
``FlagRecord`` values (value + payload + reason + error) and never raises for I/O
problems. The pure decisions (building the subject, turning an ``Evaluation`` or a
remote record into a ``FlagRecord``) are the module-level functions below.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from posthog._flags.evaluator import evaluate, evaluate_all, evaluate_person, payload_for
from posthog._flags.model import FlagSet
from posthog._flags.poller import DefinitionLoader, Poller, load_file
from posthog._flags.remote import (
    RemoteFlag,
    RemoteResponse,
    build_body,
    error_code,
    request_flags,
    request_remote_config,
)
from posthog._flags.results import Evaluation, Reason, Subject, missing_flag
from posthog._flags.store import Definitions, DefinitionStore
from posthog._transport.base import Transport
from posthog.contexts import get_context_device_id
from posthog.types import FlagRecord

__all__ = ["FlagQuery", "FlagService", "from_local", "from_remote", "make_subject", "payload_for"]

log = logging.getLogger("posthog")

_GO_REMOTE = (Reason.INCONCLUSIVE, Reason.FLAG_MISSING)
_FAST_OPTIONS = frozenset(
    {
        "person_properties",
        "only_evaluate_locally",
        "send_feature_flag_events",
        "disable_geoip",
        "device_id",
    }
)


@dataclass(frozen=True, slots=True)
class FlagQuery:
    """One flag call's subject and options, already resolved from the arguments."""

    distinct_id: Any
    groups: Mapping[str, Any] = field(default_factory=dict)
    person_properties: Mapping[str, Any] = field(default_factory=dict)
    group_properties: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    only_evaluate_locally: bool = False
    geoip_disable: bool = True
    device_id: Any = None
    keys: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """The records of a bulk call, plus a call-level error (remote failure, quota)."""

    records: dict[str, FlagRecord]
    error: str | None = None
    quota_limited: bool = False


def make_subject(query: FlagQuery) -> Subject:
    """Spec 5.4: ``distinct_id`` added to person properties, ``$group_key`` to groups."""
    person = dict(query.person_properties)
    person.setdefault("distinct_id", query.distinct_id)
    groups = {str(k): str(v) for k, v in query.groups.items()}
    group_props: dict[str, Mapping[str, Any]] = dict(query.group_properties)
    for group_type, group_key in groups.items():
        group_props[group_type] = {"$group_key": group_key, **(group_props.get(group_type) or {})}
    device = query.device_id
    return Subject(
        str(query.distinct_id),
        None if device is None else str(device),
        groups,
        person,
        group_props,
    )


def from_local(ev: Evaluation, minimal: bool) -> FlagRecord:
    """A local evaluation as a record (inconclusive/missing ones carry no value)."""
    error = None
    if ev.reason is Reason.INCONCLUSIVE:
        error = "local_evaluation_inconclusive"
    elif ev.reason is Reason.FLAG_MISSING:
        error = "flag_missing"
    return FlagRecord(
        ev.key,
        ev.value,
        ev.payload,
        True,
        ev.description,
        ev.reason.value,
        ev.condition_index,
        error,
        ev.flag_id,
        ev.flag_version,
        ev.has_experiment,
        unresolved=ev.unresolved,
        minimal=minimal,
    )


def from_remote(key: str, response: RemoteResponse) -> FlagRecord:
    """The record for ``key`` in a ``/flags`` answer (missing/failed -> no value)."""
    flag: RemoteFlag | None = response.flags.get(key)
    common: dict[str, Any] = {
        "request_id": response.request_id,
        "evaluated_at": response.evaluated_at,
        "minimal": response.minimal_events,
    }
    if flag is None:
        return FlagRecord(
            key, None, None, False, "Flag not returned by the server", "flag_missing",
            error=_join("flag_missing", response), **common,
        )  # fmt: skip
    error = None
    if flag.malformed is not None:
        error = "unknown_error"
    elif flag.failed:
        error = "evaluation_failed"
    return FlagRecord(
        key,
        flag.value,
        flag.payload,
        False,
        flag.description or "Evaluated remotely",
        flag.reason_code or "remote",
        flag.condition_index,
        _join(error, response),
        flag.flag_id,
        flag.version,
        flag.has_experiment,
        **common,
    )


def _join(error: str | None, response: RemoteResponse) -> str | None:
    codes = [c for c in (error,) if c]
    if response.errors_while_computing:
        codes.append("errors_while_computing_flags")
    return ",".join(codes) or None


def failed_record(key: str, code: str, local: FlagRecord | None) -> FlagRecord:
    """No value because the remote call failed; keeps the local reason when there was one."""
    return FlagRecord(
        key,
        None,
        None,
        False,
        f"Remote evaluation failed: {code}",
        "error",
        error=code,
        unresolved=None if local is None else local.unresolved,
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
    ) -> None:
        self.transport = transport
        self.host = host
        self.api_key = api_key
        self.secret = secret
        self.timeout = timeout
        self.max_retries = max_retries
        self.enable_local_evaluation = enable_local_evaluation
        self.store = DefinitionStore()
        self._interval = poll_interval
        self._file = definitions
        self._lock = threading.Lock()
        self._poller: Poller | None = None
        self._loader: DefinitionLoader | None = None
        self._closed = False
        if definitions is not None:
            self.load_from_file()

    # -- definitions ---------------------------------------------------------------------
    def load_from_file(self) -> bool:
        assert self._file is not None
        try:
            self.store.publish(load_file(self._file))
            return True
        except (OSError, ValueError) as exc:
            log.error("[PostHog] could not read flag definitions from %r: %s", self._file, exc)
            return False

    def _loader_for(self) -> DefinitionLoader | None:
        if self.secret is None:
            return None
        if self._loader is None:
            self._loader = DefinitionLoader(
                self.transport, self.host, self.api_key, self.secret, self.store
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
        self.ensure_polling(immediate=False)

    def ensure_polling(self, immediate: bool = True) -> None:
        """Start the poller once (lazily: on the first flag call or ``load()``)."""
        if self._file is not None or self._closed or self.secret is None:
            return
        if self._poller is not None and self._poller.alive():
            return
        with self._lock:
            if self._poller is not None and self._poller.alive():
                return
            loader = self._loader_for()
            assert loader is not None
            if not self.enable_local_evaluation:
                if not self.store.current.loaded and self._poller is None:
                    thread = threading.Thread(target=loader.load, daemon=True)
                    thread.start()
                return
            self._poller = Poller(loader, self._interval, immediate=immediate)
            self._poller.start()

    def definitions(self, wait: bool = True) -> Definitions:
        """The current snapshot; the first call may wait (at most ``timeout``) for a load."""
        current = self.store.current
        if current.loaded or self.secret is None or self._file is not None:
            return current
        self.ensure_polling()
        if wait:
            self.store.wait_loaded(self.timeout)
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
        """Threads do not survive ``fork``: forget the poller; the next call restarts it."""
        self._poller = None
        self._lock = threading.Lock()

    # -- evaluation ----------------------------------------------------------------------
    def one(self, query: FlagQuery, key: str) -> FlagRecord:
        defs = self.definitions()
        flagset = defs.flagset
        local: FlagRecord | None = None
        if key in flagset.flags:
            ev = evaluate(flagset, key, make_subject(query))
            local = from_local(ev, flagset.minimal_flag_called_events)
            if ev.reason not in _GO_REMOTE:
                return local
        if query.only_evaluate_locally:
            if local is None:
                local = from_local(missing_flag(key), False)
            log.info("[PostHog] flag %r not evaluated locally: %s", key, local.reason)
            return local
        try:
            response = self.remote(query, [key])
        except Exception as exc:
            code = error_code(exc)
            log.warning("[PostHog] flag %r: remote evaluation failed (%s): %s", key, code, exc)
            return failed_record(key, code, local)
        record = from_remote(key, response)
        if record.error:
            log.warning("[PostHog] flag %r: %s", key, record.error)
        return record

    def fast(self, key: str, distinct_id: Any, options: Mapping[str, Any]) -> Evaluation | None:
        """The hot path of a single read: a conclusive local ``Evaluation``, or ``None``
        when the full path is needed (no definitions, groups, inconclusive, ...)."""
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
        return None if ev.reason in _GO_REMOTE else ev

    def local_values(self, query: FlagQuery) -> tuple[dict[str, Any], dict[str, str]] | None:
        """Bulk hot path: values and payload strings when local evaluation decides every
        flag (or the call is local-only); ``None`` when the full path is needed."""
        flagset = self.definitions().flagset
        if not flagset.flags:
            return None
        values: dict[str, Any] = {}
        payloads: dict[str, str] = {}
        for key, ev in evaluate_all(flagset, make_subject(query), query.keys).items():
            if ev.reason in _GO_REMOTE:
                if not query.only_evaluate_locally:
                    return None
                continue
            values[key] = ev.value
            if ev.payload is not None:
                payloads[key] = ev.payload
        return values, payloads

    def many(self, query: FlagQuery) -> Outcome:
        """Evaluate locally what we can; ask the server once for the rest."""
        defs = self.definitions()
        flagset: FlagSet = defs.flagset
        minimal = flagset.minimal_flag_called_events
        records: dict[str, FlagRecord] = {}
        pending: dict[str, FlagRecord] = {}
        if flagset.flags:
            for key, ev in evaluate_all(flagset, make_subject(query), query.keys).items():
                record = from_local(ev, minimal)
                (pending if ev.reason in _GO_REMOTE else records)[key] = record
        elif query.keys:
            pending = {k: from_local(missing_flag(k), False) for k in query.keys}
        ask_all = not flagset.flags and not query.keys
        if query.only_evaluate_locally or not (pending or ask_all):
            records.update(pending)
            return Outcome(records)
        try:
            response = self.remote(query, None if ask_all else list(pending))
        except Exception as exc:
            code = error_code(exc)
            log.warning("[PostHog] remote flag evaluation failed (%s): %s", code, exc)
            for key, local in pending.items():
                records[key] = failed_record(key, code, local)
            return Outcome(records, code, code == "quota_limited")
        for key in list(pending) if not ask_all else list(response.flags):
            if key not in records:  # local results win
                records[key] = from_remote(key, response)
        return Outcome(
            records, "errors_while_computing_flags" if response.errors_while_computing else None
        )

    def remote(self, query: FlagQuery, keys: Sequence[str] | None) -> RemoteResponse:
        body = build_body(
            api_key=self.api_key,
            distinct_id=query.distinct_id,
            groups=query.groups,
            person_properties=query.person_properties,
            group_properties=query.group_properties,
            geoip_disable=query.geoip_disable,
            device_id=query.device_id,
            flag_keys=keys,
        )
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
            log.warning("[PostHog] remote config for %r failed (%s): %s", key, error_code(exc), exc)
            return None
