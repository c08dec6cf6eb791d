"""Flag I/O on the event loop: definitions (load + poll task) and remote ``/flags``.

Every decision is the sync client's: the evaluator, ``make_subject``/``from_local``/
``from_remote``/``failed_record`` (``posthog._flags.service``), the ``/flags`` body, retry
loop and response reading (``posthog._flags.remote.flags_exchange``, a sans-I/O generator
this module drives with awaits), remote config's request and reading, and the
definitions-response reading (``posthog._flags.poller.interpret``). This module only
awaits the requests and mirrors ``FlagService.one``/``many``'s order: local first, one
bounded remote call for the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from posthog._flags.evaluator import evaluate, evaluate_all
from posthog._flags.poller import DEFINITIONS_PATH, LEGACY_PATH, interpret, load_file
from posthog._flags.poller import Outcome as FetchOutcome
from posthog._flags.remote import (
    USER_AGENT,
    RemoteResponse,
    build_body,
    error_code,
    flags_exchange,
    read_remote_config,
    remote_config_request,
)
from posthog._flags.results import Evaluation, Reason
from posthog._flags.service import (
    _GO_REMOTE,
    FlagQuery,
    Outcome,
    failed_record,
    from_local,
    from_remote,
    make_subject,
)
from posthog._flags.store import Definitions, DefinitionStore
from posthog._transport.asynchronous import AsyncTransport
from posthog._transport.base import Request, Response
from posthog.exceptions import TransportError
from posthog.types import FlagRecord

__all__ = ["AsyncFlags"]

log = logging.getLogger("posthog")
FETCH_TIMEOUT = 10.0


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
    ) -> None:
        self.transport = transport
        self.host = host.rstrip("/")
        self.api_key = api_key
        self.secret = secret
        self.timeout = timeout
        self.max_retries = max_retries
        self.enable_local_evaluation = enable_local_evaluation
        self.store = DefinitionStore()
        self._interval = poll_interval
        self._file = definitions
        self._legacy = False
        self._poller: asyncio.Task[None] | None = None
        self._first_load: asyncio.Future[None] | None = None
        self._closed = False
        if definitions is not None:
            try:
                self.store.publish(load_file(definitions))
            except (OSError, ValueError) as exc:
                log.error("[PostHog] could not read flag definitions from %r: %s", definitions, exc)

    # -- definitions ---------------------------------------------------------------------
    async def load(self) -> bool:
        """One GET of the definitions (ETag; legacy path on 404); True when fresh."""
        if self.secret is None:
            return False
        try:
            outcome = await self._fetch()
            if outcome.try_legacy and not self._legacy:
                self._legacy = True
                outcome = await self._fetch()
        except TransportError as exc:
            log.warning("[PostHog] could not load flag definitions (%r); will retry", exc)
            return False
        if outcome.publish is not None:
            self.store.publish(outcome.publish)
        log.log(outcome.level, "[PostHog] %s", outcome.message)
        return outcome.ok

    async def _fetch(self) -> FetchOutcome:
        current = self.store.current
        etag = current.etag if current.source == "server" else None
        headers = {"Authorization": f"Bearer {self.secret}", "User-Agent": USER_AGENT}
        if etag:
            headers["If-None-Match"] = etag
        path = LEGACY_PATH if self._legacy else DEFINITIONS_PATH
        url = f"{self.host}{path}?token={self.api_key}&send_cohorts"
        response = await self.transport.request(Request("GET", url, headers, None, FETCH_TIMEOUT))
        return interpret(response, current, etag)

    def ensure_polling(self) -> None:
        """Start the poll task on the running loop (once per loop)."""
        if self._file is not None or self.secret is None or self._closed:
            return
        loop = asyncio.get_running_loop()
        task = self._poller
        if task is not None and not task.done() and task.get_loop() is loop:
            return
        self._first_load = loop.create_future()
        self._poller = loop.create_task(self._poll(self._first_load), name="posthog-flag-poller")

    async def _poll(self, first: asyncio.Future[None]) -> None:
        try:
            while not self._closed:
                await self.load()
                if not first.done():
                    first.set_result(None)
                if not self.enable_local_evaluation:
                    return
                await asyncio.sleep(max(1.0, float(self._interval())))
        finally:
            if not first.done():
                first.set_result(None)

    async def definitions(self) -> Definitions:
        """The current snapshot; the first call waits (at most ``timeout``) for a load."""
        current = self.store.current
        if current.loaded or self.secret is None or self._file is not None:
            return current
        self.ensure_polling()
        if self._first_load is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._first_load), self.timeout)
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

    # -- evaluation (the order of FlagService.one / many) --------------------------------
    async def one(self, query: FlagQuery, key: str) -> FlagRecord:
        flagset = (await self.definitions()).flagset
        local: FlagRecord | None = None
        if key in flagset.flags:
            ev = evaluate(flagset, key, make_subject(query))
            local = from_local(ev, flagset.minimal_flag_called_events)
            if ev.reason not in _GO_REMOTE:
                return local
        if query.only_evaluate_locally:
            return local if local is not None else from_local(_missing(key), False)
        try:
            response = await self.remote(query, [key])
        except Exception as exc:
            code = error_code(exc)
            log.warning("[PostHog] flag %r: remote evaluation failed (%s): %s", key, code, exc)
            return failed_record(key, code, local)
        return from_remote(key, response)

    async def many(self, query: FlagQuery) -> Outcome:
        flagset = (await self.definitions()).flagset
        records, pending = local_records(flagset, query)
        ask_all = not flagset.flags and not query.keys
        if query.only_evaluate_locally or not (pending or ask_all):
            records.update(pending)
            return Outcome(records)
        try:
            response = await self.remote(query, None if ask_all else list(pending))
        except Exception as exc:
            code = error_code(exc)
            log.warning("[PostHog] remote flag evaluation failed (%s): %s", code, exc)
            records.update({k: failed_record(k, code, r) for k, r in pending.items()})
            return Outcome(records, code, code == "quota_limited")
        for key in list(response.flags) if ask_all else list(pending):
            records.setdefault(key, from_remote(key, response))
        error = "errors_while_computing_flags" if response.errors_while_computing else None
        return Outcome(records, error)

    def local_only(self, query: FlagQuery) -> dict[str, FlagRecord]:
        """What the loaded definitions decide without any I/O (for ``capture``)."""
        records, _pending = local_records(self.store.current.flagset, query)
        return records

    async def remote(self, query: FlagQuery, keys: Sequence[str] | None) -> RemoteResponse:
        """``POST /flags``: retries transport errors and 502/504 (``max_retries`` times)."""
        body = build_body(
            api_key=self.api_key,
            distinct_id=query.distinct_id,
            groups=query.groups,
            person_properties=query.person_properties,
            group_properties=query.group_properties,
            geoip_disable=query.geoip_disable,
            device_id=query.device_id,
            flag_keys=keys,
        )
        steps = flags_exchange(self.host, body, timeout=self.timeout, max_retries=self.max_retries)
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
            result: RemoteResponse = done.value
            return result

    async def remote_config(self, key: str) -> Any:
        if self.secret is None:
            log.warning("[PostHog] get_remote_config_payload needs a secret_key")
            return None
        request = remote_config_request(self.host, self.api_key, self.secret, key, self.timeout)
        try:
            return read_remote_config(await self.transport.request(request))
        except Exception as exc:
            log.warning("[PostHog] remote config for %r failed (%s): %s", key, error_code(exc), exc)
            return None


def local_records(
    flagset: Any, query: FlagQuery
) -> tuple[dict[str, FlagRecord], dict[str, FlagRecord]]:
    """Split local results into decided records and those that need the server."""
    records: dict[str, FlagRecord] = {}
    pending: dict[str, FlagRecord] = {}
    if flagset.flags:
        minimal = flagset.minimal_flag_called_events
        for key, ev in evaluate_all(flagset, make_subject(query), query.keys).items():
            (pending if ev.reason in _GO_REMOTE else records)[key] = from_local(ev, minimal)
    elif query.keys:
        pending = {k: from_local(_missing(k), False) for k in query.keys}
    return records, pending


def _missing(key: str) -> Evaluation:
    return Evaluation(
        key, None, None, Reason.FLAG_MISSING, None, "Flag not found", None, None, None, None
    )
