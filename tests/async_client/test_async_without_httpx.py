"""Without the optional ``async`` extra (httpx), AsyncPosthog says what to install, and
still works with a transport of the user's own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from support.recording_server import RecordingServer

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_missing_httpx_names_the_extra_and_a_transport_still_works(
    server: RecordingServer,
) -> None:
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        sys.modules["httpx"] = None  # as if the extra were not installed
        from posthog import AsyncPosthog, HTTPTransport
        try:
            AsyncPosthog("phc", host={server.url!r})
        except ImportError as exc:
            print("ERROR:", exc)

        async def main():
            async with AsyncPosthog("phc", host={server.url!r}, transport=HTTPTransport()) as ph:
                ph.capture("sent without httpx", distinct_id="d")

        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'hogwire[async]'" in done.stdout
    [event] = server.wait_for_events(1)
    assert event["event"] == "sent without httpx"
