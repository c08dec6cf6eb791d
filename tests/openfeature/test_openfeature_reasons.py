"""Every reason code a flag result can carry maps to a deliberate OpenFeature reason.

The codes travel the real path: a loopback server answers ``/flags`` with a record whose
``reason.code`` is the code under test, a real client evaluates remotely, and the
OpenFeature client reports the reason. The tables below are the specification; the
completeness test makes a new local reason code (a new member of the evaluator's
``Reason`` enum) fail here until it is given a mapping.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from openfeature import api
from posthog import Posthog
from posthog._flags.results import Reason as FlagReason
from posthog.integrations.openfeature import PostHogProvider, error_code_for, reason_for
from support.recording_server import Recorded, RecordingServer, Reply

# Codes that come with a value: code -> OpenFeature reason.
VALUE_CODES: dict[str, str] = {
    # local evaluation (and the dev server, which sends the same codes)
    "condition_match": Reason.TARGETING_MATCH,
    "feature_enrollment": Reason.TARGETING_MATCH,
    "out_of_rollout_bound": Reason.SPLIT,
    "holdout": Reason.SPLIT,
    "no_condition_match": Reason.DEFAULT,
    "group_not_passed": Reason.DEFAULT,
    "disabled": Reason.DISABLED,
    # PostHog's /flags (spec 3.8; the server's match reasons)
    "super_condition_value": Reason.TARGETING_MATCH,
    "holdout_condition_value": Reason.SPLIT,
    "no_group_type": Reason.DEFAULT,
    "flag_disabled": Reason.DISABLED,
    "missing_dependency": Reason.DEFAULT,
    # config-version-2 records (spec 5.5)
    "targeting_match": Reason.TARGETING_MATCH,
    "experiment_split": Reason.SPLIT,
    "rollout_miss": Reason.SPLIT,
    "experiment_paused": Reason.DEFAULT,
    # made by the SDK: test overrides; a server record without a code
    "override": Reason.STATIC,
    "remote": Reason.UNKNOWN,
}

# Codes that mean there is no value: code -> OpenFeature error code (reason ERROR).
ERROR_CODES: dict[str, ErrorCode] = {
    "flag_missing": ErrorCode.FLAG_NOT_FOUND,
    "inconclusive": ErrorCode.GENERAL,
    "error": ErrorCode.GENERAL,
}

USER = EvaluationContext("user-1")


def _answer(request: Recorded) -> Reply:
    if not request.path.startswith("/flags"):
        return Reply()
    [key] = request.json()["flag_keys_to_evaluate"]
    record: dict[str, Any] = {"key": key, "enabled": True, "value": True, "failed": False}
    if key != "remote":  # "remote" stands for a record the server sent without a code
        record["reason"] = {"code": key, "condition_index": 0, "description": "scripted"}
    return Reply(body={"flags": {key: record}, "errorsWhileComputingFlags": False})


@pytest.fixture(scope="module")
def remote() -> Iterator[RecordingServer]:
    with RecordingServer(_answer) as server:
        yield server


@pytest.fixture
def flags(remote: RecordingServer) -> Iterator[Any]:
    client = Posthog("phc", host=remote.url, flush_interval=0.05)
    api.set_provider(PostHogProvider(client))
    yield api.get_client()
    client.shutdown()


def test_every_local_reason_code_is_mapped_deliberately() -> None:
    local = {code.value for code in FlagReason}
    assert local <= VALUE_CODES.keys() | ERROR_CODES.keys(), "map the new code in openfeature.py"
    assert not VALUE_CODES.keys() & ERROR_CODES.keys()
    # only the code-less remote record is UNKNOWN; every real code has a meaning
    assert [c for c, r in VALUE_CODES.items() if r == Reason.UNKNOWN] == ["remote"]
    assert {c: reason_for(c) for c in VALUE_CODES} == VALUE_CODES
    assert {c: error_code_for(c) for c in ERROR_CODES} == ERROR_CODES


@pytest.mark.parametrize(("code", "reason"), sorted(VALUE_CODES.items()))
def test_value_code_maps_to_its_reason(flags: Any, code: str, reason: str) -> None:
    details = flags.get_boolean_details(code, False, USER)
    assert (details.value, details.reason, details.error_code) == (True, reason, None)
    assert details.flag_metadata.get("reason_code") == code


@pytest.mark.parametrize(("code", "error_code"), sorted(ERROR_CODES.items()))
def test_error_code_gives_the_default(flags: Any, code: str, error_code: ErrorCode) -> None:
    details = flags.get_boolean_details(code, False, USER)
    assert (details.value, details.reason, details.error_code) == (False, Reason.ERROR, error_code)


def test_a_new_server_code_is_unknown_not_guessed(flags: Any) -> None:
    details = flags.get_boolean_details("condition_matched_by_a_future_rule", False, USER)
    assert (details.value, details.reason, details.error_code) == (True, Reason.UNKNOWN, None)
