"""Module-level settings, the public surface, and capture v1."""

from __future__ import annotations

import json
import zlib
from typing import Any

import pytest

import posthog
import posthoganalytics
from posthog import Posthog
from support.recording_server import Recorded, RecordingServer, Reply

PUBLIC_SURFACE = {
    # clients, configuration, transport seam
    *("Client", "Posthog", "AsyncClient", "AsyncPosthog", "CaptureMode", "CaptureCompression"),
    *("Transport", "HTTPTransport", "MockTransport", "Request", "Response"),
    # types (spec 2.2 re-exports) and delivery figures
    *("FeatureFlagResult", "FeatureFlagEvaluations", "FeatureFlagError", "FlagValue"),
    *("FlagsAndPayloads", "OptionalCaptureArgs", "OptionalSetArgs", "BeforeSendCallback"),
    *("ID_TYPES", "DeliveryStats", "DropReason", "VERSION", "__version__"),
    # exceptions
    *("PostHogError", "APIError", "CaptureV1Error", "ClientClosedError", "EventTooLargeError"),
    *("InvalidArgumentError", "QueueFullError", "QuotaLimitError", "RequestTimeoutError"),
    "TransportError",
    # module-level API
    *("capture", "capture_ai", "capture_exception", "identify", "set", "set_once", "alias"),
    *("group_identify", "page", "feature_enabled", "get_feature_flag", "get_all_flags"),
    *("get_feature_flag_result", "get_feature_flag_payload", "get_all_flags_and_payloads"),
    *("evaluate_flags", "get_remote_config_payload", "feature_flag_definitions"),
    *("load_feature_flags", "flush", "join", "shutdown", "stats", "setup"),
    # contexts
    *("new_context", "scoped", "identify_context", "set_context_session"),
    *("set_context_device_id", "tag", "get_tags"),
}


def test_public_surface_is_exactly_all_and_importable() -> None:
    assert len(posthog.__all__) == len(set(posthog.__all__))
    assert set(posthog.__all__) == PUBLIC_SURFACE
    for name in posthog.__all__:
        assert hasattr(posthog, name), name


def test_posthoganalytics_exposes_the_same_objects() -> None:
    assert posthoganalytics.__all__ == posthog.__all__
    for name in posthog.__all__:
        assert getattr(posthoganalytics, name) is getattr(posthog, name), name
    import posthoganalytics.types as alias_types

    import posthog.types as types

    assert alias_types is types


def test_posthoganalytics_shares_module_settings(server: RecordingServer) -> None:
    posthoganalytics.api_key = "phc_alias"
    posthoganalytics.host = server.url
    posthoganalytics.capture("d", "via alias")
    posthog.flush()
    [event] = server.wait_for_events(1)
    assert event["event"] == "via alias"
    assert server.batches()[0]["api_key"] == "phc_alias"


def test_settings_changed_after_first_use_are_picked_up(server: RecordingServer) -> None:
    with RecordingServer() as second:
        posthog.project_api_key = "phc_one"
        posthog.host = server.url
        posthog.capture("d", "first")
        posthog.host = second.url
        posthog.api_key = "ignored because project_api_key wins"
        posthog.capture("d", "second")
        posthog.flush()
        assert [e["event"] for e in server.wait_for_events(1)] == ["first"]
        assert [e["event"] for e in second.wait_for_events(1)] == ["second"]


def test_module_disabled_and_debug_switches(server: RecordingServer) -> None:
    posthog.api_key = "phc"
    posthog.host = server.url
    posthog.disabled = True
    assert posthog.capture("d", "not sent") is None
    posthog.disabled = False
    assert posthog.capture("d", "sent") is not None
    posthog.debug = True
    with pytest.raises(posthog.InvalidArgumentError):
        posthog.capture("d", 123)  # type: ignore[arg-type]
    posthog.debug = False
    posthog.flush()
    assert [e["event"] for e in server.wait_for_events(1)] == ["sent"]


def test_module_privacy_mode_follows_the_setting_on_every_call(server: RecordingServer) -> None:
    posthog.api_key = "phc"
    posthog.host = server.url
    assert posthog.setup().privacy_mode is False
    posthog.privacy_mode = True
    assert posthog.setup().privacy_mode is True
    posthog.privacy_mode = False
    assert posthog.setup().privacy_mode is False


def test_misspelt_constructor_options_are_named_and_reference_options_accepted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet = Posthog("phc", send=False, capture_trace_context=False, flag_fallback_cache_url=None)
    assert "unknown option" not in caplog.text
    typo = Posthog("phc", send=False, flush_intervall=1, max_queue=3)
    assert caplog.text.count("unknown option") == 1
    assert "flush_intervall, max_queue" in caplog.text
    with pytest.raises(TypeError, match="max_queue"):
        Posthog("phc", send=False, debug=True, max_queue=3)
    quiet.shutdown()
    typo.shutdown()


def test_missing_api_key_disables_with_a_clear_log(caplog: pytest.LogCaptureFixture) -> None:
    assert posthog.capture("d", "e") is None
    assert "no project API key" in caplog.text


def test_cloud_hosts_are_rewritten() -> None:
    assert (
        Posthog("k", host="https://app.posthog.com/", send=False).host == "https://us.i.posthog.com"
    )
    assert (
        Posthog("k", host="https://eu.posthog.com", send=False).host == "https://eu.i.posthog.com"
    )
    assert (
        Posthog("k", host="https://proxy.example/ingest/", send=False).host
        == "https://proxy.example/ingest"
    )
    assert Posthog("k", send=False).host == "https://us.i.posthog.com"


def v1_responder(script: list[dict[str, str]]) -> Any:
    """Answer v1 requests: per-uuid verdicts from ``script`` (one dict per request)."""

    def respond(request: Recorded) -> Reply:
        verdicts = script.pop(0) if script else {}
        batch = json.loads(request.body)["batch"]
        results = {e["uuid"]: {"result": verdicts.get(e["event"], "ok")} for e in batch}
        return Reply(200, {"results": results})

    return respond


@pytest.mark.parametrize("compression", ["none", "gzip", "deflate", "zstd"])
def test_capture_v1_wire(compression: str) -> None:
    with RecordingServer(v1_responder([])) as server:
        client = Posthog(
            "phc_v1",
            host=server.url,
            capture_mode="v1",
            capture_compression=compression,
            flush_interval=0.05,
        )
        client.capture("e", distinct_id="u", properties={"$session_id": "s1", "$set": {"a": 1}})
        client.set(distinct_id="u", properties={"b": 2})
        assert client.flush(10)
        [request] = server.requests
        assert request.path == "/i/v1/analytics/events"
        assert request.headers["authorization"] == "Bearer phc_v1"
        assert request.headers["posthog-attempt"] == "1"
        assert request.headers.get("content-encoding", "none") == compression
        if compression == "deflate":
            assert zlib.decompress(request.raw_body) == request.body
        body = request.json()
        assert set(body) == {"created_at", "batch"}
        first, second = body["batch"]
        assert first["session_id"] == "s1" and "$session_id" not in first["properties"]
        assert "$lib" not in first["properties"]
        assert second["properties"]["$set"] == {"b": 2}
        client.shutdown()


def test_capture_v1_retries_only_events_the_server_asks_for() -> None:
    errors: list[Exception] = []
    script = [{"b": "retry", "c": "drop"}, {}]
    with RecordingServer(v1_responder(script)) as server:
        client = Posthog(
            "phc",
            host=server.url,
            capture_mode="v1",
            flush_interval=0.05,
            on_error=lambda e, _b: errors.append(e),
        )
        for name in ("a", "b", "c"):
            client.capture(name, distinct_id="u")
        assert client.flush(15)
        first, second = server.requests
        assert [e["event"] for e in second.json()["batch"]] == ["b"]
        assert second.headers["posthog-attempt"] == "2"
        assert first.headers["posthog-request-id"] == second.headers["posthog-request-id"]
        [error] = errors
        assert isinstance(error, posthog.CaptureV1Error) and len(error.drops) == 1
        stats = client.stats()
        assert stats.sent == 2 and stats.dropped == {"delivery_failed": 1}
        client.shutdown()


def test_posthoganalytics_submodules_are_the_same_modules() -> None:
    import posthoganalytics.contexts as alias_contexts

    import posthog.contexts as contexts

    assert alias_contexts is contexts
    assert contexts.__name__ == contexts.__spec__.name == "posthog.contexts"
