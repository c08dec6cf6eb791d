"""Feature-flag methods of the client (a mixin, so ``client.py`` stays about capture).

Every method here only resolves arguments, asks :class:`~posthog._flags.service.FlagService`
(local first, remote as a bounded fallback) and converts the record into the public
return type; ``$feature_flag_called`` goes out through the normal ``capture`` path.
No method raises unless ``debug=True``: errors become ``None`` plus a reason and a log line.

Only this mixin and the exposure dedupe load with ``import posthog``; the engine, the
result types (:mod:`posthog.types`) and the event content load with the first flag call,
so a capture-only application never pays their import time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from posthog._flags.dedupe import CalledDedupe, dedupe_key
from posthog.contexts import ContextScope, get_context_device_id, get_context_distinct_id

if TYPE_CHECKING:
    from posthog._delivery.stats import Reporter
    from posthog._flags.results import Evaluation
    from posthog._flags.service import FlagQuery, FlagService, Outcome
    from posthog._transport.base import Transport
    from posthog.types import (
        FeatureFlagEvaluations,
        FeatureFlagResult,
        FlagRecord,
        FlagsAndPayloads,
        FlagValue,
    )

__all__ = ["FlagsMixin"]

log = logging.getLogger("posthog")

T = TypeVar("T")

_engine: Any = None


def _service_module() -> Any:
    """``posthog._flags.service`` and the engine behind it load on first flag use: a
    capture-only application never pays their import time."""
    global _engine
    if _engine is None:
        from posthog._flags import service

        _engine = service
    return _engine


class FlagsMixin:
    if TYPE_CHECKING:
        disabled: bool
        disable_geoip: bool
        transport: Transport
        host: str
        api_key: str
        config: Any
        _reporter: Reporter

        @property
        def debug(self) -> bool: ...

        def capture(self, *args: Any, **kwargs: Any) -> str | None: ...

    # -- hooks called by Client ------------------------------------------------------------
    def _init_flags(
        self,
        *,
        secret_key: str | None,
        personal_api_key: str | None,
        poll_interval: float,
        enable_local_evaluation: bool,
        flag_definitions: str | Mapping[str, Any] | None,
    ) -> None:
        self.secret_key = (secret_key or personal_api_key or "").strip() or None
        self.personal_api_key = self.secret_key
        self._poll_interval = float(poll_interval)
        self._flag_called = CalledDedupe()
        self._flag_service: FlagService | None = None
        self._flag_service_options = (enable_local_evaluation, flag_definitions)

    @property
    def _flags(self) -> FlagService:
        service = self._flag_service
        if service is None:
            enable_local_evaluation, flag_definitions = self._flag_service_options
            engine = _service_module()
            service = engine.FlagService(
                transport=self.transport,
                host=self.host,
                api_key=self.api_key,
                secret=self.secret_key,
                timeout=self.config.feature_flags_request_timeout_seconds,
                max_retries=self.config.feature_flags_request_max_retries,
                poll_interval=lambda: self._poll_interval,
                enable_local_evaluation=enable_local_evaluation,
                definitions=flag_definitions,
                warn=engine.FlagLog(self._reporter),  # flag errors: the capture side's limit
            )
            self._flag_service = service
        return service

    def _capture_flag_properties(
        self, call: Any, scope: ContextScope | None
    ) -> dict[str, Any] | None:
        snapshot = call.flags
        if snapshot is not None:
            props = getattr(snapshot, "_event_properties", None)
            return dict(props()) if callable(props) else None
        option = call.send_feature_flags
        if not option:
            return None
        try:
            return self._flags_for_event(call, scope, option)
        except Exception as exc:
            if self.debug:
                raise
            log.warning("[PostHog] send_feature_flags failed; event sent without flags: %r", exc)
            return None

    def _shutdown_flags(self) -> None:
        if self._flag_service is not None:
            self._flag_service.close()
        self._flag_called.clear()

    def _flags_after_fork(self) -> None:
        if self._flag_service is not None:
            self._flag_service.after_fork()

    # -- settings --------------------------------------------------------------------------
    @property
    def poll_interval(self) -> float:
        """Seconds between definition polls; setting it applies to a running poller."""
        return self._poll_interval

    @poll_interval.setter
    def poll_interval(self, value: float) -> None:
        self._poll_interval = float(value)
        if self._flag_service is not None:
            self._flag_service.interval_changed()

    # -- single flags ----------------------------------------------------------------------
    def feature_enabled(self, key: str, distinct_id: Any = None, **options: Any) -> bool | None:
        """True/False, or ``None`` when the flag could not be computed."""

        value = self.get_feature_flag(key, distinct_id, **options)
        return None if value is None else bool(value)

    def get_feature_flag(self, key: str, distinct_id: Any = None, **options: Any) -> Any:
        """The variant, True or False; ``None`` when the flag could not be computed."""
        try:
            if self.disabled:
                return None
            # hot path: a conclusive local answer without building result objects
            ev = self._flags.fast(key, distinct_id, options)
            if ev is None:
                return self._result(key, distinct_id, options).get_value()
            if options.get("send_feature_flag_events", True):
                self._report_local(ev, distinct_id, options.get("disable_geoip"))
            return ev.value
        except Exception as exc:
            if self.debug:
                raise
            log.warning("[PostHog] error in get_feature_flag: %r", exc)
            return None

    def get_feature_flag_result(
        self, key: str, distinct_id: Any = None, **options: Any
    ) -> FeatureFlagResult | None:
        """Value, decoded payload and a structured reason (``None`` only when disabled)."""
        return self._guard(
            "get_feature_flag_result", lambda: self._result(key, distinct_id, options), None
        )

    def get_feature_flag_payload(
        self, key: str, distinct_id: Any = None, *, match_value: Any = None, **options: Any
    ) -> Any:
        """The decoded payload of the flag's value (or of ``match_value``)."""

        def run() -> Any:
            options.setdefault("send_feature_flag_events", False)
            if match_value is not None:
                flagset = self._flags.definitions().flagset
                if key in flagset.flags and not options["send_feature_flag_events"]:
                    return match_payload(flagset, key, match_value)
            result = self._result(key, distinct_id, options)
            return payload_of(result, self._flags.store.current.flagset, match_value)

        return self._guard("get_feature_flag_payload", run, None)

    def _result(self, key: str, distinct_id: Any, options: dict[str, Any]) -> FeatureFlagResult:
        if self.disabled:
            raise _Disabled
        query, send_events = self._single_query(distinct_id, options)
        record = None if query.distinct_id is None else self._flags.one(query, str(key))
        return self._single_result(key, query, record, send_events, options)

    # -- bulk ------------------------------------------------------------------------------
    def get_all_flags(self, distinct_id: Any = None, **options: Any) -> dict[str, FlagValue] | None:
        """Every flag's value: local where possible, one remote call for the rest."""

        def run() -> dict[str, FlagValue] | None:
            return self._flags_and_payloads(distinct_id, options)["featureFlags"]

        return self._guard("get_all_flags", run, None)

    def get_all_flags_and_payloads(
        self, distinct_id: Any = None, **options: Any
    ) -> FlagsAndPayloads:
        """``{"featureFlags": {...}, "featureFlagPayloads": {key: JSON string}}``."""
        return self._guard(
            "get_all_flags_and_payloads",
            lambda: self._flags_and_payloads(distinct_id, options),
            _nothing(),
        )

    def _flags_and_payloads(self, distinct_id: Any, options: dict[str, Any]) -> FlagsAndPayloads:
        query = self._bulk_query(distinct_id, options)
        if query is None:
            return _nothing()
        fast = self._flags.local_values(query)
        if fast is not None:
            # None marks a payload that is not JSON (spec 3.8); FlagsAndPayloads in
            # posthog.types still says dict[str, str]
            return {"featureFlags": fast[0], "featureFlagPayloads": fast[1]}
        return flags_and_payloads(self._flags.many(query))

    def evaluate_flags(
        self, distinct_id: Any = None, *, flag_keys: Sequence[str] | None = None, **options: Any
    ) -> FeatureFlagEvaluations:
        """A snapshot for one subject; reads report exposures, ``capture(flags=)`` attaches it."""

        from posthog.types import FeatureFlagEvaluations

        def run() -> FeatureFlagEvaluations:
            query = self._query(distinct_id, options, flag_keys)
            outcome = self._flags.many(query) if self._wants_snapshot(query, flag_keys) else None
            return self._snapshot_of(query, options, outcome)

        return self._guard("evaluate_flags", run, FeatureFlagEvaluations())

    # -- definitions and remote config -----------------------------------------------------
    def load_feature_flags(self) -> None:
        """Load definitions now (synchronously, bounded) and start polling."""
        if self.disabled:
            return
        self._guard("load_feature_flags", self._flags.load, None)

    def feature_flag_definitions(self) -> list[dict[str, Any]] | None:
        """The loaded flag definitions as the server sent them (``None`` before a load)."""
        current = self._flags.store.current
        if not current.loaded:
            return None
        return [dict(f.raw) for f in current.flagset.flags.values()]

    def get_remote_config_payload(self, key: str) -> Any:
        """The decrypted payload of a remote-config flag (needs ``secret_key``)."""
        if self.disabled:
            return None
        return self._guard(
            "get_remote_config_payload", lambda: self._flags.remote_config(key), None
        )

    # -- plumbing --------------------------------------------------------------------------
    def _query(
        self, distinct_id: Any, options: Mapping[str, Any], keys: Sequence[str] | None = None
    ) -> FlagQuery:
        unknown = set(options) - _OPTIONS
        if unknown:
            raise TypeError(f"unexpected flag option(s): {sorted(unknown)}")
        ident = distinct_id if distinct_id is not None else get_context_distinct_id()
        device = options.get("device_id")
        geoip = options.get("disable_geoip")
        query: FlagQuery = _service_module().FlagQuery(
            ident,
            dict(options.get("groups") or {}),
            dict(options.get("person_properties") or {}),
            {k: dict(v or {}) for k, v in (options.get("group_properties") or {}).items()},
            bool(options.get("only_evaluate_locally")),
            bool(self.disable_geoip if geoip is None else geoip),
            device if device is not None else get_context_device_id(),
            None if keys is None else [str(k) for k in keys],
        )
        return query

    # Shared with AsyncPosthog: everything around the one awaited (or blocking) flag I/O
    # call, so that the two clients differ only in how they wait for it.
    def _single_query(self, distinct_id: Any, options: dict[str, Any]) -> tuple[FlagQuery, bool]:
        """One flag's query and whether to report ``$feature_flag_called``."""
        send_events = bool(options.pop("send_feature_flag_events", True))
        return self._query(distinct_id, options), send_events

    def _single_result(
        self,
        key: str,
        query: FlagQuery,
        record: FlagRecord | None,
        send_events: bool,
        options: Mapping[str, Any],
    ) -> FeatureFlagResult:
        """``record`` (``None``: there was no distinct id to ask for) as the public result,
        reported once as ``$feature_flag_called`` when asked to."""
        if record is None:
            return _to_result(missing_id_record(key))
        if send_events:
            from posthog._flags.events import single_read_exposure

            shown = single_read_exposure(record)
            self._report(shown, query.distinct_id, query.groups, options.get("disable_geoip"))
        return _to_result(record)

    def _bulk_query(self, distinct_id: Any, options: dict[str, Any]) -> FlagQuery | None:
        """The query of ``get_all_flags*``; ``None`` when the answer is "nothing"."""
        if self.disabled:
            return None
        keys = options.pop("flag_keys_to_evaluate", None)
        query = self._query(distinct_id, options, keys)
        return None if query.distinct_id is None else query

    def _wants_snapshot(self, query: FlagQuery, flag_keys: Sequence[str] | None) -> bool:
        """False when ``evaluate_flags`` answers an empty snapshot without evaluating."""
        asked_none = flag_keys is not None and not flag_keys
        return not (self.disabled or query.distinct_id is None or asked_none)

    def _snapshot_of(
        self, query: FlagQuery, options: Mapping[str, Any], outcome: Outcome | None
    ) -> FeatureFlagEvaluations:
        """The ``evaluate_flags`` snapshot (empty without an outcome); reads report here."""
        from posthog.types import FeatureFlagEvaluations

        if outcome is None:
            return FeatureFlagEvaluations(query.distinct_id, dict(query.groups))
        return FeatureFlagEvaluations(
            query.distinct_id,
            dict(query.groups),
            options.get("disable_geoip"),
            outcome.quota_limited,
            outcome.error,
            MappingProxyType(outcome.records),
            self._report_from_snapshot,
            set(),
        )

    def _guard(self, name: str, run: Callable[[], T], default: T) -> T:
        try:
            return run()
        except _Disabled:
            return default
        except Exception as exc:
            if self.debug:
                raise
            log.warning("[PostHog] error in %s: %r", name, exc)
            return default

    def _report_from_snapshot(self, record: FlagRecord, snapshot: FeatureFlagEvaluations) -> None:
        if snapshot.distinct_id is not None and not self.disabled:
            self._report(record, snapshot.distinct_id, snapshot.groups, snapshot.disable_geoip)

    def _report_local(self, ev: Evaluation, distinct_id: Any, geoip: Any) -> None:
        if self._flag_called.seen(distinct_id, dedupe_key(ev.key, ev.value, None)):
            return  # the common case: nothing to build
        minimal = self._flags.store.current.flagset.minimal_flag_called_events
        self._report(_service_module().from_local(ev, minimal), distinct_id, {}, geoip)

    def _report(
        self, record: FlagRecord, distinct_id: Any, groups: Mapping[str, Any], geoip: Any
    ) -> None:
        """Send ``$feature_flag_called`` once per (distinct id, flag, value, groups)."""
        if not self._flag_called.first_time(
            distinct_id, dedupe_key(record.key, record.value, groups)
        ):
            return
        from posthog._flags.events import FlagCalled, called_properties
        from posthog.types import decode_payload

        read = FlagCalled(
            record.key,
            record.value,
            decode_payload(record.payload),
            record.locally_evaluated,
            record.reason,
            record.reason_code,
            record.condition_index,
            record.error,
            record.flag_id,
            record.version,
            record.has_experiment,
            record.request_id,
            record.evaluated_at,
            record.minimal,
        )
        self.capture(
            "$feature_flag_called",
            distinct_id=distinct_id,
            properties=called_properties(read),
            groups=dict(groups) or None,
            disable_geoip=geoip,
        )

    def _flags_for_event(
        self, call: Any, scope: ContextScope | None, option: Any
    ) -> dict[str, Any] | None:
        """``capture(send_feature_flags=...)``: ``$feature/*`` and ``$active_feature_flags``.

        Local when definitions are loaded (or ``only_evaluate_locally`` says so), else one
        bounded remote call: the sync client's capture may wait for it (spec 5.7)."""
        request = event_flag_request(call, scope, option)
        if request is None:
            return None
        ident, opts = request
        self._flags.ensure_polling()
        local_only = opts.get("only_evaluate_locally")
        if local_only is None:
            local_only = bool(self._flags.store.current.flagset.flags)
        outcome = self._flags.many(self._event_query(call, ident, opts, bool(local_only)))
        from posthog._flags.events import event_flag_properties

        return event_flag_properties({k: r.value for k, r in outcome.records.items()})

    def _event_query(
        self, call: Any, ident: Any, opts: Mapping[str, Any], local_only: bool
    ) -> FlagQuery:
        """The flag query of one ``capture(send_feature_flags=opts)`` for ``ident``."""
        query: FlagQuery = _service_module().FlagQuery(
            ident,
            dict(call.groups or {}),
            dict(opts.get("person_properties") or {}),
            dict(opts.get("group_properties") or {}),
            local_only,
            self._geoip_flag(call.disable_geoip),
            get_context_device_id(),
            opts.get("flag_keys_filter"),
        )
        return query

    def _geoip_flag(self, value: Any) -> bool:
        return bool(self.disable_geoip if value is None else value)


class _Disabled(Exception):
    """Internal: the client is disabled; the public call returns its default."""


_OPTIONS = frozenset(
    {
        "groups",
        "person_properties",
        "group_properties",
        "only_evaluate_locally",
        "disable_geoip",
        "device_id",
    }
)


def event_flag_request(
    call: Any, scope: ContextScope | None, option: Any
) -> tuple[Any, Mapping[str, Any]] | None:
    """``(distinct id, options)`` of ``capture(send_feature_flags=option)``, or ``None``
    when no flags go with the event (``should_send`` is False, or nobody to evaluate for)."""
    if isinstance(option, Mapping):
        if option.get("should_send") is False:
            return None
        opts: Mapping[str, Any] = option
    elif option is True:
        opts = {}
    else:
        raise TypeError("send_feature_flags must be a bool or a dict")
    ident = call.distinct_id
    if ident is None and scope is not None:
        ident = scope.resolved_distinct_id()
    if ident is None:
        return None
    return ident, opts


def missing_id_record(key: str) -> FlagRecord:
    """The record of a flag call made with no distinct id (and none in the context)."""
    from posthog.types import FlagRecord

    return FlagRecord(key, None, None, False, "No distinct_id given", "error",
                      error="missing_distinct_id")  # fmt: skip


def flags_and_payloads(outcome: Outcome) -> FlagsAndPayloads:
    """``get_all_flags_and_payloads``' answer: the values that resolved and their payloads
    (JSON strings; ``None`` for one that is not valid JSON, spec 3.8).

    A failed remote call leaves only what local evaluation decided, ``{}`` when nothing
    was: never ``None``, which means a disabled client or no one to evaluate for (spec
    2.3/5.1: the bulk answer is built from the remote answer, empty after an error)."""
    records = outcome.records
    values = {k: r.value for k, r in records.items() if r.value is not None}
    payloads = _service_module().bulk_payloads(records)
    return {"featureFlags": values, "featureFlagPayloads": payloads}


def match_payload(flagset: Any, key: str, match_value: Any) -> Any:
    """The decoded payload the loaded definition of ``key`` gives ``match_value``."""
    from posthog.types import decode_payload

    return decode_payload(_service_module().payload_for(flagset, key, match_value))


def payload_of(result: FeatureFlagResult, flagset: Any, match_value: Any) -> Any:
    """``get_feature_flag_payload``'s answer once the flag was evaluated: a local
    evaluation looks ``match_value`` up in the definitions, a remote one keeps its payload."""
    if match_value is not None and result.locally_evaluated:
        return match_payload(flagset, result.key, match_value)
    return result.payload


def _to_result(record: FlagRecord) -> FeatureFlagResult:
    from posthog.types import FeatureFlagResult, decode_payload

    value = record.value
    return FeatureFlagResult(
        key=record.key,
        enabled=bool(value),
        variant=value if isinstance(value, str) else None,
        # a False keeps its payload: a local "false" one (spec 6.7), the server's (5.1)
        payload=decode_payload(record.payload),
        reason=record.reason,
        reason_code=record.reason_code,
        condition_index=record.condition_index,
        error=record.error,
        locally_evaluated=record.locally_evaluated,
        flag_id=record.flag_id,
        version=record.version,
        request_id=record.request_id,
        unresolved=record.unresolved,
        has_value=value is not None,
    )


def _nothing() -> FlagsAndPayloads:
    return {"featureFlags": None, "featureFlagPayloads": None}
