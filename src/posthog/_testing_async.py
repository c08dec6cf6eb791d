"""``AsyncRecordingClient``: the :class:`~posthog.testing.RecordingClient` for code that
uses :class:`~posthog.AsyncPosthog` (imported as ``posthog.testing.AsyncRecordingClient``).

It *is* an ``AsyncPosthog`` (so it can be handed to code typed for one) whose core is a
``RecordingClient`` instead of the queue-and-httpx machinery: event methods are
AsyncPosthog's own (plain, non-blocking calls on the core), and every call AsyncPosthog
makes awaitable (flags, ``flush``, ``shutdown`` ...) awaits the recording client's answer,
which never waits for anything. Recording, overrides, exposures and assertions are the
recording client's, reached through the same names; there is no second copy of them.

No network, no thread, no event loop of its own: it works under ``asyncio.run`` in a
plain test (or any test runner's loop), and construction needs no loop at all.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from posthog._async.core import AsyncCore, bind_options
from posthog.async_client import AsyncPosthog, _on_core
from posthog.client import Client
from posthog.testing import CapturedEvent, FlagCall, MemoryTransport, RecordingClient

__all__ = ["AsyncRecordingClient"]

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=Client)


class _RecordingCore(RecordingClient, AsyncCore):
    """A ``RecordingClient`` in the place of AsyncPosthog's core.

    ``RecordingClient`` comes first, so its in-memory transport, ``sync_mode`` and flag
    overrides win; ``AsyncCore`` only makes it the type AsyncPosthog's methods expect
    (it has no delivery task to nudge here)."""


def _delegated(method: Callable[Concatenate[C, P], R]) -> Callable[Concatenate[Any, P], R]:
    """The core's ``method`` (by name), as a plain call with its signature and docstring:
    AsyncPosthog's own forwarding (``_on_core``), named for this class."""
    call: Any = _on_core(cast("Callable[Concatenate[Client, P], R]", method))
    call.__qualname__ = f"AsyncRecordingClient.{method.__name__}"
    call.__module__ = "posthog.testing"
    return cast("Callable[Concatenate[Any, P], R]", call)


def _awaited(
    method: Callable[Concatenate[Client, P], R],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]:
    """The core's ``method`` as a coroutine, like AsyncPosthog's: the recording client
    answers at once (no network), so awaiting it never suspends."""
    plain = _delegated(method)

    @functools.wraps(method)
    async def call(self: AsyncRecordingClient, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return plain(self, *args, **kwargs)

    call.__qualname__ = plain.__qualname__
    call.__module__ = plain.__module__
    return call


def _answered_by_the_core(cls: type[AsyncRecordingClient]) -> type[AsyncRecordingClient]:
    """Every public coroutine method of AsyncPosthog, on ``cls``, awaits the recording
    core's method of that name (a new awaitable call on AsyncPosthog is covered too).
    Static types stay AsyncPosthog's; signatures and docstrings are the sync client's,
    which AsyncPosthog mirrors."""
    for name, method in vars(AsyncPosthog).items():
        if not name.startswith("_") and inspect.iscoroutinefunction(method):
            setattr(cls, name, _awaited(getattr(Client, name)))
    return cls


@_answered_by_the_core
class AsyncRecordingClient(AsyncPosthog):
    """An :class:`~posthog.AsyncPosthog` that keeps its events in memory and answers
    flags from overrides; the assertions and overrides of
    :class:`~posthog.testing.RecordingClient`."""

    def __init__(self, project_api_key: str = "phc_test", **options: Any) -> None:
        # No AsyncPosthog.__init__: it would build the httpx transport, the delivery task
        # and the flag poller, none of which a recording client has.
        options = bind_options((project_api_key,), options)
        options.pop("thread", None)
        self._core = self._recorder = recorder = _RecordingCore(**options)
        self.secret_key = self.personal_api_key = recorder.secret_key
        self.poll_interval = recorder.poll_interval
        self.memory: MemoryTransport = recorder.memory
        self.flag_calls: list[FlagCall] = recorder.flag_calls  # the same list, kept up to date

    # The calls AsyncPosthog awaits (flags, flush, shutdown ...) all await the core's
    # answers (the class decorator). The event methods are AsyncPosthog's own, already
    # run on the core; this is the one plain call it answers from its flag machinery.
    feature_flag_definitions = _delegated(Client.feature_flag_definitions)

    # -- RecordingClient's assertions and overrides ----------------------------------------
    captured = _delegated(RecordingClient.captured)
    assert_captured = _delegated(RecordingClient.assert_captured)
    assert_not_captured = _delegated(RecordingClient.assert_not_captured)
    clear = _delegated(RecordingClient.clear)
    override_flag = _delegated(RecordingClient.override_flag)
    override_flags = _delegated(RecordingClient.override_flags)
    clear_flag_overrides = _delegated(RecordingClient.clear_flag_overrides)

    async def __aenter__(self) -> AsyncRecordingClient:  # typed for the helpers below
        return self

    @property
    def events(self) -> list[CapturedEvent]:
        """Every message captured so far, oldest first."""
        return self._recorder.events


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixture
    pass
else:
    __all__ += ["async_posthog_recorder"]

    @pytest.fixture
    def async_posthog_recorder() -> Iterator[AsyncRecordingClient]:
        """An :class:`AsyncRecordingClient` to hand to the code under test.

        A plain (sync) fixture, so it needs no pytest-asyncio and serves ``asyncio.run``
        tests and async tests alike. AsyncPosthog has no module-level default client, so
        none is installed."""
        client = AsyncRecordingClient()
        try:
            yield client
        finally:
            client._recorder.shutdown()
