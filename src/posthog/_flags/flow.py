"""The steps of a flag call (spec 5.1), pure and shared by the sync and asyncio clients.

Local first: ``single_local`` and ``plan_bulk`` evaluate what the definitions decide and
say whether the server must be asked; ``single_answer``/``bulk_answer`` and
``single_failed``/``bulk_failed`` turn the one remote answer (or its error) into records.
``FlagService`` and ``AsyncFlags`` only do the I/O between these steps.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from posthog._flags.evaluator import evaluate, evaluate_all
from posthog._flags.model import FlagSet
from posthog._flags.remote import RemoteFlag, RemoteResponse, build_body, error_code
from posthog._flags.results import Evaluation, Reason, Subject, missing_flag
from posthog.types import FlagRecord, is_json_text

__all__ = [
    "GO_REMOTE",
    "BulkPlan",
    "FlagLog",
    "FlagQuery",
    "Outcome",
    "bulk_answer",
    "bulk_failed",
    "bulk_payload",
    "bulk_payloads",
    "failed_record",
    "from_local",
    "from_remote",
    "local_records",
    "make_subject",
    "plan_bulk",
    "remote_body",
    "single_answer",
    "single_failed",
    "single_local",
]

log = logging.getLogger("posthog")

GO_REMOTE = (Reason.INCONCLUSIVE, Reason.FLAG_MISSING)


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


@dataclass(frozen=True, slots=True)
class BulkPlan:
    """A bulk call after local evaluation: one ``/flags`` call for ``ask`` is needed."""

    records: dict[str, FlagRecord]  # decided locally
    pending: dict[str, FlagRecord]  # the server decides these (their local record)
    ask: list[str] | None  # keys for ``/flags``; None asks for every flag


class Limiter(Protocol):
    """The client's log rate limiter (``posthog._delivery.stats.Reporter``)."""

    def limit(self, key: str, count: int = 1) -> tuple[bool, int]: ...


class FlagLog:
    """Where flag call errors are logged: one line per error kind per minute (the capture
    side's limiter), the next one naming how many were left out; every line while debug
    logging is on (``debug=True``). Results and ``$feature_flag_error`` still carry each
    error: only the log is limited, so a server that is down cannot flood it."""

    def __init__(self, limiter: Limiter | None) -> None:
        self._limiter = limiter  # None: every line (e.g. a service built without a client)

    def __call__(self, kind: str, message: str) -> None:
        if self._limiter is None or log.isEnabledFor(logging.DEBUG):
            log.warning("[PostHog] %s", message)
            return
        due, count = self._limiter.limit("flags:" + kind)
        if due:
            left_out = count - 1
            more = f" ({left_out} more with {kind} since the last line)" if left_out else ""
            log.warning("[PostHog] %s%s", message, more)


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
    description = flag.description or "Evaluated remotely"
    if flag.malformed is not None:  # spec 5.1: reads as disabled, unknown_error
        error = "unknown_error"
        description = f"Malformed /flags record ({flag.malformed} has the wrong type)"
    elif flag.failed:
        error = "evaluation_failed"
    return FlagRecord(
        key,
        flag.value,
        flag.payload,
        False,
        description,
        "error" if flag.malformed is not None else flag.reason_code or "remote",
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


def remote_body(api_key: str, query: FlagQuery, keys: Sequence[str] | None) -> dict[str, Any]:
    """The ``/flags`` body of a query (spec 6.8: the caller's properties, not the subject)."""
    return build_body(
        api_key=api_key,
        distinct_id=query.distinct_id,
        groups=query.groups,
        person_properties=query.person_properties,
        group_properties=query.group_properties,
        geoip_disable=query.geoip_disable,
        device_id=query.device_id,
        flag_keys=keys,
    )


# -- one flag ----------------------------------------------------------------------------
def single_local(
    flagset: FlagSet, query: FlagQuery, key: str, *, local_only: bool
) -> tuple[FlagRecord | None, bool]:
    """The local record of one flag and whether it is final (no ``/flags`` call)."""
    local: FlagRecord | None = None
    if key in flagset.flags:
        ev = evaluate(flagset, key, make_subject(query))
        local = from_local(ev, flagset.minimal_flag_called_events)
        if ev.reason not in GO_REMOTE:
            return local, True
    if not local_only:
        return local, False
    if local is None:
        local = from_local(missing_flag(key), False)
    log.info("[PostHog] flag %r not evaluated locally: %s", key, local.reason)
    return local, True


def single_answer(key: str, response: RemoteResponse, warn: FlagLog) -> FlagRecord:
    record = from_remote(key, response)
    if record.error:
        warn(record.error, f"flag {key!r}: {record.error}")
    return record


def single_failed(key: str, exc: Exception, local: FlagRecord | None, warn: FlagLog) -> FlagRecord:
    code = error_code(exc)
    warn(code, f"flag {key!r}: remote evaluation failed ({code}): {exc}")
    return failed_record(key, code, local)


# -- many flags --------------------------------------------------------------------------
def local_records(
    flagset: FlagSet, query: FlagQuery
) -> tuple[dict[str, FlagRecord], dict[str, FlagRecord]]:
    """Split local results into decided records and those that need the server."""
    records: dict[str, FlagRecord] = {}
    pending: dict[str, FlagRecord] = {}
    if flagset.flags:
        minimal = flagset.minimal_flag_called_events
        for key, ev in evaluate_all(flagset, make_subject(query), query.keys).items():
            (pending if ev.reason in GO_REMOTE else records)[key] = from_local(ev, minimal)
    elif query.keys:
        pending = {k: from_local(missing_flag(k), False) for k in query.keys}
    return records, pending


def plan_bulk(flagset: FlagSet, query: FlagQuery, *, local_only: bool) -> BulkPlan | Outcome:
    """Evaluate locally what we can: the final ``Outcome``, or what to ask the server."""
    records, pending = local_records(flagset, query)
    ask_all = not flagset.flags and not query.keys
    if local_only or not (pending or ask_all):
        records.update(pending)
        return Outcome(records)
    return BulkPlan(records, pending, None if ask_all else list(pending))


def bulk_answer(plan: BulkPlan, response: RemoteResponse) -> Outcome:
    """Remote records for the pending keys (or everything asked); local results win."""
    records = dict(plan.records)
    for key in list(response.flags) if plan.ask is None else plan.ask:
        if key not in records:
            records[key] = from_remote(key, response)
    error = "errors_while_computing_flags" if response.errors_while_computing else None
    return Outcome(records, error)


def bulk_failed(plan: BulkPlan, exc: Exception, warn: FlagLog) -> Outcome:
    code = error_code(exc)
    warn(code, f"remote flag evaluation failed ({code}): {exc}")
    records = dict(plan.records)
    for key, local in plan.pending.items():
        records[key] = failed_record(key, code, local)
    return Outcome(records, code, code == "quota_limited")


def bulk_payloads(records: Mapping[str, FlagRecord]) -> dict[str, str | None]:
    """``featureFlagPayloads`` of a bulk answer (spec 3.8): each record with a value and
    a payload - from the server only when enabled - as ``bulk_payload`` gives it."""
    return {
        key: bulk_payload(record.payload)
        for key, record in records.items()
        if record.payload is not None
        and record.value is not None
        and (record.value or record.locally_evaluated)
    }


@lru_cache(maxsize=1024)  # the same few definition strings, read by every bulk call
def bulk_payload(payload: str) -> str | None:
    """A payload as bulk getters return it (spec 3.8): the JSON string when it is valid
    JSON (``NaN``/``Infinity`` are not), else ``None``; the key is listed either way."""
    return payload if is_json_text(payload) else None
