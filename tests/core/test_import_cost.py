"""``import posthog`` loads what capturing needs, and the rest on first use (issue 2).

Structural, not timed: a fresh interpreter reports which modules each step added to
``sys.modules``. Import time itself is a figure in ``benchmarks/capture_bench.py``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from support.recording_server import RecordingServer

SRC = str(Path(__file__).resolve().parents[2] / "src")

#: Slow to import, and needed by neither ``import posthog`` nor the first ``capture()``:
#: the JSON codec (orjson imports json, uuid, platform, dataclasses, inspect) loads with
#: the first client, the wire format and HTTP with the first send, flags with the first
#: flag call, the result types and the asyncio client when first named.
NOT_AT_IMPORT = {
    "asyncio",
    "dataclasses",
    "decimal",
    "email",
    "gzip",
    "http.client",
    "inspect",
    "ipaddress",
    "json",
    "orjson",
    "platform",
    "ssl",
    "urllib.parse",
    "uuid",
    "posthog._delivery.snapshot",
    "posthog._events.exchange",
    "posthog._exceptions.chain",
    "posthog._flags.events",
    "posthog._flags.evaluator",
    "posthog._flags.model",
    "posthog._flags.service",
    "posthog._transport.base",
    "posthog.async_client",
    "posthog.types",
}
#: Loaded by the first flag call, and not before it.
FLAG_ENGINE = {"posthog._flags.events", "posthog._flags.evaluator", "posthog._flags.service"}
#: Loaded by the first delivery (on the worker thread).
SEND_LAYER = {"http.client", "posthog._events.exchange", "posthog._transport.base"}

SCRIPT = """
import sys

steps = {}
seen = set(sys.modules)


def step(name):
    global seen
    steps[name] = sorted(set(sys.modules) - seen)
    seen = set(sys.modules)


import posthog

step("import")
client = posthog.Posthog("phc", host=URL, flush_interval=30)
client.capture("first", distinct_id="u1", properties={"n": 1})
step("capture")
assert client.flush(10)
step("send")
result_type = posthog.FeatureFlagResult
step("name")
client.get_feature_flag("some-flag", "u1", only_evaluate_locally=True)
step("flag")
client.shutdown()
print(repr(steps))
"""


def _steps(url: str) -> dict[str, set[str]]:
    script = f"URL = {url!r}\n" + textwrap.dedent(SCRIPT)
    env = {**os.environ, "PYTHONPATH": SRC}
    out = subprocess.run(
        [sys.executable, "-c", script],
        check=True,
        env=env,
        timeout=60,
        capture_output=True,
        text=True,
    )
    steps = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    return {name: set(modules) for name, modules in steps.items()}


def _heavy(loaded: set[str]) -> set[str]:
    """The modules of ``NOT_AT_IMPORT`` in ``loaded``; ``json`` stands for ``json.*`` too."""
    return {m for m in loaded if m in NOT_AT_IMPORT or m.partition(".")[0] in NOT_AT_IMPORT}


def test_import_then_capture_then_send_then_flags_load_in_layers(
    server: RecordingServer,
) -> None:
    steps = _steps(server.url)
    assert "posthog.client" in steps["import"]  # the client itself is loaded at import
    assert _heavy(steps["import"]) == set()

    # A capture-only application never loads the flag layer, not even to send.
    assert "orjson" in steps["capture"]  # the codec comes with the first client
    assert steps["send"] >= SEND_LAYER
    through_send = steps["import"] | steps["capture"] | steps["send"]
    assert through_send & (FLAG_ENGINE | {"posthog.types"}) == set()

    # Naming a result type loads the types, not the engine; a flag call loads the engine.
    assert "posthog.types" in steps["name"]
    assert steps["name"] & FLAG_ENGINE == set()
    assert steps["flag"] >= FLAG_ENGINE
    assert "posthog.async_client" not in set().union(*steps.values())
    # the dev server's regex reading is never the SDK's to load
    assert "posthog._flags.regex_python" not in set().union(*steps.values())
    # and it all worked: the capture, and the flag call's exposure sent at shutdown
    assert [e["event"] for e in server.events()] == ["first", "$feature_flag_called"]


def test_the_second_import_name_costs_what_import_posthog_does() -> None:
    script = (
        "import sys; before = set(sys.modules); import posthoganalytics; "
        "print(sorted(set(sys.modules) - before))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(ast.literal_eval(out.stdout.strip().splitlines()[-1]))
    assert _heavy(loaded) == set()
    assert "posthog.async_client" not in loaded
