"""Everything around a flag call's one I/O step, shared by ``Posthog`` and ``AsyncPosthog``.

A flag call builds a query from its arguments (distinct id and device id fall back to
the context), asks the flag service - blocking on the sync client, awaited on the async
one - turns the record into the public result (:mod:`posthog._flags.answers`) and
reports ``$feature_flag_called`` once per (distinct id, flag, value, groups) through the
normal ``capture`` path. With all of that here, the two clients differ only in how they
wait for the answer.

This module and the exposure dedupe load with ``import posthog`` (``Client`` is built on
the mixin); the engine (:func:`flag_engine`), the answers, the result types and the
event content load with the first flag call, so a capture-only application never pays
their import time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from posthog._flags.dedupe import dedupe_key
from posthog.contexts import get_context_device_id, get_context_distinct_id

if TYPE_CHECKING:
    from posthog._flags.dedupe import CalledDedupe
    from posthog._flags.results import Evaluation
    from posthog._flags.service import FlagQuery, FlagService, Outcome
    from posthog.types import FeatureFlagEvaluations, FeatureFlagResult, FlagRecord

__all__ = ["FlagCallsMixin", "flag_engine"]

_engine: Any = None


def flag_engine() -> Any:
    """``posthog._flags.service`` and the engine behind it load on first flag use: a
    capture-only application never pays their import time."""
    global _engine
    if _engine is None:
        from posthog._flags import service

        _engine = service
    return _engine


#: The options every flag call takes (``send_feature_flag_events`` and
#: ``flag_keys_to_evaluate`` are taken off by the calls that have them).
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


class FlagCallsMixin:
    if TYPE_CHECKING:
        disabled: bool
        _flag_called: CalledDedupe

        def _geoip(self, value: Any) -> bool: ...

        @property
        def _flags(self) -> FlagService: ...

        def capture(self, *args: Any, **kwargs: Any) -> str | None: ...

    # -- the query -------------------------------------------------------------------------
    def _query(
        self, distinct_id: Any, options: Mapping[str, Any], keys: Sequence[str] | None = None
    ) -> FlagQuery:
        unknown = set(options) - _OPTIONS
        if unknown:
            raise TypeError(f"unexpected flag option(s): {sorted(unknown)}")
        ident = distinct_id if distinct_id is not None else get_context_distinct_id()
        device = options.get("device_id")
        query: FlagQuery = flag_engine().FlagQuery(
            ident,
            dict(options.get("groups") or {}),
            dict(options.get("person_properties") or {}),
            {k: dict(v or {}) for k, v in (options.get("group_properties") or {}).items()},
            bool(options.get("only_evaluate_locally")),
            self._geoip(options.get("disable_geoip")),
            device if device is not None else get_context_device_id(),
            None if keys is None else [str(k) for k in keys],
        )
        return query

    def _single_query(self, distinct_id: Any, options: dict[str, Any]) -> tuple[FlagQuery, bool]:
        """One flag's query and whether to report ``$feature_flag_called``."""
        send_events = bool(options.pop("send_feature_flag_events", True))
        return self._query(distinct_id, options), send_events

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

    # -- the answer ------------------------------------------------------------------------
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
        from posthog._flags.answers import missing_id_record, to_result

        if record is None:
            return to_result(missing_id_record(key))
        if send_events:
            from posthog._flags.events import single_read_exposure

            shown = single_read_exposure(record)
            self._report(shown, query.distinct_id, query.groups, options.get("disable_geoip"))
        return to_result(record)

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

    # -- exposures: $feature_flag_called ---------------------------------------------------
    def _report_from_snapshot(self, record: FlagRecord, snapshot: FeatureFlagEvaluations) -> None:
        if snapshot.distinct_id is not None and not self.disabled:
            self._report(record, snapshot.distinct_id, snapshot.groups, snapshot.disable_geoip)

    def _report_local(self, ev: Evaluation, distinct_id: Any, geoip: Any) -> None:
        if self._flag_called.seen(distinct_id, dedupe_key(ev.key, ev.value, None)):
            return  # the common case: nothing to build
        minimal = self._flags.store.current.flagset.minimal_flag_called_events
        self._report(flag_engine().from_local(ev, minimal), distinct_id, {}, geoip)

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
