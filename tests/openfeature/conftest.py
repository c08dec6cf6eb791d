from __future__ import annotations

from collections.abc import Iterator

import pytest

from openfeature import api


@pytest.fixture(autouse=True)
def _fresh_openfeature() -> Iterator[None]:
    """OpenFeature keeps providers and hooks globally: reset them around each test."""
    api.clear_hooks()
    yield
    api.shutdown()
    api.clear_providers()
    api.clear_hooks()
