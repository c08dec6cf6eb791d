from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support.recording_server import RecordingServer


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _reset_module_client() -> Iterator[None]:
    """Each test starts with pristine module-level settings and no default client."""
    import posthog

    saved = {
        k: getattr(posthog, k)
        for k in dir(posthog)
        if not k.startswith("_")
        and not callable(getattr(posthog, k))
        and not isinstance(getattr(posthog, k), type(posthog))
    }
    yield
    client = posthog._default.existing_client()
    if client is not None:
        client.shutdown()
    posthog._default.reset()
    for k, v in saved.items():
        setattr(posthog, k, v)
    posthog.default_client = None
