"""Edge cases of ``/flags`` records and of flag error logging, pinned against the
reference SDK 7.91.1 through the real sync and asyncio clients and a loopback server:
an empty variant string (spec 5.1), the payload of a disabled flag (5.1, 3.8), payloads
that are not JSON in bulk answers (3.8), and one log line per error kind per minute."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flag_support import PROJECT_KEY, FlagsBackend, backend, client, flags_response, flushed_events

from posthog import AsyncPosthog, Posthog
from posthog._delivery.stats import Reporter
from posthog._flags.flow import FlagLog
from support.recording_server import Reply

Read = Callable[[Any], Any]  # one public read on a client (sync or asyncio)


def serve(b: FlagsBackend, body: dict[str, Any]) -> None:
    b.flags_reply = lambda _r: Reply(200, body)


def both_clients(b: FlagsBackend, reads: dict[str, Read], **options: Any) -> list[dict[str, Any]]:
    """The answers of ``reads`` from a sync client, then from an asyncio one (a read on
    the asyncio client returns an awaitable)."""
    sync = client(b.url, **options)
    answers = [{name: read(sync) for name, read in reads.items()}]

    async def main() -> dict[str, Any]:
        c = AsyncPosthog(PROJECT_KEY, host=b.url, **options)
        try:
            return {name: await read(c) for name, read in reads.items()}
        finally:
            await c.shutdown()

    answers.append(asyncio.run(main()))
    return answers


def result_of(key: str, ident: str = "u") -> Read:
    def read(c: Any) -> Any:
        if isinstance(c, Posthog):
            return summary(c.get_feature_flag_result(key, ident))

        async def later() -> Any:
            return summary(await c.get_feature_flag_result(key, ident))

        return later()

    return read


def summary(result: Any) -> Any:
    assert result is not None
    return (result.enabled, result.variant, result.get_value(), result.payload, result.error)


def snapshot_of(key: str) -> Read:
    def read(c: Any) -> Any:
        if isinstance(c, Posthog):
            snap = c.evaluate_flags("snap")
            return snap.get_flag(key), snap.get_flag_payload(key)

        async def later() -> Any:
            snap = await c.evaluate_flags("snap")
            return snap.get_flag(key), snap.get_flag_payload(key)

        return later()

    return read


# -- an empty variant string is no variant: variant or enabled (spec 5.1) --------------
@pytest.mark.parametrize(
    "body",
    [
        flags_response({"key": "f", "enabled": True, "variant": ""}),
        flags_response({"key": "f", "value": ""}),  # v4: a string value is the variant
        {"featureFlags": {"f": ""}},  # the legacy decide shape
    ],
    ids=["v2", "v4", "legacy"],
)
def test_an_empty_variant_reads_as_enabled_without_a_variant(body: dict[str, Any]) -> None:
    reads: dict[str, Read] = {
        "value": lambda c: c.get_feature_flag("f", "u"),
        "enabled": lambda c: c.feature_enabled("f", "u"),
        "result": result_of("f"),
        "all": lambda c: c.get_all_flags("u"),
        "snapshot": snapshot_of("f"),
    }
    with backend() as b:
        serve(b, body)
        for answers in both_clients(b, reads, send=False):
            assert answers == {
                "value": True,
                "enabled": True,
                "result": (True, None, True, None, None),
                "all": {"f": True},
                "snapshot": (True, None),
            }


def test_an_empty_variant_of_a_disabled_flag_stays_disabled_and_reports_true_when_on() -> None:
    body = flags_response(
        {"key": "off", "enabled": False, "variant": ""},
        {"key": "on", "enabled": True, "variant": ""},
    )
    with backend() as b:
        serve(b, body)
        c = client(b.url)
        assert c.get_feature_flag("off", "u") is False
        assert c.get_feature_flag("on", "u") is True
        responses = {
            e["properties"]["$feature_flag"]: e["properties"]["$feature_flag_response"]
            for e in flushed_events(c, b, "$feature_flag_called")
        }
        assert responses == {"off": False, "on": True}


# -- a disabled flag's payload: single reads return it, bulk reads leave it out --------
DISABLED = {"key": "toggle", "enabled": False, "variant": None, "metadata": {"payload": '"off"'}}


@pytest.mark.parametrize(
    "record",
    [DISABLED, {"key": "toggle", "value": False, "metadata": {"payload": '"off"'}}],
    ids=["v2", "v4"],
)
def test_single_reads_of_a_disabled_remote_flag_return_the_server_payload(
    record: dict[str, Any],
) -> None:
    reads: dict[str, Read] = {
        "value": lambda c: c.get_feature_flag("toggle", "u"),
        "payload": lambda c: c.get_feature_flag_payload("toggle", "u"),
        "match True": lambda c: c.get_feature_flag_payload("toggle", "u", match_value=True),
        "result": result_of("toggle"),
        "snapshot": snapshot_of("toggle"),
        "bulk": lambda c: c.get_all_flags_and_payloads("u"),
    }
    with backend() as b:
        serve(b, flags_response(record))
        for answers in both_clients(b, reads, send=False):
            assert answers == {
                "value": False,
                "payload": "off",
                "match True": "off",  # remote keeps the server payload (spec 5.1)
                "result": (False, None, False, "off", None),
                "snapshot": (False, "off"),
                # spec 3.8: remote bulk payloads only for enabled, non-failed flags
                "bulk": {"featureFlags": {"toggle": False}, "featureFlagPayloads": {}},
            }


def test_the_exposure_of_a_disabled_flag_carries_its_payload_and_a_failed_one_none() -> None:
    failed = {"key": "failed", "enabled": True, "failed": True, "metadata": {"payload": "1"}}
    with backend() as b:
        serve(b, flags_response(DISABLED, failed))
        c = client(b.url)
        assert c.get_feature_flag_payload("toggle", "u", send_feature_flag_events=True) == "off"
        result = c.get_feature_flag_result("failed", "u")
        assert result is not None and result.payload is None
        assert result.error == "evaluation_failed"
        events = {
            e["properties"]["$feature_flag"]: e["properties"]
            for e in flushed_events(c, b, "$feature_flag_called")
        }
        assert events["toggle"]["$feature_flag_payload"] == "off"
        assert "$feature_flag_payload" not in events["failed"]


# -- bulk payloads that are not JSON: listed, with None (spec 3.8) --------------------
def test_bulk_payloads_that_are_not_json_are_listed_as_none() -> None:
    body = flags_response(
        {"key": "good", "enabled": True, "metadata": {"payload": '{"a": 1}'}},
        {"key": "broken", "enabled": True, "metadata": {"payload": "{not json"}},
        {"key": "nan", "enabled": True, "metadata": {"payload": "NaN"}},
        {"key": "text", "variant": "v", "enabled": True, "metadata": {"payload": "plain"}},
        {"key": "null", "enabled": True, "metadata": {"payload": "null"}},
        {"key": "off-broken", "enabled": False, "metadata": {"payload": "{not json"}},
        {"key": "none", "enabled": True},
    )
    reads: dict[str, Read] = {
        "bulk": lambda c: c.get_all_flags_and_payloads("u"),
        "single": lambda c: c.get_feature_flag_payload("broken", "u"),
    }
    with backend() as b:
        serve(b, body)
        for answers in both_clients(b, reads, send=False):
            assert answers["single"] is None  # single reads decode: not JSON is None
            assert answers["bulk"]["featureFlagPayloads"] == {
                "good": '{"a": 1}',
                "broken": None,
                "nan": None,
                "text": None,
                "null": "null",  # valid JSON: the string itself
            }


# -- flag errors: one log line per kind per minute (debug: every one) -----------------
class FlagErrorLines(logging.Handler):
    """Warnings of the ``posthog`` logger that name a given error code."""

    def __init__(self, code: str) -> None:
        super().__init__(logging.DEBUG)
        self.code = code
        self.messages: list[str] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.WARNING and self.code in message:
            with self._lock:
                self.messages.append(message)


@pytest.fixture
def posthog_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("posthog")
    level, handlers = logger.level, list(logger.handlers)
    logger.setLevel(logging.WARNING)
    try:
        yield logger
    finally:
        logger.setLevel(level)
        logger.handlers[:] = handlers


def watch(logger: logging.Logger, code: str) -> FlagErrorLines:
    lines = FlagErrorLines(code)
    logger.addHandler(lines)
    return lines


def down(b: FlagsBackend, status: int = 503) -> None:
    b.flags_reply = lambda _r: Reply(status, {"detail": "down"})


CALLS = 20


def test_a_server_that_is_down_logs_one_line_while_every_call_keeps_its_error(
    posthog_logger: logging.Logger,
) -> None:
    lines = watch(posthog_logger, "api_error_503")
    with backend() as b:
        down(b)
        c = client(b.url, feature_flags_request_max_retries=0)
        for n in range(CALLS):
            result = c.get_feature_flag_result("f", f"u{n}")
            assert result is not None and result.error == "api_error_503"
        assert c.get_all_flags("u") == {}  # a bulk failure of the same kind: no new line
        events = flushed_events(c, b, "$feature_flag_called")
        assert len(events) == CALLS
        assert {e["properties"]["$feature_flag_error"] for e in events} == {"api_error_503"}
        assert len(lines.messages) == 1, lines.messages
        assert "flag 'f': remote evaluation failed (api_error_503)" in lines.messages[0]
        other = watch(posthog_logger, "api_error_500")
        down(b, 500)
        for n in range(3):
            assert c.get_feature_flag("f", f"v{n}") is None
        assert len(other.messages) == 1  # another kind has its own line
        assert len(lines.messages) == 1


def test_debug_logs_every_flag_error(posthog_logger: logging.Logger) -> None:
    lines = watch(posthog_logger, "api_error_503")
    with backend() as b:
        down(b)
        c = client(b.url, send=False, feature_flags_request_max_retries=0, debug=True)
        for n in range(CALLS):
            assert c.get_feature_flag("f", f"u{n}") is None
    assert len(lines.messages) == CALLS


def test_the_asyncio_client_limits_flag_error_lines_too(posthog_logger: logging.Logger) -> None:
    lines = watch(posthog_logger, "api_error_503")
    with backend() as b:
        down(b)

        async def main() -> list[Any]:
            c = AsyncPosthog(
                PROJECT_KEY, host=b.url, send=False, feature_flags_request_max_retries=0
            )
            try:
                results = [await c.get_feature_flag_result("f", f"u{n}") for n in range(CALLS)]
                results.append(await c.get_all_flags_and_payloads("u"))
                return results
            finally:
                await c.shutdown()

        *results, bulk = asyncio.run(main())
        assert [r.error for r in results] == ["api_error_503"] * CALLS
        assert bulk == {"featureFlags": {}, "featureFlagPayloads": {}}
    assert len(lines.messages) == 1, lines.messages


class EveryFewMs(Reporter):
    """The client's limiter with a window short enough for a test to see it end."""

    LOG_EVERY = 0.05


def test_the_next_line_after_the_window_counts_the_left_out_ones(
    posthog_logger: logging.Logger,
) -> None:
    lines = watch(posthog_logger, "timeout")
    warn = FlagLog(EveryFewMs())
    calls = 0
    deadline = time.monotonic() + 10
    while len(lines.messages) < 2 and time.monotonic() < deadline:
        warn("timeout", f"flag 'f': remote evaluation failed (timeout): call {calls}")
        calls += 1
    first, second = lines.messages
    assert first.endswith("call 0")
    left_out = calls - 2
    assert left_out > 0
    assert second.endswith(f"call {calls - 1} ({left_out} more with timeout since the last line)")
