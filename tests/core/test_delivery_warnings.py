"""Problems an event is admitted with are reported once per kind per minute, not per event."""

from __future__ import annotations

import logging

import pytest

from posthog import Posthog


def test_a_thousand_bad_events_make_one_line_per_kind(caplog: pytest.LogCaptureFixture) -> None:
    client = Posthog("phc", send=False)
    with caplog.at_level(logging.WARNING, logger="posthog"):
        for _ in range(1000):
            ident = client.capture(
                "e", distinct_id="u", properties={"bad": object()}, timestamp="garbage"
            )
            assert ident is not None
    lines = [r.getMessage() for r in caplog.records if r.name == "posthog"]
    assert len(lines) == 2, lines
    assert any("invalid timestamp 'garbage'" in m for m in lines)
    assert any("properties.bad" in m for m in lines)
    client.shutdown()
