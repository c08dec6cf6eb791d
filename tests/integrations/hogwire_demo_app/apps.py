"""The documented Django setup: configure the module-level client in ``AppConfig.ready``."""

from __future__ import annotations

from django.apps import AppConfig

import posthog

#: Set by the test before the app is installed (stands in for '<ph_instance_address>').
HOST = "http://127.0.0.1:9"


class YourAppConfig(AppConfig):
    name = "hogwire_demo_app"
    default = True

    def ready(self) -> None:
        posthog.api_key = "phc_from_appconfig"
        posthog.host = HOST
