"""Flag I/O on the event loop: definitions (load + poll task) and remote ``/flags``.

Every decision is the sync client's: the steps of a call (``posthog._flags.flow``: local
first, what to ask the server, how answers become records), when to load and how long
to back off (``posthog._flags.policy``), one definitions load
(``posthog._flags.poller.DefinitionFetch``) and the ``/flags`` retry loop
(``posthog._flags.remote.flags_exchange``), both sans-I/O exchanges this module drives
with awaits. What is left here is waiting: a poll task instead of a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from posthog._flags.flow import (
    BulkPlan,
    FlagLog,
    FlagQuery,
    Outcome,
    bulk_answer,
    bulk_failed,
    local_records,
    plan_bulk,
    remote_body,
    single_answer,
    single_failed,
    single_local,
)
from posthog._flags.policy import Step
from posthog._flags.policy import local_only as stays_local
from posthog._flags.poller import DefinitionFetch, publish_file
from posthog._flags.remote import (
    Exchange,
    RemoteResponse,
    error_code,
    flags_exchange,
    read_remote_config,
    remote_config_request,
)
from posthog._flags.store import Definitions, DefinitionStore
from posthog._flags.unsupported import UnsupportedFlags
from posthog._transport.asynchronous import AsyncTransport
from posthog._transport.base import Request, Response
from posthog.exceptions import TransportError
from posthog.types import FlagRecord

__all__ = ["AsyncFlags"]

log = logging.getLogger("posthog")
T = TypeVar("T")


class AsyncFlags:
    def __init__(
        self,
        *,
        transport: AsyncTransport,
        host: str,
        api_key: str,
        secret: str | None,
        timeout: float,
        max_retries: int,
        poll_interval: Callable[[], float],
        enable_local_evaluation: bool,
        definitions: str | Mapping[str, Any] | None,
        warn: FlagLog | None = None,
    ) -> None:
        self.transport = transport
        # flag errors are logged at the capture side's rate (its own limiter: the client
        # builds this service without handing over its ``Reporter``)
        self.warn = warn or FlagLog(None)
        self.host = host.rstrip("/")
        self.api_key = api_key
        self.secret = secret
        self.timeout = timeout
        self.max_retries = max_retries
        self.enable_local_evaluation = enable_local_evaluation
        self.store = DefinitionStore()
        self._interval = poll_interval
        self._file = definitions
        self._fetch: DefinitionFetch | None = None
        unsupported = UnsupportedFlags()
        if secret is not None and definitions is None:
            self._fetch = DefinitionFetch(
                host, api_key, secret, self.store, retry_gap=timeout, unsupported=unsupported
            )
        self._poller: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._kicked = False
        self._attempt: asyncio.Future[None] | None = None  # the load a flag call waits for
        self._closed = False
        if definitions is not None:
            publish_file(self.store, definitions, unsupported)

    # -- definitions ---------------------------------------------------------------------
    async def load(self) -> bool:
        """One GET of the definitions (ETag; legacy path on 404); True when fresh."""
        if self._fetch is None:
            return False
        return await self._drive(self._fetch.exchange())

    def ensure_polling(self) -> None:
        """After ``load()``: keep polling on the running loop (if enabled)."""
        if self._fetch is None or self._closed or not self.enable_local_evaluation:
            return
        if not self._running():
            self._start(immediate=False)

    def _running(self) -> bool:
        task = self._poller
        return (
            task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop()
        )

    def _start(self, *, immediate: bool) -> None:
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._kicked = False
        if immediate:
            self._attempt = loop.create_future()
        self._poller = loop.create_task(self._poll(immediate), name="posthog-flag-poller")

    def _ensure_loading(self) -> None:
        """Start or wake the one poll task when ``policy`` says a load is due."""
        fetch = self._fetch
        if fetch is None or self._closed:
            return
        running = self._running()
        if not running:
            fetch.state.abandoned()  # e.g. the task of an earlier loop, cancelled mid-load
        step = fetch.state.next_step(
            loaded=self.store.current.loaded,
            running=running,
            polling=self.enable_local_evaluation,
            now=time.monotonic(),
        )
        if step is Step.POLL:
            self._start(immediate=False)
        elif step is Step.LOAD:
            if running and self._wake is not None:
                self._attempt = asyncio.get_running_loop().create_future()
                self._kicked = True
                self._wake.set()
            else:
                self._start(immediate=True)

    async def _poll(self, immediate: bool) -> None:
        if not immediate and not await self._wait():
            return
        loop = asyncio.get_running_loop()
        while not self._closed:
            attempt = self._attempt
            if attempt is None or attempt.done() or attempt.get_loop() is not loop:
                attempt = self._attempt = loop.create_future()
            try:
                await self.load()
            except Exception as exc:  # a poller must outlive any single bad answer
                log.warning("[PostHog] flag definitions poll failed: %r", exc)
            finally:
                if not attempt.done():
                    attempt.set_result(None)
            if not await self._wait():
                return

    async def _wait(self) -> bool:
        """Until the next load is due (interval passed or kicked); False: end the task."""
        wake = self._wake
        assert wake is not None
        start = time.monotonic()
        while not self._closed:
            if self._kicked:
                self._kicked = False
                return True
            if not self.enable_local_evaluation:
                return False  # no polling: this task ends until a flag call needs a load
            wake.clear()
            assert self._fetch is not None
            remaining = self._fetch.state.delay(self._interval()) - (time.monotonic() - start)
            if remaining <= 0:
                return True
            try:
                await asyncio.wait_for(wake.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        return False

    async def definitions(self) -> Definitions:
        """The current snapshot. Until definitions are loaded a call may start (or wake)
        a load and then waits for it at most ``timeout`` (spec 5.1)."""
        current = self.store.current
        if current.loaded or self._fetch is None:
            return current
        self._ensure_loading()
        attempt = self._attempt
        if (
            self._fetch.state.in_flight
            and attempt is not None
            and not attempt.done()
            and attempt.get_loop() is asyncio.get_running_loop()
        ):
            try:
                await asyncio.wait_for(asyncio.shield(attempt), self.timeout)
            except asyncio.TimeoutError:
                pass
        return self.store.current

    async def close(self) -> None:
        self._closed = True
        task, self._poller = self._poller, None
        if task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    # -- evaluation: the steps of posthog._flags.flow, awaiting only the I/O -------------
    def _local_only(self, query: FlagQuery) -> bool:
        return stays_local(query.only_evaluate_locally, self._file is not None)

    async def one(self, query: FlagQuery, key: str) -> FlagRecord:
        flagset = (await self.definitions()).flagset
        local, final = single_local(flagset, query, key, local_only=self._local_only(query))
        if final:
            assert local is not None
            return local
        try:
            response = await self.remote(query, [key])
        except Exception as exc:
            return single_failed(key, exc, local, self.warn)
        return single_answer(key, response, self.warn)

    async def many(self, query: FlagQuery) -> Outcome:
        flagset = (await self.definitions()).flagset
        plan: BulkPlan | Outcome = plan_bulk(flagset, query, local_only=self._local_only(query))
        if isinstance(plan, Outcome):
            return plan
        try:
            response = await self.remote(query, plan.ask)
        except Exception as exc:
            return bulk_failed(plan, exc, self.warn)
        return bulk_answer(plan, response)

    def local_only(self, query: FlagQuery) -> dict[str, FlagRecord]:
        """What the loaded definitions decide without any I/O (for ``capture``)."""
        records, _pending = local_records(self.store.current.flagset, query)
        return records

    async def remote(self, query: FlagQuery, keys: Sequence[str] | None) -> RemoteResponse:
        """``POST /flags``: retries transport errors and 502/504 (``max_retries`` times)."""
        body = remote_body(self.api_key, query, keys)
        steps = flags_exchange(self.host, body, timeout=self.timeout, max_retries=self.max_retries)
        return await self._drive(steps)

    async def _drive(self, steps: Exchange[T]) -> T:
        """Run a sans-I/O exchange: await each request, sleep each delay on the loop."""
        try:
            step = next(steps)
            while True:
                reply: Response | TransportError | None = None
                if isinstance(step, Request):
                    try:
                        reply = await self.transport.request(step)
                    except TransportError as exc:
                        reply = exc
                else:
                    await asyncio.sleep(step)
                step = steps.send(reply)
        except StopIteration as done:
            result: T = done.value
            return result
        finally:
            steps.close()

    async def remote_config(self, key: str) -> Any:
        if self.secret is None:
            log.warning("[PostHog] get_remote_config_payload needs a secret_key")
            return None
        request = remote_config_request(self.host, self.api_key, self.secret, key, self.timeout)
        try:
            return read_remote_config(await self.transport.request(request))
        except Exception as exc:
            code = error_code(exc)
            self.warn(f"remote config {code}", f"remote config for {key!r} failed ({code}): {exc}")
            return None
