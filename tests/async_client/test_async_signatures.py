"""``AsyncPosthog`` has the surface of ``Posthog``: the same public methods with the same
parameters (names, kinds, defaults, annotations) and return annotations, so code,
editors and ``help()`` can move between the two. The only intended difference is that
the calls that wait (flags, definitions, flush/join/shutdown) are coroutines.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from posthog import Posthog
from posthog.async_client import AsyncPosthog

# The calls that wait for the network or the delivery task: awaitable on AsyncPosthog.
AWAITABLE = {
    "evaluate_flags",
    "feature_enabled",
    "flush",
    "get_all_flags",
    "get_all_flags_and_payloads",
    "get_feature_flag",
    "get_feature_flag_payload",
    "get_feature_flag_result",
    "get_remote_config_payload",
    "join",
    "load_feature_flags",
    "shutdown",
}

# Methods AsyncPosthog has and Posthog has not (the async context manager).
ONLY_ASYNC = {"__aenter__", "__aexit__"}


def public_methods(cls: type) -> set[str]:
    return {
        name
        for name in dir(cls)
        if not name.startswith("_") and inspect.isfunction(inspect.getattr_static(cls, name))
    }


SYNC_METHODS = sorted(public_methods(Posthog))


def test_both_clients_have_the_same_public_methods() -> None:
    assert public_methods(AsyncPosthog) == public_methods(Posthog)
    assert set(SYNC_METHODS) >= AWAITABLE
    assert all(hasattr(AsyncPosthog, name) for name in ONLY_ASYNC)


@pytest.mark.parametrize("name", SYNC_METHODS)
def test_method_signature_matches_the_sync_client(name: str) -> None:
    sync_method: Any = getattr(Posthog, name)
    async_method: Any = getattr(AsyncPosthog, name)
    assert inspect.signature(async_method) == inspect.signature(sync_method)
    assert inspect.iscoroutinefunction(async_method) is (name in AWAITABLE)


def test_constructor_takes_the_same_options() -> None:
    assert inspect.signature(AsyncPosthog) == inspect.signature(Posthog)
    bound = inspect.signature(AsyncPosthog).bind("phc_key", "http://127.0.0.1:1", debug=True)
    assert bound.arguments == {
        "project_api_key": "phc_key",
        "host": "http://127.0.0.1:1",
        "debug": True,
    }
