"""``AsyncPosthog``: the client for asyncio applications (FastAPI, Starlette, scripts).

Same constructor options and methods as :class:`~posthog.Posthog`. ``capture`` (and the
other event methods) stay plain, non-blocking calls; flag calls, ``flush``, ``join`` and
``shutdown`` are awaitable and never block the event loop::

    client = AsyncPosthog("phc_...", host="https://eu.i.posthog.com")
    client.capture("signed up", distinct_id="u1")
    if await client.feature_enabled("new-onboarding", "u1"):
        ...
    await client.shutdown()

How it is built: a core :class:`~posthog.client.Client` with no delivery thread does
everything synchronous and pure (arguments, message building, ``before_send``, limits,
queueing, ``$feature_flag_called`` dedupe); an asyncio task (``posthog._async.delivery``)
sends its queue with httpx (the ``async`` extra); flag calls run the same evaluator and
record conversions as the sync client, awaiting only the network. When the loop ends
(``asyncio.run()`` returning) queued events are delivered within ``shutdown_timeout``;
events queued while no loop ran are delivered by the interpreter-exit hook.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, Concatenate, ParamSpec, TypeVar

from posthog._async.core import AsyncCore, bind_options
from posthog._async.delivery import AsyncDelivery
from posthog._async.flags import AsyncFlags
from posthog._async.sender import AsyncSender
from posthog._flags.answers import flags_and_payloads, match_payload, payload_of
from posthog._flags.answers import no_flags as _nothing
from posthog._flags.flow import FlagLog
from posthog._transport.asynchronous import AsyncTransport, default_transport
from posthog._transport.base import Transport
from posthog.client import Client
from posthog.types import (
    FeatureFlagEvaluations,
    FeatureFlagResult,
    FlagsAndPayloads,
    FlagValue,
)

__all__ = ["AsyncClient", "AsyncPosthog"]

log = logging.getLogger("posthog")
T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")

_FLAG_SETTINGS = ("secret_key", "personal_api_key", "enable_local_evaluation", "flag_definitions")

_LOCAL_FLAGS_ONLY = (
    "On AsyncPosthog ``send_feature_flags`` uses the loaded definitions only (see "
    "``AsyncCore._flags_for_event``): an event never waits for the network. For remote "
    "values pass ``flags=await client.evaluate_flags(...)``."
)


def _on_core(
    method: Callable[Concatenate[Client, P], R], note: str = ""
) -> Callable[Concatenate[AsyncPosthog, P], R]:
    """``AsyncPosthog.<name>`` running ``Client.<name>`` on the client's core.

    For the calls that never wait (events, ``stats``): the wrapper keeps the sync method's
    signature (``inspect.signature`` follows ``__wrapped__``), docstring and static types,
    so the two clients cannot drift apart; ``note`` adds what differs on AsyncPosthog.
    """
    name = method.__name__

    @functools.wraps(method)
    def call(self: AsyncPosthog, /, *args: P.args, **kwargs: P.kwargs) -> R:
        bound: Callable[P, R] = getattr(self._core, name)
        return bound(*args, **kwargs)

    call.__qualname__ = f"AsyncPosthog.{name}"
    call.__module__ = __name__
    if note:
        call.__doc__ = f"{inspect.cleandoc(method.__doc__ or '')}\n\n{note}".strip()
    return call


class AsyncPosthog:
    """An asyncio PostHog client; see the module docstring."""

    # The constructor takes exactly Posthog's options (bound by name in bind_options);
    # inspect.signature(), help() and editors show them instead of ``*args, **kwargs``.
    __signature__: ClassVar[inspect.Signature] = inspect.signature(Client)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        options = bind_options(args, kwargs)
        if options.pop("sync_mode", False):
            log.info("[PostHog] AsyncPosthog: sync_mode sends each event at once, in the loop")
            options["flush_at"] = 1
        options.pop("thread", None)  # the core has no thread; the loop delivers
        transport = options.pop("transport", None)
        flag_options = {name: options.pop(name, None) for name in _FLAG_SETTINGS}
        sync_transport = transport if isinstance(transport, Transport) else None
        core = AsyncCore(thread=0, transport=sync_transport, **options)
        self._core = core
        self.async_transport: AsyncTransport = default_transport(
            transport, core.config.proxy, core.config.ca_bundle
        )
        self._delivery = AsyncDelivery(
            core._worker, AsyncSender(core.config, self.async_transport), core.shutdown_timeout
        )
        core._delivery = self._delivery
        secret = flag_options["secret_key"] or flag_options["personal_api_key"]
        enable_local = flag_options["enable_local_evaluation"]
        self.secret_key = (secret or "").strip() or None
        self.personal_api_key = self.secret_key
        self.poll_interval = float(options.get("poll_interval") or 30)
        self._flags = AsyncFlags(
            transport=self.async_transport,
            host=core.host,
            api_key=core.api_key,
            secret=self.secret_key,
            timeout=core.config.feature_flags_request_timeout_seconds,
            max_retries=core.config.feature_flags_request_max_retries,
            poll_interval=lambda: self.poll_interval,
            enable_local_evaluation=True if enable_local is None else bool(enable_local),
            definitions=flag_options["flag_definitions"],
            warn=FlagLog(core._reporter),  # flag errors: the capture side's limit, per client
        )
        core._local_flags = self._flags

    # -- settings shared with the core -----------------------------------------------------
    @property
    def api_key(self) -> str:
        return self._core.api_key

    @property
    def host(self) -> str:
        return self._core.host

    @property
    def debug(self) -> bool:
        return self._core.debug

    @debug.setter
    def debug(self, value: bool) -> None:
        self._core.debug = value

    @property
    def disabled(self) -> bool:
        return self._core.disabled

    @disabled.setter
    def disabled(self, value: bool) -> None:
        self._core.disabled = bool(value)

    @property
    def super_properties(self) -> dict[str, Any]:
        return self._core.super_properties

    @super_properties.setter
    def super_properties(self, value: Mapping[str, Any] | None) -> None:
        self._core.super_properties = value

    @property
    def enable_exception_autocapture(self) -> bool:
        return self._core.enable_exception_autocapture

    # -- events: plain calls, never blocking -----------------------------------------------
    # The core's own methods, with Posthog's signatures, docstrings and types (_on_core).
    # mypy flags the methods that take **kwargs: their ``self`` could in theory also come
    # by keyword. The wrapper's inferred type is still the exact sync signature.
    stats = _on_core(Client.stats)
    capture = _on_core(Client.capture, _LOCAL_FLAGS_ONLY)
    capture_ai = _on_core(Client.capture_ai)  # type: ignore[arg-type]
    page = _on_core(Client.page)  # type: ignore[arg-type]
    identify = _on_core(Client.identify)
    set = _on_core(Client.set)
    set_once = _on_core(Client.set_once)
    alias = _on_core(Client.alias)
    group_identify = _on_core(Client.group_identify)
    capture_exception = _on_core(Client.capture_exception, _LOCAL_FLAGS_ONLY)  # type: ignore[arg-type]

    # -- lifecycle (awaitable) -------------------------------------------------------------
    async def flush(self, timeout_seconds: float | None = 10) -> bool:
        """Send everything queued now; wait at most ``timeout_seconds``. True when done."""
        try:
            return await self._delivery.flush(timeout_seconds)
        except Exception as exc:
            if self.debug:
                raise
            log.warning("[PostHog] flush failed: %r", exc)
            return False

    async def join(self) -> None:
        """Deliver what is queued (bounded by ``shutdown_timeout``); later events are dropped."""
        core = self._core
        core.close_queue()
        done = await self.flush(core.shutdown_timeout)
        await self._delivery.stop()
        if not done:
            core.discard_queued("shutdown ran out of time before delivery")

    async def shutdown(self) -> None:
        """``join()``, stop polling, release connections. Idempotent."""
        await self.join()
        await self._flags.close()
        self._core.release()
        try:
            await self.async_transport.aclose()
        except Exception:
            pass

    async def __aenter__(self) -> AsyncPosthog:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.shutdown()

    # -- feature flags (awaitable) ---------------------------------------------------------
    async def feature_enabled(
        self, key: str, distinct_id: Any = None, **options: Any
    ) -> bool | None:
        result = await self._guard("feature_enabled", self._result(key, distinct_id, options))
        value = None if result is None else result.get_value()
        return None if value is None else bool(value)

    async def get_feature_flag(self, key: str, distinct_id: Any = None, **options: Any) -> Any:
        result = await self._guard("get_feature_flag", self._result(key, distinct_id, options))
        return None if result is None else result.get_value()

    async def get_feature_flag_result(
        self, key: str, distinct_id: Any = None, **options: Any
    ) -> FeatureFlagResult | None:
        return await self._guard("get_feature_flag_result", self._result(key, distinct_id, options))

    async def get_feature_flag_payload(
        self, key: str, distinct_id: Any = None, *, match_value: Any = None, **options: Any
    ) -> Any:
        options.setdefault("send_feature_flag_events", False)
        if match_value is not None:
            flagset = (await self._flags.definitions()).flagset
            if key in flagset.flags and not options["send_feature_flag_events"]:
                return match_payload(flagset, key, match_value)
        result = await self._guard(
            "get_feature_flag_payload", self._result(key, distinct_id, options)
        )
        if result is None:
            return None
        return payload_of(result, self._flags.store.current.flagset, match_value)

    async def _result(
        self, key: str, distinct_id: Any, options: dict[str, Any]
    ) -> FeatureFlagResult | None:
        if self.disabled:
            return None
        core = self._core
        query, send_events = core._single_query(distinct_id, options)
        record = None if query.distinct_id is None else await self._flags.one(query, str(key))
        return core._single_result(key, query, record, send_events, options)

    async def get_all_flags(
        self, distinct_id: Any = None, **options: Any
    ) -> dict[str, FlagValue] | None:
        both = await self.get_all_flags_and_payloads(distinct_id, **options)
        return both["featureFlags"]

    async def get_all_flags_and_payloads(
        self, distinct_id: Any = None, **options: Any
    ) -> FlagsAndPayloads:
        result = await self._guard(
            "get_all_flags_and_payloads", self._flags_and_payloads(distinct_id, options)
        )
        return _nothing() if result is None else result

    async def _flags_and_payloads(
        self, distinct_id: Any, options: dict[str, Any]
    ) -> FlagsAndPayloads:
        query = self._core._bulk_query(distinct_id, options)
        if query is None:
            return _nothing()
        return flags_and_payloads(await self._flags.many(query))

    async def evaluate_flags(
        self, distinct_id: Any = None, *, flag_keys: Sequence[str] | None = None, **options: Any
    ) -> FeatureFlagEvaluations:
        """A snapshot for one subject; reads report exposures, ``capture(flags=)`` attaches it."""
        result = await self._guard(
            "evaluate_flags", self._snapshot(distinct_id, flag_keys, options)
        )
        return FeatureFlagEvaluations() if result is None else result

    async def _snapshot(
        self, distinct_id: Any, flag_keys: Sequence[str] | None, options: dict[str, Any]
    ) -> FeatureFlagEvaluations:
        core = self._core
        query = core._query(distinct_id, options, flag_keys)
        wanted = core._wants_snapshot(query, flag_keys)
        outcome = await self._flags.many(query) if wanted else None
        return core._snapshot_of(query, options, outcome)

    async def load_feature_flags(self) -> None:
        """Load definitions now (awaitable, bounded) and start the poll task."""
        if self.disabled:
            return
        if self.secret_key is None:
            log.warning("[PostHog] local evaluation needs a secret_key (personal API key)")
            return
        await self._guard("load_feature_flags", self._flags.load())
        self._flags.ensure_polling()

    def feature_flag_definitions(self) -> list[dict[str, Any]] | None:
        current = self._flags.store.current
        if not current.loaded:
            return None
        return [dict(f.raw) for f in current.flagset.flags.values()]

    async def get_remote_config_payload(self, key: str) -> Any:
        if self.disabled:
            return None
        return await self._guard("get_remote_config_payload", self._flags.remote_config(key))

    async def _guard(self, name: str, work: Awaitable[T]) -> T | None:
        try:
            return await work
        except Exception as exc:
            if self.debug:
                raise
            log.warning("[PostHog] error in %s: %r", name, exc)
            return None


AsyncClient = AsyncPosthog
