"""Feature-flag methods of the client (a mixin, so ``client.py`` stays about capture).

Every public method here only resolves arguments, asks :class:`~posthog._flags.service.FlagService`
(local first, remote as a bounded fallback) and converts the record into the public
return type; ``$feature_flag_called`` goes out through the normal ``capture`` path.
No method raises unless ``debug=True``: errors become ``None`` plus a reason and a log line.

The pieces around that live next to it: building queries, shaping results and reporting
exposures (``posthog._client_flag_calls``, shared with ``AsyncPosthog``), flags on
captured events (``posthog._client_flag_events``) and the public answers built from
records (``posthog._flags.answers``, loaded with the first flag call).

Only these mixins and the exposure dedupe load with ``import posthog``; the engine, the
answers, the result types (:mod:`posthog.types`) and the event content load with the
first flag call, so a capture-only application never pays their import time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from posthog._client_flag_calls import FlagCallsMixin, flag_engine
from posthog._client_flag_events import EventFlagsMixin
from posthog._flags.dedupe import CalledDedupe

if TYPE_CHECKING:
    from posthog._delivery.stats import Reporter
    from posthog._flags.service import FlagService
    from posthog._transport.base import Transport
    from posthog.types import (
        FeatureFlagEvaluations,
        FeatureFlagResult,
        FlagsAndPayloads,
        FlagValue,
    )

__all__ = ["FlagsMixin"]

log = logging.getLogger("posthog")

T = TypeVar("T")


class FlagsMixin(FlagCallsMixin, EventFlagsMixin):
    if TYPE_CHECKING:
        transport: Transport
        host: str
        api_key: str
        config: Any
        _reporter: Reporter

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
            engine = flag_engine()
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

        from posthog._flags.answers import match_payload, payload_of

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
        from posthog._flags.answers import no_flags

        return self._guard(
            "get_all_flags_and_payloads",
            lambda: self._flags_and_payloads(distinct_id, options),
            no_flags(),
        )

    def _flags_and_payloads(self, distinct_id: Any, options: dict[str, Any]) -> FlagsAndPayloads:
        from posthog._flags.answers import flags_and_payloads, no_flags

        query = self._bulk_query(distinct_id, options)
        if query is None:
            return no_flags()
        fast = self._flags.local_values(query)
        if fast is not None:
            # None marks a payload that is not JSON (spec 3.8)
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


class _Disabled(Exception):
    """Internal: the client is disabled; the public call returns its default."""
