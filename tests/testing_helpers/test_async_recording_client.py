"""``AsyncRecordingClient``: AsyncPosthog's surface, RecordingClient's recording and
overrides, and nothing running in the background."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
import threading
from typing import Any

import pytest

from posthog import AsyncPosthog
from posthog.testing import AsyncRecordingClient, RecordingClient


def public_methods(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls, inspect.isfunction) if name[0] != "_"}


ASYNC_METHODS = sorted(public_methods(AsyncPosthog))
HELPERS = sorted(public_methods(AsyncRecordingClient) - public_methods(AsyncPosthog))


def test_it_is_an_async_posthog_with_recording_helpers() -> None:
    client = AsyncRecordingClient()
    assert isinstance(client, AsyncPosthog)
    assert HELPERS == [
        "assert_captured",
        "assert_not_captured",
        "captured",
        "clear",
        "clear_flag_overrides",
        "override_flag",
        "override_flags",
    ]
    assert set(HELPERS) <= public_methods(RecordingClient)


@pytest.mark.parametrize("name", ASYNC_METHODS)
def test_methods_are_async_posthogs(name: str) -> None:
    ours: Any = getattr(AsyncRecordingClient, name)
    theirs: Any = getattr(AsyncPosthog, name)
    assert inspect.signature(ours) == inspect.signature(theirs)
    assert inspect.iscoroutinefunction(ours) is inspect.iscoroutinefunction(theirs)


@pytest.mark.parametrize("name", HELPERS)
def test_helpers_are_recording_clients(name: str) -> None:
    ours: Any = getattr(AsyncRecordingClient, name)
    assert inspect.signature(ours) == inspect.signature(getattr(RecordingClient, name))
    assert not inspect.iscoroutinefunction(ours)


def test_every_awaitable_call_answers_without_network_or_background_work() -> None:
    """Each call AsyncPosthog awaits is answered by the recording core (``debug=True``:
    a call reaching AsyncPosthog's own delivery or flag machinery would raise)."""
    before = threading.active_count()
    client = AsyncRecordingClient(debug=True)
    client.override_flag("f", "v", payload={"n": 1})

    async def every_call() -> list[Any]:
        answers = [
            await client.feature_enabled("f", "u1"),
            await client.get_feature_flag("f", "u1"),
            (await client.get_feature_flag_result("f", "u1")).get_value(),  # type: ignore[union-attr]
            await client.get_feature_flag_payload("f", "u1"),
            await client.get_all_flags("u1"),
            await client.get_all_flags_and_payloads("u1"),
            (await client.evaluate_flags("u1")).get_flag("f"),
            await client.load_feature_flags(),
            client.feature_flag_definitions(),
            await client.flush(),
            await client.join(),
        ]
        assert threading.active_count() == before
        assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await client.shutdown()
        return answers

    assert asyncio.run(every_call()) == [
        True,
        "v",
        "v",
        {"n": 1},
        {"f": "v"},
        {"featureFlags": {"f": "v"}, "featureFlagPayloads": {"f": '{"n": 1}'}},
        "v",
        None,
        None,
        True,  # flushed: nothing was waiting
        None,
    ]
    assert threading.active_count() == before


def test_capture_is_a_plain_call_recorded_at_once_even_outside_a_loop() -> None:
    def tag(msg: dict[str, Any]) -> dict[str, Any]:
        msg["properties"]["via_before_send"] = True
        return msg

    client = AsyncRecordingClient(super_properties={"app": "shop"}, before_send=tag)
    ident = client.capture("signed up", distinct_id="u1", properties={"plan": "free"})
    event = client.assert_captured("signed up", "u1", {"plan": "free", "app": "shop"})
    assert event.uuid == ident and event.properties["via_before_send"] is True
    client.identify("u1", {"email": "u1@example.com"})
    assert client.captured("$identify", "u1")[0].message["$set"] == {"email": "u1@example.com"}


def scenario_events(client: Any, flag_answers: list[Any]) -> list[tuple[Any, ...]]:
    """What a test sees: the events without their uuid/timestamp, and the answers."""
    events = [(e.event, e.distinct_id, e.properties) for e in client.events]
    return [*events, ("answers", tuple(flag_answers)), ("calls", tuple(client.flag_calls))]


def test_same_events_and_answers_as_the_sync_recording_client() -> None:
    def arrange(client: Any) -> None:
        client.override_flag("new-nav", True)
        client.override_flag("new-nav", False, distinct_id="u2")
        client.override_flags({"plan": "pro", "beta": True}, distinct_id="u1")

    sync, aio = RecordingClient(), AsyncRecordingClient()
    arrange(sync)
    arrange(aio)
    sync_answers = []
    for user in ("u1", "u2", "u3"):
        sync_answers += [sync.feature_enabled("new-nav", user), sync.get_feature_flag("plan", user)]
        sync.capture("viewed", distinct_id=user, send_feature_flags=True)
        snapshot = sync.evaluate_flags(user)
        sync_answers.append(snapshot.is_enabled("beta"))
        sync.capture("searched", distinct_id=user, flags=snapshot)

    async def same_on_async() -> list[Any]:
        answers = []
        for user in ("u1", "u2", "u3"):
            answers += [
                await aio.feature_enabled("new-nav", user),
                await aio.get_feature_flag("plan", user),
            ]
            aio.capture("viewed", distinct_id=user, send_feature_flags=True)
            snapshot = await aio.evaluate_flags(user)
            answers.append(snapshot.is_enabled("beta"))
            aio.capture("searched", distinct_id=user, flags=snapshot)
        return answers

    async_answers = asyncio.run(same_on_async())
    assert async_answers == [True, "pro", True, False, None, False, True, None, False]
    assert scenario_events(aio, async_answers) == scenario_events(sync, sync_answers)
    assert len(aio.captured("$feature_flag_called")) == 9  # 3 people x 3 flags


def test_no_person_disabled_and_clear() -> None:
    client = AsyncRecordingClient()
    client.override_flag("f", True)

    async def reads() -> list[Any]:
        return [await client.feature_enabled("f"), await client.feature_enabled("f", "u1")]

    assert asyncio.run(reads()) == [None, True]  # no distinct id: None, as in production
    client.assert_captured("$feature_flag_called", "u1", count=1)
    client.clear()
    assert client.events == [] and client.flag_calls == []
    asyncio.run(reads())
    client.assert_captured("$feature_flag_called", "u1", count=1)  # reported again
    client.clear_flag_overrides("f")
    assert asyncio.run(reads()) == [None, None]

    client.disabled = True
    client.override_flag("f", True)
    assert asyncio.run(reads()) == [None, None]
    client.capture("ignored", distinct_id="u1")
    client.assert_not_captured("ignored")


def test_importing_posthog_testing_does_not_load_the_async_client() -> None:
    code = (
        "import sys, posthog.testing\n"
        "assert 'posthog.async_client' not in sys.modules\n"
        "from posthog.testing import AsyncRecordingClient\n"
        "assert 'posthog.async_client' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
