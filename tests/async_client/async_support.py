"""Helpers for the asyncio client tests: a loop-blocking detector and flag replies."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

from support.held import HeldReplies
from support.recording_server import Recorded, RecordingServer, Reply

Responder = Callable[[Recorded], Reply]


class LoopTurns:
    """Counts the event loop's turns; a server gated by it holds each request until the
    loop has turned while that request was in flight.

    An SDK that waited for an answer on the loop (a blocking call inside a coroutine, or a
    blocking call from a sync method such as ``capture``) would stop the turns the server
    waits for: that wait runs out of ``patience`` and is counted as a stall. No wall-clock
    figure is asserted, so a loaded machine makes a test slower, never wrong.

    Use the client inside ``async with turns`` (requests after it would stall), and also
    check the answers arrived: an SDK blocking with a timeout shorter than ``patience``
    gives up first, the loop then turns and the gate opens, but the answer is lost.
    """

    def __init__(self, patience: float = 5.0) -> None:
        self.patience = patience
        self.ticks = 0
        self.waits = 0
        self.stalls = 0
        self._cond = threading.Condition()
        self._task: asyncio.Task[None] | None = None

    def gate(self, answer: Responder, prefix: str = "/") -> Responder:
        """``answer``, but requests whose path starts with ``prefix`` wait for two turns."""

        def respond(rec: Recorded) -> Reply:
            if rec.path.startswith(prefix):
                self._wait_for_turns(2)
            return answer(rec)

        return respond

    def _wait_for_turns(self, turns: int) -> None:
        with self._cond:
            self.waits += 1
            start = self.ticks
            # after one stall the verdict is in: answer the rest at once
            if not self._cond.wait_for(
                lambda: self.ticks >= start + turns or self.stalls > 0, timeout=self.patience
            ):
                self.stalls += 1

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.002)
            with self._cond:
                self.ticks += 1
                self._cond.notify_all()

    async def __aenter__(self) -> LoopTurns:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


class Hold(HeldReplies):
    """The shared :class:`support.held.HeldReplies` (patience 10 s) under this package's
    names: ``held`` requests, ``wait_held``."""

    def __init__(
        self,
        answer: Responder,
        holds: Callable[[Recorded], bool] = lambda rec: True,
        patience: float = 10.0,
    ) -> None:
        super().__init__(answer, holds, patience)

    @property
    def held(self) -> int:
        return self.arrived

    def wait_held(self, count: int, timeout: float = 5.0) -> bool:
        """Until ``count`` requests are being (or have been) held."""
        return self.wait_arrived(count, timeout)


def roomy(server: RecordingServer) -> RecordingServer:
    """Deepen the server's listen backlog (socketserver's default is 5).

    Many clients connecting at once otherwise overflow it, and the kernel's SYN retry
    adds a full second to some connections: a property of the test server, not the SDK.
    """
    server.httpd.socket.listen(512)
    return server


def flags_reply(distinct_id: str, keys: list[str] | None = None) -> dict[str, Any]:
    """A v4 ``/flags`` answer: ``beta`` is on for ids ending in an even digit."""
    on = distinct_id[-1:].isdigit() and int(distinct_id[-1]) % 2 == 0
    flags = {
        "beta": {
            "key": "beta",
            "enabled": on,
            "variant": None,
            "reason": {"code": "condition_match" if on else "no_condition_match"},
            "metadata": {"id": 7, "version": 2, "payload": '{"n": 1}' if on else None},
        },
        "color": {
            "key": "color",
            "enabled": True,
            "variant": "blue",
            "reason": {"code": "condition_match"},
            "metadata": {"id": 8, "version": 1},
        },
    }
    if keys:
        flags = {k: v for k, v in flags.items() if k in keys}
    return {"flags": flags, "requestId": f"req-{distinct_id}"}


def flags_responder(delay: float = 0.0, slow_prefix: str = "slow", slow_delay: float = 0.0) -> Any:
    def respond(rec: Recorded) -> Reply:
        if rec.path.startswith("/flags/?"):
            body = rec.json()
            ident = str(body["distinct_id"])
            wait = slow_delay if ident.startswith(slow_prefix) else delay
            return Reply(200, flags_reply(ident, body.get("flag_keys_to_evaluate")), delay=wait)
        return Reply()

    return respond


DEFINITIONS = {
    "flags": [
        {
            "id": 1,
            "key": "local-flag",
            "active": True,
            "version": 3,
            "filters": {
                "groups": [
                    {
                        "properties": [
                            {"key": "plan", "value": ["pro"], "operator": "exact", "type": "person"}
                        ],
                        "rollout_percentage": 100,
                    }
                ],
                "payloads": {"true": '{"discount": 10}'},
            },
        },
        {
            "id": 2,
            "key": "everyone",
            "active": True,
            "filters": {"groups": [{"properties": [], "rollout_percentage": 100}]},
        },
    ],
    "group_type_mapping": {},
    "cohorts": {},
}
