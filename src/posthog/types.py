"""Public types: capture arguments, and the results of the feature-flag API.

``OptionalCaptureArgs`` / ``OptionalSetArgs`` name the keyword options of ``capture`` and
``set``/``set_once`` (for typing ``**kwargs`` passed through); ``BeforeSendCallback`` is the
``before_send`` hook; ``ID_TYPES`` what a distinct id may be (it is sent as ``str(id)``).

``FeatureFlagResult`` is one evaluation with its reason; ``FlagsAndPayloads`` is what the
bulk getters return; ``FeatureFlagEvaluations`` is the snapshot ``evaluate_flags()``
returns and ``capture(..., flags=snapshot)`` attaches to an event without any network.
"""

from __future__ import annotations

import datetime
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypedDict

__all__ = [
    "ID_TYPES",
    "BeforeSendCallback",
    "FeatureFlagError",
    "FeatureFlagEvaluations",
    "FeatureFlagResult",
    "FlagValue",
    "FlagsAndPayloads",
    "OptionalCaptureArgs",
    "OptionalSetArgs",
    "SendFeatureFlagsOptions",
]

log = logging.getLogger("posthog")

FlagValue = bool | str

#: What a distinct id may be; any of these is sent as ``str(value)``.
ID_TYPES = int | float | str | uuid.UUID

#: ``before_send(message) -> message | None``: return the (possibly changed) message to
#: send it, ``None`` to drop it (counted as ``before_send``).
BeforeSendCallback = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class SendFeatureFlagsOptions(TypedDict, total=False):
    """``capture(..., send_feature_flags={...})`` (deprecated; prefer ``flags=snapshot``)."""

    should_send: bool
    only_evaluate_locally: bool | None
    person_properties: dict[str, Any]
    group_properties: dict[str, dict[str, Any]]
    flag_keys_filter: list[str]


class OptionalSetArgs(TypedDict, total=False):
    """Keyword options of ``set`` / ``set_once``."""

    distinct_id: ID_TYPES | None
    properties: dict[str, Any] | None
    timestamp: datetime.datetime | str | None
    uuid: str | uuid.UUID | None
    disable_geoip: bool | None


class OptionalCaptureArgs(TypedDict, total=False):
    """Keyword options of ``capture(event, **kwargs)``."""

    distinct_id: ID_TYPES | None
    properties: dict[str, Any] | None
    timestamp: datetime.datetime | str | None
    uuid: str | uuid.UUID | None
    groups: dict[str, str] | None
    flags: FeatureFlagEvaluations | None
    send_feature_flags: bool | SendFeatureFlagsOptions
    disable_geoip: bool | None


class FeatureFlagError:
    """Error codes carried by results (``error``) and ``$feature_flag_error``."""

    ERRORS_WHILE_COMPUTING = "errors_while_computing_flags"
    EVALUATION_FAILED = "evaluation_failed"
    FLAG_MISSING = "flag_missing"
    LOCAL_EVALUATION_INCONCLUSIVE = "local_evaluation_inconclusive"
    QUOTA_LIMITED = "quota_limited"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    UNKNOWN_ERROR = "unknown_error"

    @staticmethod
    def api_error(status: int | str) -> str:
        return f"api_error_{status}"


class FlagsAndPayloads(TypedDict):
    featureFlags: dict[str, FlagValue] | None
    featureFlagPayloads: dict[str, str | None] | None


def decode_payload(payload: str | None) -> Any:
    """A JSON payload string decoded (``NaN``/``Infinity`` rejected); invalid -> None."""
    if payload is None:
        return None
    try:
        return json.loads(payload, parse_constant=_reject_constant)
    except (ValueError, TypeError, RecursionError):  # RecursionError: absurdly deep nesting
        return None


def is_json_text(payload: str) -> bool:
    """Whether ``payload`` is valid JSON (``NaN``/``Infinity`` are not)."""
    try:
        json.loads(payload, parse_constant=_reject_constant)
    except (ValueError, TypeError, RecursionError):
        return False
    return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@dataclass(frozen=True, slots=True)
class FeatureFlagResult:
    """One flag for one subject: value, decoded payload, and why.

    ``reason`` is a human description; ``reason_code`` a stable code (``condition_match``,
    ``no_condition_match``, ``out_of_rollout_bound``, ``disabled``, ``holdout``,
    ``group_not_passed``, ``inconclusive``, ``flag_missing``, ``error``, or the server's
    code for remote results). ``error`` is set when the value could not be computed; then
    ``get_value()`` is ``None``.
    """

    key: str
    enabled: bool
    variant: str | None = None
    payload: Any = None
    reason: str | None = None
    reason_code: str | None = None
    condition_index: int | None = None
    error: str | None = None
    locally_evaluated: bool = False
    flag_id: int | None = None
    version: int | None = None
    request_id: str | None = None
    unresolved: str | None = None
    has_value: bool = True

    def get_value(self) -> FlagValue | None:
        """The variant, else ``enabled``; ``None`` when no value could be computed."""
        if not self.has_value:
            return None
        return self.variant or self.enabled


@dataclass(slots=True)
class FlagRecord:
    """One flag inside a snapshot (internal; not frozen only because that is ~2x faster to build)."""

    key: str
    value: FlagValue | None
    payload: str | None  # JSON string
    locally_evaluated: bool
    reason: str | None = None
    reason_code: str | None = None
    condition_index: int | None = None
    error: str | None = None
    flag_id: int | None = None
    version: int | None = None
    has_experiment: bool | None = None
    request_id: str | None = None
    evaluated_at: int | None = None
    unresolved: str | None = None
    minimal: bool = False  # the server asked for minimal $feature_flag_called events


# (record, snapshot) -> None: emits $feature_flag_called (deduplicated by the client).
Reporter = Callable[[FlagRecord, "FeatureFlagEvaluations"], None]


@dataclass(frozen=True)
class FeatureFlagEvaluations:
    """A snapshot of flag values for one subject, evaluated once.

    Reading a flag with :meth:`is_enabled` / :meth:`get_flag` reports an exposure
    (``$feature_flag_called``, deduplicated); :meth:`get_flag_payload` does not. Pass the
    snapshot to ``capture(..., flags=snapshot)`` to attach ``$feature/<key>`` and
    ``$active_feature_flags`` without any network call.
    """

    distinct_id: str | None = None
    groups: Mapping[str, Any] = field(default_factory=dict)
    disable_geoip: bool | None = None
    quota_limited: bool = False
    error: str | None = None
    _records: Mapping[str, FlagRecord] = field(default_factory=dict)
    _reporter: Reporter | None = field(default=None, repr=False, compare=False)
    _accessed: set[str] = field(default_factory=set, repr=False, compare=False)

    @property
    def keys(self) -> list[str]:
        return list(self._records)

    @property
    def unresolved_flags(self) -> Mapping[str, str]:
        """Keys that could not be resolved locally or remotely, with the reason."""
        return MappingProxyType(
            {k: r.unresolved for k, r in self._records.items() if r.unresolved and r.value is None}
        )

    def _read(self, key: str, send_feature_flag_events: bool) -> FlagRecord | None:
        record = self._records.get(key)
        self._accessed.add(key)
        if send_feature_flag_events and self._reporter is not None:
            shown = record or FlagRecord(
                key, None, None, False, "Flag not in snapshot", "flag_missing", error="flag_missing"
            )
            try:
                self._reporter(shown, self)
            except Exception as exc:  # never let reporting break the caller's flag check
                log.warning("[PostHog] could not report flag %r: %r", key, exc)
        return record

    def is_enabled(
        self, key: str, default_value: bool = False, *, send_feature_flag_events: bool = True
    ) -> bool:
        record = self._read(key, send_feature_flag_events)
        if record is None or record.value is None:
            return default_value
        return bool(record.value)

    def get_flag(self, key: str, *, send_feature_flag_events: bool = True) -> FlagValue | None:
        record = self._read(key, send_feature_flag_events)
        return None if record is None else record.value

    def get_flag_payload(self, key: str) -> Any:
        record = self._records.get(key)
        return None if record is None else decode_payload(record.payload)

    def get_flag_result(self, key: str) -> FlagRecord | None:
        """The full record (value, reason, error) without reporting an exposure."""
        return self._records.get(key)

    def only_accessed(self) -> FeatureFlagEvaluations:
        return self._filtered([k for k in self._records if k in self._accessed])

    def only(self, keys: Iterable[str]) -> FeatureFlagEvaluations:
        wanted = list(keys)
        unknown = [k for k in wanted if k not in self._records]
        if unknown:
            log.warning("[PostHog] flags not in this snapshot: %s", ", ".join(unknown))
        return self._filtered([k for k in wanted if k in self._records])

    def _filtered(self, keys: list[str]) -> FeatureFlagEvaluations:
        return FeatureFlagEvaluations(
            self.distinct_id,
            self.groups,
            self.disable_geoip,
            self.quota_limited,
            self.error,
            MappingProxyType({k: self._records[k] for k in keys}),
            self._reporter,
            set(),
        )

    def _event_properties(self) -> dict[str, Any]:
        """``$feature/<key>`` for every resolved flag and sorted ``$active_feature_flags``."""
        props: dict[str, Any] = {}
        active: list[str] = []
        for key, record in self._records.items():
            if record.value is None:
                continue
            props[f"$feature/{key}"] = record.value
            if record.value is not False:
                active.append(key)
        if active:
            props["$active_feature_flags"] = sorted(active)
        return props

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, key: object) -> bool:
        return key in self._records
