from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from devserver_helpers import Http

from posthog_devserver import DevServer


@pytest.fixture
def dev() -> Iterator[DevServer]:
    with DevServer() as server:
        yield server


@pytest.fixture
def http(dev: DevServer) -> Iterator[Http]:
    client = Http(dev.url)
    yield client
    client.close()
