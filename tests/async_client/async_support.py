"""Helpers for the asyncio client tests: a loop-blocking detector and flag replies."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from support.recording_server import Recorded, RecordingServer, Reply


class Heartbeat:
    """A task ticking every ``period`` seconds; a blocked loop shows up as a long gap."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.ticks = 0
        self.max_gap = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.period)
            now = time.monotonic()
            self.max_gap = max(self.max_gap, now - last)
            self.ticks += 1
            last = now

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


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
