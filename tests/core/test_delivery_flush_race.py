"""flush() and the worker cutting a batch at the same moment."""

from __future__ import annotations

import sys

from posthog import Posthog
from support.recording_server import RecordingServer


def test_flush_returns_only_after_the_batch_being_cut_is_delivered() -> None:
    """flush() must not see an empty queue while the worker is still cutting a batch.

    A tiny GIL switch interval makes the threads interleave inside the worker's batch
    cut; before the fix this failed most runs within the first few events."""
    blob = "x" * 50_000
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    with RecordingServer() as server:
        client = Posthog("phc", host=server.url, flush_at=1, flush_interval=0.0, gzip=False)
        try:
            for i in range(200):
                client.capture("d", "big", {"blob": blob, "i": i})
                assert client.flush(10)
                assert len(server.events()) == i + 1, f"flush returned before event {i} arrived"
        finally:
            sys.setswitchinterval(old)
            client.shutdown()
