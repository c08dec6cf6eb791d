"""The sans-I/O exchanges driven by hand: no transport, no threads, no event loop.

Both senders (sync and asyncio) are thin drivers of these generators, so what is checked
here holds for both; the fault-injection tests check the drivers against a real server.
"""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from posthog._events.exchange import (
    Exchange,
    Outcome,
    Reply,
    Send,
    Sleep,
    Step,
    exchange,
)
from posthog._flags.remote import flags_exchange
from posthog._transport.base import Request, Response
from posthog.config import CaptureMode, ClientConfig
from posthog.exceptions import APIError, CaptureV1Error, QuotaLimitError, RequestTimeoutError

EVENTS = [
    json.dumps({"event": f"e{i}", "distinct_id": "u", "uuid": f"id-{i}"}).encode() for i in range(3)
]


class Clock:
    """A monotonic clock that stands still unless the test moves it."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def first(steps: Exchange) -> Step:
    return next(steps)


def answer(steps: Exchange, reply: Reply) -> Step | Outcome:
    """Resume the exchange; the next step, or the Outcome when it finishes."""
    try:
        return steps.send(reply)
    except StopIteration as done:
        outcome: Outcome = done.value
        return outcome


def ok(body: Any = None, status: int = 200, **headers: str) -> Response:
    """A fake server answer; ``retry_after=`` becomes the ``retry-after`` header."""
    raw = b"" if body is None else json.dumps(body).encode()
    return Response(status, {k.lower().replace("_", "-"): v for k, v in headers.items()}, raw)


def test_v0_success_first_time() -> None:
    steps = exchange(ClientConfig("phc_k", gzip=True), EVENTS, ai=False, retries=3, deadline=None)
    step = first(steps)
    assert isinstance(step, Send)
    request = step.request
    assert request.url.endswith("/batch/")
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.body is not None
    body = json.loads(gzip.decompress(request.body))
    assert [e["uuid"] for e in body["batch"]] == ["id-0", "id-1", "id-2"]
    assert body["api_key"] == "phc_k"
    assert answer(steps, ok()) == Outcome(3, [], None, 0)


def test_v0_retries_5xx_with_retry_after_floor_then_succeeds() -> None:
    steps = exchange(ClientConfig("k"), EVENTS, ai=True, retries=3, deadline=None)
    step: Step | Outcome = first(steps)
    assert isinstance(step, Send) and step.request.url.endswith("/i/v0/ai/batch/")
    step = answer(steps, ok({"detail": "busy"}, 503, retry_after="7"))
    assert isinstance(step, Sleep) and step.seconds >= 7.0
    step = answer(steps, False)
    assert isinstance(step, Send)  # a fresh attempt (with a fresh sent_at)
    assert answer(steps, ok()) == Outcome(3, [], None, 1)


def test_v0_transport_error_then_abort_during_wait() -> None:
    steps = exchange(ClientConfig("k"), EVENTS, ai=False, retries=3, deadline=None)
    first(steps)
    error = RequestTimeoutError("timed out")
    assert isinstance(answer(steps, error), Sleep)
    outcome = answer(steps, True)  # shutdown: give up now
    assert outcome == Outcome(0, list(EVENTS), error, 1)


def test_v0_4xx_is_final_and_retries_run_out() -> None:
    steps = exchange(ClientConfig("k"), EVENTS, ai=False, retries=3, deadline=None)
    first(steps)
    outcome = answer(steps, ok({"detail": "bad key"}, 401))
    assert isinstance(outcome, Outcome) and outcome.sent == 0 and outcome.retries == 0
    assert isinstance(outcome.error, APIError) and outcome.error.status == 401
    assert "bad key" in str(outcome.error)

    steps = exchange(ClientConfig("k"), EVENTS, ai=False, retries=0, deadline=None)
    first(steps)
    outcome = answer(steps, ok(None, 500))
    assert isinstance(outcome, Outcome) and outcome.failed == list(EVENTS)


def test_deadline_caps_timeout_and_skips_a_wait_past_it() -> None:
    clock = Clock()
    config = ClientConfig("k", timeout=15.0)
    steps = exchange(config, EVENTS, ai=False, retries=3, deadline=101.0, clock=clock)
    step = first(steps)
    assert isinstance(step, Send) and step.request.timeout == pytest.approx(1.0)
    outcome = answer(steps, ok(None, 503, retry_after="5"))  # 5s wait ends after deadline
    assert isinstance(outcome, Outcome) and outcome.sent == 0 and outcome.retries == 1


def test_v1_resends_only_retry_events_and_reports_drops() -> None:
    config = ClientConfig("k", capture_mode=CaptureMode.V1)
    steps = exchange(config, EVENTS, ai=False, retries=3, deadline=None)
    step: Step | Outcome = first(steps)
    assert isinstance(step, Send)
    headers = step.request.headers
    assert step.request.url.endswith("/i/v1/analytics/events")
    assert headers["PostHog-Attempt"] == "1" and headers["Authorization"] == "Bearer k"
    request_id = headers["PostHog-Request-Id"]
    verdicts = {"id-1": {"result": "retry"}, "id-2": {"result": "drop", "details": "x"}}
    step = answer(steps, ok({"results": verdicts}))
    assert isinstance(step, Sleep)
    step = answer(steps, False)
    assert isinstance(step, Send)
    assert step.request.headers["PostHog-Attempt"] == "2"
    assert step.request.headers["PostHog-Request-Id"] == request_id
    assert step.request.body is not None
    assert [e["uuid"] for e in json.loads(step.request.body)["batch"]] == ["id-1"]
    outcome = answer(steps, ok({"results": {}}))
    assert isinstance(outcome, Outcome)
    assert outcome.sent == 2 and outcome.failed == [EVENTS[2]] and outcome.retries == 1
    assert isinstance(outcome.error, CaptureV1Error)
    assert outcome.error.drops == {"id-2": "x"} and outcome.error.retry_exhausted == []


def test_v1_unreadable_2xx_is_terminal() -> None:
    config = ClientConfig("k", capture_mode=CaptureMode.V1)
    steps = exchange(config, EVENTS, ai=False, retries=3, deadline=None)
    first(steps)
    outcome = answer(steps, Response(200, {}, b"not json"))
    assert isinstance(outcome, Outcome) and outcome.sent == 0 and outcome.failed == EVENTS
    assert isinstance(outcome.error, APIError) and outcome.error.status == 200


def test_v1_retries_exhausted_lists_pending() -> None:
    config = ClientConfig("k", capture_mode=CaptureMode.V1)
    steps = exchange(config, EVENTS[:1], ai=False, retries=1, deadline=None)
    first(steps)
    assert isinstance(answer(steps, ok(None, 503)), Sleep)
    assert isinstance(answer(steps, False), Send)
    outcome = answer(steps, ok(None, 503))
    assert isinstance(outcome, Outcome) and outcome.retries == 1
    assert isinstance(outcome.error, CaptureV1Error)
    assert outcome.error.retry_exhausted == ["id-0"] and outcome.error.status == 503


def test_send_answered_with_a_bool_is_a_driver_bug() -> None:
    steps = exchange(ClientConfig("k"), EVENTS, ai=False, retries=3, deadline=None)
    first(steps)
    with pytest.raises(TypeError):
        steps.send(True)


# -- /flags: the same shape, in _flags (which never imports _events) -------------------
def test_flags_exchange_retries_502_once_then_reads_the_answer() -> None:
    steps = flags_exchange("http://h/", {"distinct_id": "u"}, timeout=3.0, max_retries=1)
    request = next(steps)
    assert isinstance(request, Request) and request.url == "http://h/flags/?v=2"
    assert request.timeout == 3.0
    assert steps.send(Response(502)) == pytest.approx(0.3)
    assert steps.send(None) == request  # the same request again
    with pytest.raises(StopIteration) as done:
        steps.send(ok({"flags": {"f": {"key": "f", "enabled": True}}}))
    assert done.value.value.flags["f"].value is True


def test_flags_exchange_errors_are_final_once_retries_run_out() -> None:
    steps = flags_exchange("http://h", {}, timeout=3.0, max_retries=1)
    next(steps)
    assert isinstance(steps.send(RequestTimeoutError("slow")), float)
    next(steps)  # resumed after the sleep: the retry
    with pytest.raises(RequestTimeoutError):
        steps.send(RequestTimeoutError("slow again"))

    steps = flags_exchange("http://h", {}, timeout=3.0, max_retries=1)
    next(steps)
    with pytest.raises(QuotaLimitError):
        steps.send(ok({"flags": {}, "quotaLimited": ["feature_flags"]}))
