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
    assert [e.event for e in ph.events] == ["order placed"]
    import posthog

    assert posthog.default_client is None  # the previous default is back
