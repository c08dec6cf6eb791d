from posthog.testing import async_posthog_recorder, posthog_recorder  # noqa: F401  (the documented way to get the fixtures)
