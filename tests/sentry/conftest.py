"""Fixtures for the Sentry tests; see ``sentry_support``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sentry_sdk
from sentry_support import CapturingTransport

from posthog import Posthog
from support.recording_server import RecordingServer


@pytest.fixture
def sentry_events() -> Iterator[CapturingTransport]:
    """Yields the transport; the test calls ``init_sentry`` with its integrations."""
    transport = CapturingTransport()
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: a client that records nothing


@pytest.fixture
def client(server: RecordingServer) -> Iterator[Posthog]:
    ph = Posthog("phc", host=server.url, flush_interval=0.05)
    yield ph
    ph.shutdown()
