from posthog.testing import posthog_recorder  # noqa: F401  (the documented way to get the fixture)
