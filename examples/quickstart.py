"""The documented PostHog Python calls, as written in PostHog's docs.

Run against any PostHog (Cloud, self-hosted) or the local dev server:
    POSTHOG_HOST=http://127.0.0.1:8010 python examples/quickstart.py
(`make demo` starts a local server and runs this for you.)
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

from posthog import Posthog

HOST = os.environ.get("POSTHOG_HOST", "http://127.0.0.1:8010")
PROJECT_KEY = os.environ.get("POSTHOG_PROJECT_API_KEY", "phc_demo_project")
PERSONAL_KEY = os.environ.get("POSTHOG_PERSONAL_API_KEY", "phx_demo_personal")

# The personal API key is necessary only if you want to use local evaluation of feature flags.
posthog = Posthog(PROJECT_KEY, host=HOST, personal_api_key=PERSONAL_KEY)

# -- capture: the documented style, and the current keyword style ---------------------
posthog.capture("distinct id", "movie played", {"movie_id": "123", "category": "romcom"})
posthog.capture(
    "distinct id",
    event="movie played",
    properties={"movie_id": "456", "category": "thriller"},
    timestamp=datetime.now(timezone.utc),
)
posthog.capture("movie played", distinct_id="distinct id", properties={"movie_id": "789"})

# -- person properties via events, identify, alias -----------------------------------
posthog.capture("distinct id", event="movie played", properties={"$set": {"userProperty": "value"}})
posthog.capture(
    "distinct id", event="movie played", properties={"$set_once": {"firstMovie": "123"}}
)
posthog.capture("session:12345", "landing page viewed", {"$set_once": {"referrer": "newsletter"}})
posthog.identify(
    "distinct id", {"email": "dwayne@example.com", "name": "Dwayne Johnson", "plan": "pro"}
)
posthog.alias("distinct id", "session:12345")

# -- groups and page views ---------------------------------------------------------
posthog.capture("distinct id", "some event", groups={"company": "42dlsfj23f"})
posthog.group_identify("company", "42dlsfj23f", {"name": "Awesome Inc.", "employees": 11})
posthog.capture("distinct id", "$pageview", {"$current_url": "https://example.com/movies"})

# -- feature flags: local evaluation (personal key), overrides, payloads ------------------
print(
    "beta-feature:",
    posthog.feature_enabled(
        "beta-feature", "distinct id", person_properties={"is_authorized": True}
    ),
)
print("new_ui:", posthog.get_feature_flag("new_ui", "distinct id"))
print(
    "homepage-experiment:",
    posthog.get_feature_flag(
        "homepage-experiment", "distinct id", person_properties={"plan": "pro"}
    ),
)
print(
    "company-insights:",
    posthog.get_feature_flag(
        "company-insights",
        "distinct id",
        groups={"company": "42dlsfj23f"},
        group_properties={"company": {"employees": 11}},
    ),
)
print(
    "beta-feature payload:",
    posthog.get_feature_flag_payload(
        "beta-feature", "distinct id", person_properties={"is_authorized": True}
    ),
)
# Needs the server (experience continuity): evaluated remotely by the /flags endpoint.
print("sticky-onboarding (remote):", posthog.get_feature_flag("sticky-onboarding", "distinct id"))
print(
    "all flags:",
    posthog.get_all_flags("distinct id", person_properties={"is_authorized": True, "plan": "pro"}),
)
print(
    "local only:",
    posthog.get_feature_flag("sticky-onboarding", "distinct id", only_evaluate_locally=True),
)

posthog.shutdown()
print("delivery:", posthog.stats())
