"""The sync and asyncio clients answer flag calls identically: the same script of calls,
against the same kind of loopback server (local definitions, remote ``/flags`` for the
rest, a failing ``/flags`` for some people), gives equal results and equal
``$feature_flag_called`` events. Only the waiting differs."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from async_support import DEFINITIONS, flags_reply

from posthog import AsyncPosthog, Posthog
from posthog.types import FeatureFlagEvaluations
from support.recording_server import Recorded, RecordingServer, Reply

PRO = {"person_properties": {"plan": "pro"}}
FREE = {"person_properties": {"plan": "free"}}

# (method, args, kwargs): every flag call style and outcome, local and remote.
SCRIPT: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("get_feature_flag_result", ("local-flag", "u1"), PRO),
    ("get_feature_flag_result", ("beta", "u2"), {}),
    ("get_feature_flag_result", ("beta", None), {}),
    ("get_feature_flag_result", ("local-flag", "u3"), {}),  # inconclusive locally
    ("get_feature_flag_result", ("beta", "bad-1"), {}),
    ("get_feature_flag", ("color", "u9"), {"groups": {"company": "c1"}}),
    ("feature_enabled", ("everyone", "u9"), {}),
    ("get_all_flags_and_payloads", ("u2",), {}),
    ("get_all_flags_and_payloads", ("u1",), {**PRO, "only_evaluate_locally": True}),
    ("get_all_flags_and_payloads", ("bad-2",), {}),
    ("get_all_flags", ("u4",), {"flag_keys_to_evaluate": ["beta"]}),
    ("evaluate_flags", ("u6",), {}),
    ("evaluate_flags", ("u6",), {"flag_keys": []}),
    ("evaluate_flags", (None,), {}),
    ("get_feature_flag_payload", ("beta", "u8"), {}),
    ("get_feature_flag_payload", ("local-flag", "u1"), {**PRO, "match_value": True}),
    (
        "get_feature_flag_payload",
        ("local-flag", "u5"),
        {**PRO, "match_value": True, "send_feature_flag_events": True},
    ),
    # a local False reads its "false" payload; a local-only read without a value
    ("get_feature_flag_result", ("local-flag", "u7"), FREE),
    ("get_feature_flag_payload", ("local-flag", "u7"), FREE),
    ("get_feature_flag_result", ("local-flag", "u10"), {"only_evaluate_locally": True}),
    # a malformed record reads as disabled; a body that is not JSON is unknown_error
    ("get_feature_flag_result", ("beta", "malformed-1"), {}),
    ("get_all_flags", ("malformed-2",), {}),
    ("get_feature_flag_result", ("beta", "html-1"), {}),
    ("get_all_flags_and_payloads", ("html-2",), {}),
    # an empty variant is no variant; a disabled flag's payload; a payload not JSON
    ("get_feature_flag_result", ("empty", "edge-1"), {}),
    ("get_feature_flag_payload", ("toggle", "edge-2"), {"send_feature_flag_events": True}),
    ("get_all_flags_and_payloads", ("edge-3",), {"flag_keys_to_evaluate": ["empty", "broken"]}),
]

EDGE_REPLY = {
    "flags": {
        "empty": {"key": "empty", "enabled": True, "variant": ""},
        "toggle": {"key": "toggle", "enabled": False, "metadata": {"payload": '"off"'}},
        "broken": {"key": "broken", "enabled": True, "metadata": {"payload": "{not json"}},
    },
    "requestId": "req-edge",
}


def _with_false_payload() -> dict[str, Any]:
    """The shared definitions, served by the loopback server (so that calls the
    definitions cannot decide really go to ``/flags``), plus a "false" payload."""
    defs = copy.deepcopy(DEFINITIONS)
    defs["flags"][0]["filters"]["payloads"]["false"] = '{"discount": 0}'
    return defs


PARITY_DEFINITIONS = _with_false_payload()


def respond(rec: Recorded) -> Reply:
    if rec.path.startswith("/flags/definitions"):
        return Reply(200, PARITY_DEFINITIONS)
    if rec.path.startswith("/flags/?"):
        body = rec.json()
        ident = str(body["distinct_id"])
        if ident.startswith("bad"):
            return Reply(500, {"detail": "boom"})
        if ident.startswith("edge"):
            return Reply(200, EDGE_REPLY)
        if ident.startswith("html"):
            return Reply(200, "<html>sign in</html>")
        if ident.startswith("malformed"):
            reply = flags_reply("u2")
            reply["flags"]["beta"]["enabled"] = "yes"
            return Reply(200, reply)
        return Reply(200, flags_reply(ident, body.get("flag_keys_to_evaluate")))
    return Reply()


def options(server: RecordingServer) -> dict[str, Any]:
    return {
        "host": server.url,
        "personal_api_key": "phx_parity",  # definitions from the server, remote fallback
        "enable_local_evaluation": False,
        "feature_flags_request_max_retries": 0,
        "flush_interval": 0.05,
    }


def comparable(answer: Any) -> Any:
    if isinstance(answer, FeatureFlagEvaluations):  # reading each flag reports it, too
        flags = {key: answer.get_flag(key) for key in answer.keys}
        return ("snapshot", answer.distinct_id, flags, answer.error)
    return answer


def called_events(server: RecordingServer) -> list[tuple[Any, ...]]:
    events = [e for e in server.events() if e["event"] == "$feature_flag_called"]
    return sorted(
        (e["distinct_id"], sorted(e["properties"].items(), key=lambda kv: kv[0])) for e in events
    )


def run_sync(server: RecordingServer) -> list[Any]:
    client = Posthog("phc_parity", **options(server))
    try:
        return [comparable(getattr(client, m)(*a, **dict(kw))) for m, a, kw in SCRIPT]
    finally:
        client.shutdown()


def run_async(server: RecordingServer) -> list[Any]:
    async def main() -> list[Any]:
        client = AsyncPosthog("phc_parity", **options(server))
        answers = [comparable(await getattr(client, m)(*a, **dict(kw))) for m, a, kw in SCRIPT]
        await client.shutdown()
        return answers

    return asyncio.run(main())


def test_sync_and_async_clients_answer_alike() -> None:
    with RecordingServer(respond) as sync_server, RecordingServer(respond) as async_server:
        sync_answers = run_sync(sync_server)
        async_answers = run_async(async_server)
        sync_called = called_events(sync_server)
        async_called = called_events(async_server)
    for (method, args, _kw), mine, theirs in zip(SCRIPT, async_answers, sync_answers, strict=True):
        assert mine == theirs, (method, args)
    assert async_called == sync_called
    reported = {(ident, dict(props)["$feature_flag"]) for ident, props in async_called}
    assert ("u5", "local-flag") in reported  # match_value with send_feature_flag_events
    assert ("u2", "beta") in reported and ("u6", "everyone") in reported
    answers = dict(zip([(m, a) for m, a, _kw in SCRIPT], async_answers, strict=True))
    assert answers[("get_feature_flag_payload", ("local-flag", "u7"))] == {"discount": 0}
    empty = answers[("get_feature_flag_result", ("empty", "edge-1"))]
    assert empty.get_value() is True and empty.variant is None
    assert answers[("get_feature_flag_payload", ("toggle", "edge-2"))] == "off"
    assert answers[("get_all_flags_and_payloads", ("edge-3",))] == {
        "featureFlags": {"empty": True, "broken": True},
        "featureFlagPayloads": {"broken": None},
    }
    assert answers[("get_feature_flag_result", ("beta", "malformed-1"))].get_value() is False
    assert answers[("get_feature_flag_result", ("beta", "html-1"))].error == "unknown_error"
    local_only = dict(next(props for ident, props in async_called if ident == "u10"))
    assert local_only["locally_evaluated"] is False and "$feature_flag_error" not in local_only
