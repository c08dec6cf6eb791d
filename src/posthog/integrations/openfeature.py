"""An OpenFeature provider backed by PostHog feature flags (``openfeature`` extra).

::

    from openfeature import api
    from posthog.integrations.openfeature import PostHogProvider

    api.set_provider(PostHogProvider(posthog_client))
    flags = api.get_client()
    flags.get_boolean_value("new-checkout", False, EvaluationContext("user-1", {"plan": "pro"}))

Evaluation context -> PostHog subject:

* ``targeting_key`` is the distinct id (else the ``distinct_id`` attribute, else the
  distinct id of the current ``posthog.new_context()``; none -> ``TARGETING_KEY_MISSING``);
* the ``groups`` attribute (``{"company": "c1"}``) and ``group_properties`` attribute
  (``{"company": {"size": 10}}``) are passed as such;
* the ``person_properties`` attribute, and every other attribute, are person properties.

Values: booleans are the flag's enabled state; strings are the variant of a multivariate
flag; numbers and objects come from the flag's JSON payload. A value of the wrong type
gives the default with ``TYPE_MISMATCH``.

Reasons come from the result's structured ``reason_code`` / ``error`` (never parsed from
the human-readable description), through one table covering every code local evaluation,
PostHog's ``/flags`` and the SDK produce: a matched condition or early-access enrollment is
``TARGETING_MATCH``, a rollout, experiment or holdout bucket ``SPLIT``, no match
``DEFAULT``, a disabled flag ``DISABLED``, a test override ``STATIC``, an unknown code
``UNKNOWN``; a missing flag is the default with ``FLAG_NOT_FOUND``, a failed or
inconclusive evaluation (timeout, quota, server error) the default with ``GENERAL``.

``track(name, context, details)`` captures event ``name`` for the context's person, with
the details' attributes as properties and its ``value`` as ``value``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider import AbstractProvider
from openfeature.provider.metadata import Metadata
from openfeature.track import TrackingEventDetails

__all__ = ["PostHogProvider", "error_code_for", "reason_for"]

T = TypeVar("T")

_RESERVED = frozenset({"distinct_id", "groups", "group_properties", "person_properties"})

# Every reason code a flag result can carry, each mapped deliberately; a code missing here
# is UNKNOWN (never guessed from the description). tests/openfeature/test_openfeature_reasons.py
# walks all of them, including every member of posthog._flags.results.Reason.
_REASONS: dict[str, str] = {
    # Local evaluation (posthog._flags.results.Reason; the dev server sends the same codes).
    "condition_match": Reason.TARGETING_MATCH,
    "feature_enrollment": Reason.TARGETING_MATCH,  # the early-access enrollment decided it
    "out_of_rollout_bound": Reason.SPLIT,
    "holdout": Reason.SPLIT,  # also a config-version-2 code
    "no_condition_match": Reason.DEFAULT,
    "group_not_passed": Reason.DEFAULT,
    "disabled": Reason.DISABLED,
    # PostHog's /flags answers (reason.code, spec 3.8).
    "super_condition_value": Reason.TARGETING_MATCH,  # early-access super condition
    "holdout_condition_value": Reason.SPLIT,  # bucketed into the experiment holdout
    "no_group_type": Reason.DEFAULT,
    "flag_disabled": Reason.DISABLED,
    "missing_dependency": Reason.DEFAULT,  # the server's answer stands: the flag's off value
    # Config-version-2 records (spec 5.5).
    "targeting_match": Reason.TARGETING_MATCH,
    "experiment_split": Reason.SPLIT,
    "rollout_miss": Reason.SPLIT,
    "experiment_paused": Reason.DEFAULT,  # no split while paused: everyone gets the fallback
    # Made by the SDK itself.
    "override": Reason.STATIC,  # posthog.testing overrides
    "remote": Reason.UNKNOWN,  # the server sent no code
}

# Codes that mean "no value": the caller gets the default and an error code.
_ERROR_CODES: dict[str, ErrorCode] = {
    "flag_missing": ErrorCode.FLAG_NOT_FOUND,
    "inconclusive": ErrorCode.GENERAL,  # local evaluation could not decide, no fallback
    "error": ErrorCode.GENERAL,
    "missing_distinct_id": ErrorCode.TARGETING_KEY_MISSING,
}


def _code(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Enum):
        value = value.value
    return str(value).lower() or None


def reason_for(reason_code: Any) -> str:
    """The OpenFeature reason for one of our structured reason codes."""
    code = _code(reason_code)
    if code is None:
        return Reason.UNKNOWN
    return _REASONS.get(code, Reason.UNKNOWN)


def error_code_for(error: Any) -> ErrorCode:
    """The OpenFeature error code for one of our structured flag errors."""
    code = _code(error)
    return _ERROR_CODES.get(code or "", ErrorCode.GENERAL)


class _Failure(Exception):
    def __init__(self, code: ErrorCode, message: str, reason: str = Reason.ERROR) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class PostHogProvider(AbstractProvider):
    """OpenFeature provider over a PostHog client (default: the module-level client)."""

    def __init__(self, client: Any = None) -> None:
        super().__init__()
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is not None:
            return self._client
        from posthog import _default

        return _default.get_client()

    def get_metadata(self) -> Metadata:
        return Metadata(name="PostHog")

    # -- resolution ----------------------------------------------------------------------
    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context, _as_bool)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context, _as_string)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: EvaluationContext | None = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value, evaluation_context, _as_int)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve(flag_key, default_value, evaluation_context, _as_float)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[Any] | Mapping[str, Any],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[Any] | Mapping[str, Any]]:
        return self._resolve(flag_key, default_value, evaluation_context, _as_object)

    def _resolve(
        self,
        flag_key: str,
        default_value: T,
        context: EvaluationContext | None,
        convert: Any,
    ) -> FlagResolutionDetails[T]:
        try:
            subject = _subject(context)
            result = self.client.get_feature_flag_result(
                flag_key,
                subject["distinct_id"],
                groups=subject["groups"],
                person_properties=subject["person_properties"],
                group_properties=subject["group_properties"],
            )
            if result is None:
                raise _Failure(ErrorCode.FLAG_NOT_FOUND, f"flag {flag_key!r} was not found")
            error = getattr(result, "error", None)
            reason_code = getattr(result, "reason_code", None)
            if not error and _code(reason_code) in _ERROR_CODES:
                error = reason_code
            if not error and getattr(result, "has_value", True) is False:
                error = "evaluation_failed"
            if error:
                raise _Failure(error_code_for(error), f"flag {flag_key!r}: {_code(error)}")
            reason = reason_for(reason_code)
            variant = getattr(result, "variant", None)
            metadata = _metadata(result)
            if not getattr(result, "enabled", False) and convert is not _as_bool:
                # an off flag has no variant or payload: the caller's default is the value
                return FlagResolutionDetails(
                    value=default_value, reason=reason, flag_metadata=metadata
                )
            value = convert(result)
            return FlagResolutionDetails(
                value=value, reason=reason, variant=variant, flag_metadata=metadata
            )
        except _Failure as failure:
            return FlagResolutionDetails(
                value=default_value,
                reason=failure.reason,
                error_code=failure.code,
                error_message=str(failure),
            )
        except Exception as exc:  # never raise into the application's flag check
            return FlagResolutionDetails(
                value=default_value,
                reason=Reason.ERROR,
                error_code=ErrorCode.GENERAL,
                error_message=f"PostHog flag evaluation failed: {exc!r}",
            )

    # -- tracking ------------------------------------------------------------------------
    def track(
        self,
        tracking_event_name: str,
        evaluation_context: EvaluationContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        try:
            subject = _subject(evaluation_context)
        except _Failure:
            subject = {"distinct_id": None, "groups": {}}
        properties: dict[str, Any] = {}
        if tracking_event_details is not None:
            properties.update(tracking_event_details.attributes)
            if tracking_event_details.value is not None:
                properties["value"] = tracking_event_details.value
        kwargs: dict[str, Any] = {"distinct_id": subject["distinct_id"], "properties": properties}
        if subject["groups"]:
            kwargs["groups"] = subject["groups"]
        self.client.capture(tracking_event_name, **kwargs)


# -- evaluation context --------------------------------------------------------------------
def _subject(context: EvaluationContext | None) -> dict[str, Any]:
    attributes: Mapping[str, Any] = context.attributes if context is not None else {}
    distinct_id: Any = context.targeting_key if context is not None else None
    if not distinct_id:
        distinct_id = attributes.get("distinct_id")
    if not distinct_id:
        from posthog.contexts import get_context_distinct_id

        distinct_id = get_context_distinct_id()
    if not distinct_id:
        raise _Failure(
            ErrorCode.TARGETING_KEY_MISSING,
            "no targeting key: set EvaluationContext(targeting_key=<distinct id>)",
        )
    groups = attributes.get("groups") or {}
    group_properties = attributes.get("group_properties") or {}
    explicit_person = attributes.get("person_properties") or {}
    if not isinstance(groups, Mapping) or not all(isinstance(v, str) for v in groups.values()):
        raise _Failure(ErrorCode.INVALID_CONTEXT, "'groups' must map group type to group key")
    if not isinstance(group_properties, Mapping) or not all(
        isinstance(v, Mapping) for v in group_properties.values()
    ):
        raise _Failure(
            ErrorCode.INVALID_CONTEXT, "'group_properties' must map group type to properties"
        )
    if not isinstance(explicit_person, Mapping):
        raise _Failure(ErrorCode.INVALID_CONTEXT, "'person_properties' must be a mapping")
    person = {k: v for k, v in attributes.items() if k not in _RESERVED}
    person.update(explicit_person)
    return {
        "distinct_id": str(distinct_id),
        "groups": dict(groups),
        "group_properties": {k: dict(v) for k, v in group_properties.items()},
        "person_properties": person,
    }


# -- value conversion ----------------------------------------------------------------------
def _mismatch(expected: str, got: Any) -> _Failure:
    return _Failure(ErrorCode.TYPE_MISMATCH, f"expected {expected}, flag gave {got!r}")


def _as_bool(result: Any) -> bool:
    return bool(getattr(result, "enabled", False))


def _as_string(result: Any) -> str:
    variant = getattr(result, "variant", None)
    if isinstance(variant, str):
        return variant
    raise _mismatch("a multivariate flag (string variant)", getattr(result, "enabled", None))


def _payload(result: Any) -> Any:
    return getattr(result, "payload", None)


def _as_int(result: Any) -> int:
    payload = _payload(result)
    if isinstance(payload, int) and not isinstance(payload, bool):
        return payload
    if isinstance(payload, float) and payload.is_integer():
        return int(payload)
    raise _mismatch("an integer payload", payload)


def _as_float(result: Any) -> float:
    payload = _payload(result)
    if isinstance(payload, (int, float)) and not isinstance(payload, bool):
        return float(payload)
    raise _mismatch("a number payload", payload)


def _as_object(result: Any) -> Any:
    payload = _payload(result)
    if isinstance(payload, (Mapping, list)):
        return payload
    raise _mismatch("an object or list payload", payload)


def _metadata(result: Any) -> dict[str, bool | int | float | str]:
    out: dict[str, bool | int | float | str] = {}
    for name, attribute in (
        ("reason_code", "reason_code"),
        ("description", "reason"),
        ("flag_id", "flag_id"),
        ("version", "version"),
        ("condition_index", "condition_index"),
    ):
        value = getattr(result, attribute, None)
        if isinstance(value, Enum):
            value = value.value
        if isinstance(value, (bool, int, float, str)):
            out[name] = value
    return out
