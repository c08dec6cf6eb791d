from posthog import *  # noqa: F403
