"""Link Sentry errors and PostHog people (the documented Sentry integration).

* :mod:`posthog.sentry.posthog_integration` — ``PostHogIntegration`` for ``sentry_sdk.init``;
* :mod:`posthog.sentry.django` — ``PosthogDistinctIdMiddleware``, which sets the
  ``posthog_distinct_id`` Sentry tag from ``settings.POSTHOG_DJANGO["distinct_id"]``.

Needs the ``sentry`` extra (``sentry-sdk>=2``); importing this package does not import it.
"""

from __future__ import annotations

__all__: list[str] = []
