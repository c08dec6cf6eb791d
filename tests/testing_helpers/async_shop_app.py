"""A small asyncio sample application that uses ``AsyncPosthog``.

AsyncPosthog has no module-level default client, so the app takes its client as an
argument (as a FastAPI/Starlette app keeps one in its state). The tests next to it are
written the way a user of ``posthog.testing.AsyncRecordingClient`` would write them.
"""

from __future__ import annotations

import asyncio

import posthog
from posthog import AsyncPosthog


class AsyncShop:
    def __init__(self, posthog_client: AsyncPosthog) -> None:
        self.analytics = posthog_client

    async def checkout(self, user_id: str, amount: float) -> str:
        """Place an order; the new checkout flow is behind the ``new-checkout`` flag."""
        flow = "new" if await self.analytics.feature_enabled("new-checkout", user_id) else "classic"
        button = await self.analytics.get_feature_flag("buy-button-color", user_id) or "blue"
        await asyncio.sleep(0)  # the order is saved somewhere else
        self.analytics.capture(
            "order placed",
            distinct_id=user_id,
            properties={"amount": amount, "flow": flow, "button": button},
        )
        return flow

    async def sign_up(self, user_id: str, email: str) -> None:
        self.analytics.set(distinct_id=user_id, properties={"email": email})
        self.analytics.capture("signed up", distinct_id=user_id)

    async def search(self, user_id: str, query: str) -> str:
        """Ranking is an experiment: evaluate once, branch on it, attach it to the event."""
        flags = await self.analytics.evaluate_flags(user_id)
        ranking = flags.get_flag("search-ranking") or "classic"
        self.analytics.capture(
            "searched", distinct_id=user_id, properties={"query": query}, flags=flags
        )
        return str(ranking)

    async def banner(self, user_id: str) -> str | None:
        """The banner text is the flag's payload (no exposure for a payload read)."""
        payload = await self.analytics.get_feature_flag_payload("promo-banner", user_id)
        return None if payload is None else str(payload["text"])

    async def handle_request(self, user_id: str, path: str) -> bool:
        """One request, as middleware would run it: the person comes from the context."""
        with posthog.new_context():
            posthog.identify_context(user_id)
            await asyncio.sleep(0)  # let the other requests interleave
            beta = bool(await self.analytics.feature_enabled("beta-nav"))
            self.analytics.capture("page served", properties={"path": path, "beta": beta})
            return beta

    async def serve(self, requests: list[tuple[str, str]]) -> list[bool]:
        return list(await asyncio.gather(*(self.handle_request(u, p) for u, p in requests)))
