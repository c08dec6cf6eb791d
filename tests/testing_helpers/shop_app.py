"""A small sample application that uses PostHog the documented way (module-level API).

The tests next to it are written the way a user of ``posthog.testing`` would write them.
"""

from __future__ import annotations

import posthog


def checkout(user_id: str, amount: float) -> str:
    """Place an order; the new checkout flow is behind the ``new-checkout`` flag."""
    flow = "new" if posthog.feature_enabled("new-checkout", user_id) else "classic"
    button = posthog.get_feature_flag("buy-button-color", user_id) or "blue"
    posthog.capture(
        "order placed",
        distinct_id=user_id,
        properties={"amount": amount, "flow": flow, "button": button},
    )
    return flow


def sign_up(user_id: str, email: str) -> None:
    posthog.set(distinct_id=user_id, properties={"email": email})
    posthog.capture("signed up", distinct_id=user_id)


def import_contacts(user_id: str, rows: list[str]) -> int:
    imported = 0
    for row in rows:
        try:
            if "@" not in row:
                raise ValueError(f"not an email address: {row!r}")
            imported += 1
        except ValueError as exc:
            posthog.capture_exception(exc, distinct_id=user_id)
    return imported


def view_product(user_id: str, product_id: str) -> None:
    """Product views carry the person's flags, so funnels can be split by variant."""
    posthog.capture(
        "product viewed",
        distinct_id=user_id,
        properties={"product_id": product_id},
        send_feature_flags=True,
    )


def search(user_id: str, query: str) -> str:
    """Ranking is an experiment: evaluate once, branch on it, attach it to the event."""
    flags = posthog.evaluate_flags(user_id)
    ranking = flags.get_flag("search-ranking") or "classic"
    posthog.capture("searched", distinct_id=user_id, properties={"query": query}, flags=flags)
    return str(ranking)
