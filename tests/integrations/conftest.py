"""Fixtures for the framework integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from posthog import Posthog
from support.recording_server import RecordingServer


@pytest.fixture
def client(server: RecordingServer) -> Iterator[Posthog]:
    ph = Posthog("phc_test", host=server.url, flush_interval=0.05)
    yield ph
    ph.shutdown()
