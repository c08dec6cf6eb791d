"""Django settings for the Sentry + Django tests (shared with the framework tests) and a
real ``sentry_sdk`` client whose transport keeps envelopes instead of sending them."""

from __future__ import annotations

import threading
from typing import Any

import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from integrations.integration_support import configure_django

configure_django()  # the same settings as the framework tests, whichever runs first

DSN = "https://public@o1.ingest.sentry.io/42"


class CapturingTransport(Transport):
    """Sentry's own transport interface; envelopes are kept in memory."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []
        self._lock = threading.Lock()

    def capture_envelope(self, envelope: Envelope) -> None:
        with self._lock:
            self.envelopes.append(envelope)

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            found = [e.get_event() for e in self.envelopes]
        return [e for e in found if e is not None]


def init_sentry(transport: CapturingTransport, integrations: list[Any], **options: Any) -> None:
    sentry_sdk.init(
        dsn=DSN,
        transport=transport,
        integrations=integrations,
        default_integrations=False,
        auto_enabling_integrations=False,
        **options,
    )
