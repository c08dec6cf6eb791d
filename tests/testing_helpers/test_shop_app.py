"""A user's tests for their own app (``shop_app``), using ``posthog.testing``."""

from __future__ import annotations

import threading

import shop_app

from posthog.testing import RecordingClient, recording


def test_checkout_tracks_the_order(posthog_recorder: RecordingClient) -> None:
    shop_app.checkout("u1", 30.0)
    posthog_recorder.assert_captured(
        "order placed", distinct_id="u1", properties={"amount": 30.0, "flow": "classic"}
    )


def test_new_checkout_for_everyone(posthog_recorder: RecordingClient) -> None:
    posthog_recorder.override_flag("new-checkout", True)
    assert shop_app.checkout("u1", 10.0) == "new"
    assert shop_app.checkout("u2", 10.0) == "new"
    posthog_recorder.assert_captured("order placed", properties={"flow": "new"}, count=2)


def test_flag_override_for_one_person_wins(posthog_recorder: RecordingClient) -> None:
    posthog_recorder.override_flag("new-checkout", True)
    posthog_recorder.override_flag("new-checkout", False, distinct_id="beta-opt-out")
    posthog_recorder.override_flag("buy-button-color", "green", distinct_id="u1")
    assert shop_app.checkout("u1", 5.0) == "new"
    assert shop_app.checkout("beta-opt-out", 5.0) == "classic"
    assert posthog_recorder.assert_captured("order placed", "u1").properties["button"] == "green"
    assert (
        posthog_recorder.assert_captured("order placed", "beta-opt-out").properties["button"]
        == "blue"
    )


def test_sign_up_sets_person_properties(posthog_recorder: RecordingClient) -> None:
    shop_app.sign_up("u7", "u7@example.com")
    [person] = posthog_recorder.captured("$set", distinct_id="u7")
    assert person.message["$set"] == {"email": "u7@example.com"}
    posthog_recorder.assert_captured("signed up", distinct_id="u7")


def test_bad_rows_are_reported_as_exceptions(posthog_recorder: RecordingClient) -> None:
    assert shop_app.import_contacts("u3", ["a@x.io", "nope", "b@x.io"]) == 2
    event = posthog_recorder.assert_captured("$exception", distinct_id="u3", count=1)
    assert event.properties["$exception_list"][0]["value"] == "not an email address: 'nope'"


def test_no_threads_and_nothing_left_behind() -> None:
    before = threading.active_count()
    with recording() as ph:
        shop_app.checkout("u1", 1.0)
        assert threading.active_count() == before
    # the flag reads are reported as exposures, as in production
    assert [e.event for e in ph.events] == [
        "$feature_flag_called",
        "$feature_flag_called",
        "order placed",
    ]
    import posthog

    assert posthog.default_client is None  # the previous default is back


def test_product_views_carry_the_overridden_flags(posthog_recorder: RecordingClient) -> None:
    posthog_recorder.override_flag("new-checkout", True)  # everyone
    posthog_recorder.override_flag("new-checkout", False, distinct_id="u2")  # but u2
    posthog_recorder.override_flag("buy-button-color", "green", distinct_id="u1")  # only u1

    shop_app.view_product("u1", "p1")
    shop_app.view_product("u2", "p1")

    u1 = posthog_recorder.assert_captured("product viewed", distinct_id="u1")
    assert u1.properties["$feature/new-checkout"] is True
    assert u1.properties["$feature/buy-button-color"] == "green"
    assert sorted(u1.properties["$active_feature_flags"]) == ["buy-button-color", "new-checkout"]
    u2 = posthog_recorder.assert_captured("product viewed", distinct_id="u2")
    assert u2.properties["$feature/new-checkout"] is False
    assert "$feature/buy-button-color" not in u2.properties
    assert "$active_feature_flags" not in u2.properties  # nothing enabled for u2
    posthog_recorder.assert_not_captured("$feature_flag_called")  # attaching is not exposing


def test_product_views_without_overrides_carry_no_flags(posthog_recorder: RecordingClient) -> None:
    shop_app.view_product("u1", "p1")
    event = posthog_recorder.assert_captured("product viewed", distinct_id="u1")
    assert not [k for k in event.properties if k.startswith(("$feature/", "$active_feature"))]


def test_search_experiment_variant(posthog_recorder: RecordingClient) -> None:
    posthog_recorder.override_flag("search-ranking", "semantic", distinct_id="u1")
    posthog_recorder.override_flag("beta-banner", True)

    assert shop_app.search("u1", "socks") == "semantic"
    assert shop_app.search("u2", "socks") == "classic"

    u1 = posthog_recorder.assert_captured("searched", distinct_id="u1")
    assert u1.properties["$feature/search-ranking"] == "semantic"
    assert u1.properties["$active_feature_flags"] == ["beta-banner", "search-ranking"]
    u2 = posthog_recorder.assert_captured("searched", distinct_id="u2")
    assert "$feature/search-ranking" not in u2.properties
    assert u2.properties["$feature/beta-banner"] is True


def test_experiment_exposure_is_reported_once_per_person(
    posthog_recorder: RecordingClient,
) -> None:
    posthog_recorder.override_flag("search-ranking", "semantic")
    shop_app.search("u1", "socks")
    shop_app.search("u1", "shoes")  # same person, same variant: one exposure
    shop_app.search("u2", "socks")

    exposure = posthog_recorder.assert_captured(
        "$feature_flag_called",
        distinct_id="u1",
        properties={"$feature_flag": "search-ranking", "$feature_flag_response": "semantic"},
        count=1,
    )
    assert exposure.properties["$feature/search-ranking"] == "semantic"
    assert exposure.properties["$feature_flag_reason_code"] == "override"
    posthog_recorder.assert_captured("$feature_flag_called", distinct_id="u2", count=1)


def test_checkout_exposes_the_flags_it_reads(posthog_recorder: RecordingClient) -> None:
    posthog_recorder.override_flag("new-checkout", True)
    shop_app.checkout("u1", 5.0)
    posthog_recorder.assert_captured(
        "$feature_flag_called",
        distinct_id="u1",
        properties={"$feature_flag": "new-checkout", "$feature_flag_response": True},
    )
    missing = posthog_recorder.assert_captured(
        "$feature_flag_called", distinct_id="u1", properties={"$feature_flag": "buy-button-color"}
    )
    assert missing.properties["$feature_flag_response"] is None  # no override: not found
    assert missing.properties["$feature_flag_error"] == "flag_missing"
