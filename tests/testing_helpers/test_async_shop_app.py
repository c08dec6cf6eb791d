"""A user's tests for their asyncio app (``async_shop_app``), using
``posthog.testing.AsyncRecordingClient``: plain test functions that run the app with
``asyncio.run`` (no pytest-asyncio)."""

from __future__ import annotations

import asyncio
import threading

from async_shop_app import AsyncShop

from posthog.testing import AsyncRecordingClient


def test_checkout_tracks_the_order(async_posthog_recorder: AsyncRecordingClient) -> None:
    shop = AsyncShop(async_posthog_recorder)
    assert asyncio.run(shop.checkout("u1", 30.0)) == "classic"
    async_posthog_recorder.assert_captured(
        "order placed",
        distinct_id="u1",
        properties={"amount": 30.0, "flow": "classic", "button": "blue"},
    )


def test_flag_overrides_per_key_person_and_everyone(
    async_posthog_recorder: AsyncRecordingClient,
) -> None:
    async_posthog_recorder.override_flag("new-checkout", True)  # everyone
    async_posthog_recorder.override_flag("new-checkout", False, distinct_id="opt-out")  # wins
    async_posthog_recorder.override_flag("buy-button-color", "green", distinct_id="u1")
    shop = AsyncShop(async_posthog_recorder)

    async def run() -> list[str]:
        return [await shop.checkout(u, 5.0) for u in ("u1", "u2", "opt-out")]

    assert asyncio.run(run()) == ["new", "new", "classic"]
    async_posthog_recorder.assert_captured("order placed", "u1", {"flow": "new", "button": "green"})
    u2 = async_posthog_recorder.assert_captured("order placed", "u2")
    assert (u2.properties["flow"], u2.properties["button"]) == ("new", "blue")


def test_checkout_exposes_the_flags_it_reads_once(
    async_posthog_recorder: AsyncRecordingClient,
) -> None:
    async_posthog_recorder.override_flag("new-checkout", True)
    shop = AsyncShop(async_posthog_recorder)

    async def twice() -> None:
        await shop.checkout("u1", 1.0)
        await shop.checkout("u1", 2.0)

    asyncio.run(twice())
    exposure = async_posthog_recorder.assert_captured(
        "$feature_flag_called",
        distinct_id="u1",
        properties={"$feature_flag": "new-checkout", "$feature_flag_response": True},
        count=1,
    )
    assert exposure.properties["$feature_flag_reason_code"] == "override"
    missing = async_posthog_recorder.assert_captured(
        "$feature_flag_called", distinct_id="u1", properties={"$feature_flag": "buy-button-color"}
    )
    assert missing.properties["$feature_flag_error"] == "flag_missing"
    assert [(c.key, c.value) for c in async_posthog_recorder.flag_calls] == [
        ("new-checkout", True),
        ("buy-button-color", None),
    ] * 2


def test_sign_up_sets_person_properties(async_posthog_recorder: AsyncRecordingClient) -> None:
    asyncio.run(AsyncShop(async_posthog_recorder).sign_up("u7", "u7@example.com"))
    [person] = async_posthog_recorder.captured("$set", distinct_id="u7")
    assert person.message["$set"] == {"email": "u7@example.com"}
    async_posthog_recorder.assert_captured("signed up", distinct_id="u7")


def test_search_experiment_is_attached_to_the_event(
    async_posthog_recorder: AsyncRecordingClient,
) -> None:
    async_posthog_recorder.override_flag("search-ranking", "semantic", distinct_id="u1")
    async_posthog_recorder.override_flag("beta-banner", True)
    shop = AsyncShop(async_posthog_recorder)

    async def both() -> list[str]:
        return [await shop.search("u1", "socks"), await shop.search("u2", "socks")]

    assert asyncio.run(both()) == ["semantic", "classic"]
    u1 = async_posthog_recorder.assert_captured("searched", distinct_id="u1")
    assert u1.properties["$feature/search-ranking"] == "semantic"
    assert u1.properties["$active_feature_flags"] == ["beta-banner", "search-ranking"]
    u2 = async_posthog_recorder.assert_captured("searched", distinct_id="u2")
    assert "$feature/search-ranking" not in u2.properties
    async_posthog_recorder.assert_captured(
        "$feature_flag_called", "u1", {"$feature_flag": "search-ranking"}, count=1
    )


def test_banner_text_comes_from_the_payload(async_posthog_recorder: AsyncRecordingClient) -> None:
    async_posthog_recorder.override_flag("promo-banner", True, payload={"text": "20% off"})
    async_posthog_recorder.override_flag("promo-banner", False, distinct_id="u2")
    shop = AsyncShop(async_posthog_recorder)

    async def both() -> list[str | None]:
        return [await shop.banner("u1"), await shop.banner("u2")]

    assert asyncio.run(both()) == ["20% off", None]
    async_posthog_recorder.assert_not_captured("$feature_flag_called")  # payloads don't expose


def test_concurrent_requests_keep_their_own_person(
    async_posthog_recorder: AsyncRecordingClient,
) -> None:
    async_posthog_recorder.override_flag("beta-nav", True, distinct_id="beta-user")
    shop = AsyncShop(async_posthog_recorder)
    requests = [("u1", "/a"), ("beta-user", "/b"), ("u2", "/c"), ("beta-user", "/d")]

    assert asyncio.run(shop.serve(requests)) == [False, True, False, True]
    served = {
        (e.distinct_id, e.properties["path"], e.properties["beta"])
        for e in async_posthog_recorder.captured("page served")
    }
    assert served == {("u1", "/a", False), ("beta-user", "/b", True), ("u2", "/c", False),
                      ("beta-user", "/d", True)}  # fmt: skip


def test_no_threads_and_no_loop_left_behind() -> None:
    before = threading.active_count()

    async def run() -> AsyncRecordingClient:
        async with AsyncRecordingClient() as ph:  # shutdown() on the way out
            await AsyncShop(ph).checkout("u1", 1.0)
            assert threading.active_count() == before
        return ph

    ph = asyncio.run(run())
    assert threading.active_count() == before
    assert [e.event for e in ph.events] == [
        "$feature_flag_called",
        "$feature_flag_called",
        "order placed",
    ]
    ph.capture("after shutdown", distinct_id="u1")  # refused, as by a shut-down AsyncPosthog
    ph.assert_not_captured("after shutdown")
