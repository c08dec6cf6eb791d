"""What a flag call returns, built from flag records: the public answer types (pure).

Shared by ``Posthog``, ``AsyncPosthog`` and the testing ``RecordingClient``, so the three
answer alike: a record becomes a :class:`~posthog.types.FeatureFlagResult`, an outcome
the ``get_all_flags_and_payloads`` maps, a loaded definition a ``match_value`` payload.

Only flag calls need this module, so the client loads it with the first one (``import
posthog`` does not); the engine behind the payload lookups loads inside the two
functions that use it, so importing ``posthog.testing`` does not pull it in either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from posthog.types import FeatureFlagResult, FlagRecord, decode_payload

if TYPE_CHECKING:
    from posthog._flags.flow import Outcome
    from posthog.types import FlagsAndPayloads

__all__ = [
    "flags_and_payloads",
    "match_payload",
    "missing_id_record",
    "no_flags",
    "payload_of",
    "to_result",
]


def to_result(record: FlagRecord) -> FeatureFlagResult:
    """``record`` as the public result: value, decoded payload and a structured reason."""
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


def missing_id_record(key: str) -> FlagRecord:
    """The record of a flag call made with no distinct id (and none in the context)."""
    return FlagRecord(key, None, None, False, "No distinct_id given", "error",
                      error="missing_distinct_id")  # fmt: skip


def no_flags() -> FlagsAndPayloads:
    """``get_all_flags_and_payloads``' answer of a disabled client or of a call with no
    one to evaluate for: ``None`` for both maps."""
    return {"featureFlags": None, "featureFlagPayloads": None}


def flags_and_payloads(outcome: Outcome) -> FlagsAndPayloads:
    """``get_all_flags_and_payloads``' answer: the values that resolved and their payloads
    (JSON strings; ``None`` for one that is not valid JSON, spec 3.8).

    A failed remote call leaves only what local evaluation decided, ``{}`` when nothing
    was: never ``None``, which means a disabled client or no one to evaluate for (spec
    2.3/5.1: the bulk answer is built from the remote answer, empty after an error)."""
    from posthog._flags.flow import bulk_payloads

    records = outcome.records
    values = {k: r.value for k, r in records.items() if r.value is not None}
    return {"featureFlags": values, "featureFlagPayloads": bulk_payloads(records)}


def match_payload(flagset: Any, key: str, match_value: Any) -> Any:
    """The decoded payload the loaded definition of ``key`` gives ``match_value``."""
    from posthog._flags.evaluator import payload_for

    return decode_payload(payload_for(flagset, key, match_value))


def payload_of(result: FeatureFlagResult, flagset: Any, match_value: Any) -> Any:
    """``get_feature_flag_payload``'s answer once the flag was evaluated: a local
    evaluation looks ``match_value`` up in the definitions, a remote one keeps its payload."""
    if match_value is not None and result.locally_evaluated:
        return match_payload(flagset, result.key, match_value)
    return result.payload
