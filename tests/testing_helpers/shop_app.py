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
