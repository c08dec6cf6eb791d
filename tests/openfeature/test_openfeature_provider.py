"""The PostHog OpenFeature provider, exercised only through the OpenFeature client API.

Flag values come from ``posthog.testing.RecordingClient`` overrides (a real client with
an in-memory transport); reasons that only real evaluation produces are checked with a
client that returns scripted structured results through the public flag interface.
"""

from __future__ import annotations

from typing import Any

import pytest
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagEvaluationDetails, Reason
from openfeature.hook import Hook, HookContext
from openfeature.track import TrackingEventDetails

import posthog
from openfeature import api
from posthog.integrations.openfeature import PostHogProvider, error_code_for, reason_for
from posthog.testing import RecordingClient, use_as_default
from posthog.types import FeatureFlagResult as Result

USER = EvaluationContext("user-1", {"plan": "pro"})


@pytest.fixture
def ph() -> Any:
    client = RecordingClient()
    api.set_provider(PostHogProvider(client))
    yield client
    client.shutdown()


def test_each_flag_type_resolves_with_a_reason(ph: RecordingClient) -> None:
    ph.override_flag("beta", True)
    ph.override_flag("theme", "dark")
    ph.override_flag("limits", True, payload={"max_seats": 10, "tier": "pro"})
    ph.override_flag("seats", True, payload=25)
    ph.override_flag("ratio", True, payload=0.75)
    flags = api.get_client()
    beta = flags.get_boolean_details("beta", False, USER)
    assert (beta.value, beta.reason, beta.error_code) == (True, Reason.STATIC, None)
    theme = flags.get_string_details("theme", "light", USER)
    assert (theme.value, theme.variant, theme.reason) == ("dark", "dark", Reason.STATIC)
    assert flags.get_object_value("limits", {}, USER) == {"max_seats": 10, "tier": "pro"}
    assert flags.get_integer_value("seats", 1, USER) == 25
    assert flags.get_float_value("ratio", 0.0, USER) == 0.75
    assert [c.distinct_id for c in ph.flag_calls] == ["user-1"] * 5


def test_missing_flag_gives_default_with_flag_not_found(ph: RecordingClient) -> None:
    flags = api.get_client()
    for details in (
        flags.get_boolean_details("nope", True, USER),
        flags.get_string_details("nope", "fallback", USER),
        flags.get_object_details("nope", {"a": 1}, USER),
    ):
        assert details.error_code == ErrorCode.FLAG_NOT_FOUND
        assert details.reason == Reason.ERROR
    assert flags.get_string_value("nope", "fallback", USER) == "fallback"


def test_wrong_type_gives_default_with_type_mismatch(ph: RecordingClient) -> None:
    ph.override_flag("beta", True)  # a boolean flag without payload
    flags = api.get_client()
    details = flags.get_string_details("beta", "x", USER)
    assert (details.value, details.error_code) == ("x", ErrorCode.TYPE_MISMATCH)
    assert flags.get_integer_details("beta", 3, USER).error_code == ErrorCode.TYPE_MISMATCH


def test_person_override_and_off_flag(ph: RecordingClient) -> None:
    ph.override_flag("beta", True)
    ph.override_flag("beta", False, distinct_id="user-2")
    ph.override_flag("theme", False, distinct_id="user-2")
    flags = api.get_client()
    assert flags.get_boolean_value("beta", True, EvaluationContext("user-2")) is False
    off = flags.get_string_details("theme", "light", EvaluationContext("user-2"))
    assert (off.value, off.error_code) == ("light", None)  # off flag: the default, no error


def test_targeting_key_missing(ph: RecordingClient) -> None:
    ph.override_flag("beta", True)
    details = api.get_client().get_boolean_details("beta", False, EvaluationContext())
    assert (details.value, details.error_code) == (False, ErrorCode.TARGETING_KEY_MISSING)
    with posthog.new_context():  # the PostHog context's person is used when there is one
        posthog.identify_context("ctx-user")
        assert api.get_client().get_boolean_value("beta", False) is True
    assert ph.flag_calls[-1].distinct_id == "ctx-user"


def test_track_is_captured_for_the_context_person(ph: RecordingClient) -> None:
    flags = api.get_client()
    flags.track(
        "checkout completed",
        EvaluationContext("user-1", {"groups": {"company": "acme"}}),
        TrackingEventDetails(value=99.5, attributes={"currency": "EUR"}),
    )
    event = ph.assert_captured(
        "checkout completed", distinct_id="user-1", properties={"currency": "EUR", "value": 99.5}
    )
    assert event.properties["$groups"] == {"company": "acme"}


class Recorder(Hook):
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.details: list[FlagEvaluationDetails[Any]] = []
        self.errors: list[Exception] = []

    def before(self, hook_context: HookContext, hints: Any) -> None:
        self.keys.append(hook_context.flag_key)

    def after(
        self, hook_context: HookContext, details: FlagEvaluationDetails[Any], hints: Any
    ) -> None:
        self.details.append(details)

    def error(self, hook_context: HookContext, exception: Exception, hints: Any) -> None:
        self.errors.append(exception)


def test_works_with_openfeature_hooks(ph: RecordingClient) -> None:
    ph.override_flag("beta", True)
    recorder = Recorder()
    api.add_hooks([recorder])
    flags = api.get_client()
    assert flags.get_boolean_value("beta", False, USER) is True
    assert flags.get_boolean_value("missing", False, USER) is False
    assert recorder.keys == ["beta", "missing"]
    assert [(d.flag_key, d.reason) for d in recorder.details] == [("beta", Reason.STATIC)]
    assert len(recorder.errors) == 1  # OpenFeature reports FLAG_NOT_FOUND to error hooks


class ScriptedClient:
    """Answers the public flag interface with scripted structured results."""

    def __init__(self, results: dict[str, Result | None]) -> None:
        self.results = results
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def get_feature_flag_result(self, key: str, distinct_id: str, **kwargs: Any) -> Any:
        self.calls.append((key, distinct_id, kwargs))
        return self.results.get(key)


@pytest.mark.parametrize(
    ("result", "reason", "error_code"),
    [
        (Result("f", True, reason_code="condition_match"), Reason.TARGETING_MATCH, None),
        (Result("f", False, reason_code="out_of_rollout_bound"), Reason.SPLIT, None),
        (Result("f", True, reason_code="holdout"), Reason.SPLIT, None),
        (Result("f", False, reason_code="no_condition_match"), Reason.DEFAULT, None),
        (Result("f", False, reason_code="disabled"), Reason.DISABLED, None),
        (Result("f", True, reason="Matched condition set 1"), Reason.UNKNOWN, None),  # no guess
        (Result("f", False, error="flag_missing"), Reason.ERROR, ErrorCode.FLAG_NOT_FOUND),
        (Result("f", False, error="timeout"), Reason.ERROR, ErrorCode.GENERAL),
        (Result("f", False, error="quota_limited"), Reason.ERROR, ErrorCode.GENERAL),
        (Result("f", False, reason_code="flag_missing"), Reason.ERROR, ErrorCode.FLAG_NOT_FOUND),
        (Result("f", False, reason_code="error"), Reason.ERROR, ErrorCode.GENERAL),
        (Result("f", False, has_value=False), Reason.ERROR, ErrorCode.GENERAL),
    ],
)
def test_structured_reasons_map_to_openfeature(
    result: Result, reason: str, error_code: ErrorCode | None
) -> None:
    api.set_provider(PostHogProvider(ScriptedClient({"f": result})))
    details = api.get_client().get_boolean_details("f", True, USER)
    assert (details.reason, details.error_code) == (reason, error_code)
    assert details.value is (result.enabled if error_code is None else True)


def test_context_maps_to_person_and_group_properties() -> None:
    client = ScriptedClient({"f": Result("f", True, "v1", reason_code="condition_match")})
    api.set_provider(PostHogProvider(client))
    context = EvaluationContext(
        "user-9",
        {
            "email": "a@b.c",
            "person_properties": {"plan": "pro"},
            "groups": {"company": "acme"},
            "group_properties": {"company": {"size": 50}},
        },
    )
    details = api.get_client().get_string_details("f", "none", context)
    assert (details.value, details.variant, details.reason) == ("v1", "v1", Reason.TARGETING_MATCH)
    [(key, distinct_id, kwargs)] = client.calls
    assert (key, distinct_id) == ("f", "user-9")
    assert kwargs == {
        "groups": {"company": "acme"},
        "person_properties": {"email": "a@b.c", "plan": "pro"},
        "group_properties": {"company": {"size": 50}},
    }


def test_invalid_group_context_is_reported() -> None:
    api.set_provider(PostHogProvider(ScriptedClient({})))
    bad = EvaluationContext("u", {"groups": {"company": 5}})
    details = api.get_client().get_boolean_details("f", False, bad)
    assert details.error_code == ErrorCode.INVALID_CONTEXT


def test_client_failure_is_a_general_error_not_an_exception() -> None:
    class Exploding(ScriptedClient):
        def get_feature_flag_result(self, key: str, distinct_id: str, **kwargs: Any) -> Any:
            raise RuntimeError("debug mode raised")

    api.set_provider(PostHogProvider(Exploding({})))
    details = api.get_client().get_boolean_details("f", True, USER)
    assert (details.value, details.error_code) == (True, ErrorCode.GENERAL)


def test_module_default_client_is_used_without_a_client() -> None:
    client = RecordingClient()
    client.override_flag("beta", "on-variant")
    with use_as_default(client):
        api.set_provider(PostHogProvider())
        assert api.get_client().get_string_value("beta", "x", USER) == "on-variant"
    client.shutdown()


def test_reason_tables() -> None:
    assert reason_for(None) == Reason.UNKNOWN
    assert reason_for("something_new") == Reason.UNKNOWN
    assert error_code_for("api_error_500") == ErrorCode.GENERAL
