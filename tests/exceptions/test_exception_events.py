"""``capture_exception`` produces ``$exception`` events of the spec's shape (spec 3.2, 7.1),
sent through the real transport to a loopback server."""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable
from typing import Any

import pytest

import posthog
from posthog import Posthog
from support.recording_server import RecordingServer

HERE = os.path.dirname(os.path.abspath(__file__))


def make(server: RecordingServer, **kw: Any) -> Posthog:
    return Posthog("phc_test", host=server.url, flush_interval=0.05, **kw)


def one_exception_event(server: RecordingServer, client: Posthog) -> dict[str, Any]:
    client.flush()
    [event] = server.wait_for_events(1)
    assert event["event"] == "$exception"
    props: dict[str, Any] = event["properties"]
    return props


def fail_with(message: str) -> None:
    raise ValueError(message)


def test_plain_exception_shape(server: RecordingServer) -> None:
    client = make(server, project_root=HERE)
    try:
        fail_with("boom")
    except ValueError as exc:
        ident = client.capture_exception(exc, distinct_id="u1")
    props = one_exception_event(server, client)
    event = server.events()[0]
    assert event["uuid"] == ident and event["distinct_id"] == "u1"
    assert props["$exception_level"] == "error"
    assert props["$lib"] == "hogwire" and props["$is_server"] is True
    [entry] = props["$exception_list"]
    assert list(entry) == ["type", "value", "module", "mechanism", "stacktrace"]
    assert (entry["type"], entry["value"], entry["module"]) == ("ValueError", "boom", None)
    assert entry["mechanism"] == {
        "type": "generic",
        "handled": True,
        "synthetic": False,
        "exception_id": 0,
    }
    assert entry["stacktrace"]["type"] == "raw"
    outer, inner = entry["stacktrace"]["frames"]  # oldest call first, the raise last
    assert outer["function"] == "test_plain_exception_shape"
    assert inner["function"] == "fail_with"
    assert inner["context_line"] == "    raise ValueError(message)"
    assert inner["pre_context"][-1] == "def fail_with(message: str) -> None:"
    assert len(inner["pre_context"]) == 5 and len(inner["post_context"]) == 5
    assert inner["abs_path"] == os.path.abspath(__file__)
    assert inner["filename"] == "test_exception_events.py"
    assert inner["module"] == "test_exception_events"
    assert inner["platform"] == "python"
    assert inner["lineno"] == fail_with.__code__.co_firstlineno + 1
    assert inner["in_app"] is True
    client.shutdown()


def test_explicit_chain_cause_is_listed_after_outer(server: RecordingServer) -> None:
    client = make(server)
    try:
        try:
            fail_with("inner")
        except ValueError as inner:
            raise RuntimeError("outer") from inner
    except RuntimeError as exc:
        client.capture_exception(exc, distinct_id="u1")
    outer, cause = one_exception_event(server, client)["$exception_list"]
    assert (outer["type"], outer["value"]) == ("RuntimeError", "outer")
    assert outer["mechanism"] == {
        "type": "generic",
        "handled": True,
        "synthetic": False,
        "exception_id": 0,
    }
    assert (cause["type"], cause["value"]) == ("ValueError", "inner")
    assert cause["mechanism"] == {
        "type": "chained",
        "handled": True,
        "synthetic": False,
        "exception_id": 1,
        "parent_id": 0,
        "source": "cause",
    }
    assert cause["stacktrace"]["frames"][-1]["function"] == "fail_with"
    client.shutdown()


def test_implicit_context_and_suppressed_context(server: RecordingServer) -> None:
    client = make(server)
    try:
        try:
            fail_with("first")
        except ValueError:
            raise KeyError("during handling")  # noqa: B904 - implicit chaining on purpose
    except KeyError as exc:
        client.capture_exception(exc)
    try:
        try:
            fail_with("hidden")
        except ValueError:
            raise KeyError("clean") from None
    except KeyError as exc:
        client.capture_exception(exc)
    client.flush()
    first, second = server.wait_for_events(2)
    chain = first["properties"]["$exception_list"]
    assert [e["type"] for e in chain] == ["KeyError", "ValueError"]
    assert chain[1]["mechanism"]["source"] == "context"
    assert [e["type"] for e in second["properties"]["$exception_list"]] == ["KeyError"]
    client.shutdown()


def test_exception_group_members_are_listed(server: RecordingServer) -> None:
    group_type: Any = getattr(builtins, "ExceptionGroup", None)
    if group_type is None:
        pytest.skip("exception groups need Python 3.11")
    client = make(server)
    try:
        raise group_type("many", [ValueError("a"), TypeError("b")])
    except Exception as exc:
        client.capture_exception(exc)
    chain = one_exception_event(server, client)["$exception_list"]
    assert [e["type"] for e in chain] == ["ExceptionGroup", "ValueError", "TypeError"]
    assert chain[0]["mechanism"]["is_exception_group"] is True
    assert [e["mechanism"]["source"] for e in chain[1:]] == ["exceptions[0]", "exceptions[1]"]
    assert [e["mechanism"]["parent_id"] for e in chain[1:]] == [0, 0]
    client.shutdown()


def test_never_raised_exception_is_synthetic_with_callers_stack(server: RecordingServer) -> None:
    client = make(server)
    client.capture_exception(LookupError("made up"), distinct_id="u1")
    [entry] = one_exception_event(server, client)["$exception_list"]
    assert entry["mechanism"]["synthetic"] is True
    frames = entry["stacktrace"]["frames"]
    assert frames[-1]["function"] == "test_never_raised_exception_is_synthetic_with_callers_stack"
    assert "capture_exception" in frames[-1]["context_line"]
    assert not any("/src/posthog/" in f["abs_path"] for f in frames)
    client.shutdown()


def test_defaults_to_the_exception_being_handled(server: RecordingServer) -> None:
    client = make(server)
    try:
        fail_with("current")
    except ValueError:
        assert client.capture_exception() is not None
    assert client.capture_exception() is None  # nothing being handled: nothing sent
    props = one_exception_event(server, client)
    assert props["$exception_list"][0]["value"] == "current"
    client.shutdown()


def test_same_instance_is_captured_once(server: RecordingServer) -> None:
    client = make(server)
    exc = ValueError("once")
    assert client.capture_exception(exc) is not None
    assert client.capture_exception(exc) is None
    client.flush()
    assert len(server.wait_for_events(1)) == 1
    client.shutdown()


def test_properties_level_groups_and_personless(server: RecordingServer) -> None:
    client = make(server)
    client.capture_exception(
        ValueError("x"),
        properties={"$exception_level": "warning", "plan": "pro"},
        groups={"company": "c1"},
    )
    props = one_exception_event(server, client)
    assert props["$exception_level"] == "warning" and props["plan"] == "pro"
    assert props["$groups"] == {"company": "c1"}
    assert props["$process_person_profile"] is False  # no distinct id: personless
    client.shutdown()


def test_in_app_by_project_root_and_in_app_modules(server: RecordingServer) -> None:
    elsewhere = make(server, project_root="/nonexistent-root")
    forced = make(server, project_root="/nonexistent-root", in_app_modules=["test_exception"])
    for client in (elsewhere, forced):
        try:
            fail_with("where")
        except ValueError as exc:
            client.capture_exception(exc)
        client.flush()
    first, second = server.wait_for_events(2)
    assert first["properties"]["$exception_list"][0]["stacktrace"]["frames"][-1]["in_app"] is False
    forced_frames = second["properties"]["$exception_list"][0]["stacktrace"]["frames"]
    assert forced_frames[-1]["in_app"] is False  # "test_exception" is not a module prefix
    elsewhere.shutdown()
    forced.shutdown()


def test_in_app_module_prefix_matches_whole_segments(server: RecordingServer) -> None:
    client = make(
        server, project_root="/nonexistent-root", in_app_modules=["test_exception_events"]
    )
    try:
        fail_with("where")
    except ValueError as exc:
        client.capture_exception(exc)
    frames = one_exception_event(server, client)["$exception_list"][0]["stacktrace"]["frames"]
    assert frames[-1]["in_app"] is True
    client.shutdown()


def test_library_frames_are_not_in_app(server: RecordingServer) -> None:
    from sentry_sdk.utils import Dsn

    client = make(server, project_root="/")  # everything is under "/" ...
    try:
        Dsn("not a dsn")
    except Exception as exc:
        client.capture_exception(exc)
    frames = one_exception_event(server, client)["$exception_list"][0]["stacktrace"]["frames"]
    library = [f for f in frames if f["module"].startswith("sentry_sdk")]
    assert library and all(f["filename"].startswith("sentry_sdk/") for f in library)
    assert all(f["in_app"] is False for f in library)  # ... but site-packages never is
    assert frames[0]["in_app"] is True
    client.shutdown()


def login(username: str, password: str) -> None:
    api_key = "sk_live_abc"
    database_url = "postgres://app:s3cr3t@db.internal/prod"
    session = "Ab3dE9fG1hJ2kL4mN6pQ8rS0tU5vW7xY"
    attempts = 3
    note = "plain words"
    del api_key, database_url, session, attempts, note
    raise PermissionError(f"bad login for {username}")


def captured_frames(server: RecordingServer, fails: Callable[[], None], **kw: Any) -> Any:
    """The frames of the ``$exception`` event for what ``fails()`` raises."""
    client = make(server, project_root=HERE, **kw)
    try:
        fails()
    except Exception as exc:
        client.capture_exception(exc)
    frames = one_exception_event(server, client)["$exception_list"][0]["stacktrace"]["frames"]
    client.shutdown()
    return frames


def test_code_variables_are_masked(server: RecordingServer) -> None:
    frames = captured_frames(
        server, lambda: login("ada", "hunter2"), capture_exception_code_variables=True
    )
    variables = frames[-1]["code_variables"]
    assert variables["username"] == "ada"
    assert variables["password"] == "[redacted]"
    assert all("hunter2" not in str(f.get("code_variables")) for f in frames)


def secrets_in_values() -> None:
    target = "postgres://app:s3cr3t@db.internal/prod"
    session = "Ab3dE9fG1hJ2kL4mN6pQ8rS0tU5vW7xY"
    signed = "https://blob.example/x?sv=1&sig=abc"
    attempts = 3
    note = "plain words"
    __dunder = "ignored"
    raise ValueError(f"{target}{session}{signed}{attempts}{note}{__dunder}")


def test_code_variables_mask_values_that_look_secret(server: RecordingServer) -> None:
    frames = captured_frames(server, secrets_in_values, capture_exception_code_variables=True)
    variables = frames[-1]["code_variables"]
    assert variables["target"] == "postgres://app:[redacted]@db.internal/prod"
    assert variables["session"] == "[redacted]"
    assert variables["signed"] == "[redacted]"
    assert variables["attempts"] == 3 and variables["note"] == "plain words"
    assert not any(name.startswith("__") for name in variables)


def secrets_by_name_and_shape() -> None:
    client_secret = "v-01"
    refresh_token = "v-02"
    apiKey = "v-03"
    aws_access_key_id = "v-04"
    privateKey = "v-05"
    authorization = "v-06"
    credential = "v-07"
    sessionid = "v-08"
    cookie = "v-09"
    csrf = "v-10"
    jwt = "v-11"
    bearer = "v-12"
    sentry_dsn = "v-13"
    conn_str = "v-14"
    DATABASE_URL = "v-15"
    db_passwd = "v-16"
    header = "Bearer v-17"
    upstream = "amqp://guest:v-18@rabbit:5672/"
    clone = "https://v-19@github.com/org/repo.git"
    basic = "Basic dXNlcjp2LTIw"  # the v-20 of "user:v-20" only in base64
    user_id = "user-1"
    host = "http://localhost:8000/api"
    in_use(client_secret, refresh_token, apiKey, aws_access_key_id, privateKey, authorization)
    in_use(credential, sessionid, cookie, csrf, jwt, bearer, sentry_dsn, conn_str, DATABASE_URL)
    in_use(db_passwd, header, upstream, clone, basic, user_id, host)
    raise RuntimeError("boom")


def in_use(*values: str) -> None:
    """Nothing: the locals above exist only to be captured, this keeps linters quiet."""


def test_code_variables_mask_secret_names_and_values(server: RecordingServer) -> None:
    frames = captured_frames(
        server, secrets_by_name_and_shape, capture_exception_code_variables=True
    )
    variables = frames[-1]["code_variables"]
    assert not [v for v in map(str, variables.values()) if "v-" in v or "dXNlcjp2LTIw" in v]
    assert variables["client_secret"] == variables["DATABASE_URL"] == "[redacted]"
    assert variables["upstream"] == "amqp://guest:[redacted]@rabbit:5672/"
    assert variables["clone"] == "https://[redacted]@github.com/org/repo.git"
    assert variables["user_id"] == "user-1"
    assert variables["host"] == "http://localhost:8000/api"


def test_code_variables_off_by_default(server: RecordingServer) -> None:
    frames = captured_frames(server, lambda: login("ada", "hunter2"))
    assert not any("code_variables" in f for f in frames)


def test_module_level_capture_exception(server: RecordingServer) -> None:
    posthog.project_api_key = "phc_mod"
    posthog.host = server.url
    try:
        fail_with("module")
    except ValueError as exc:
        assert posthog.capture_exception(exc, distinct_id="u9") is not None
    posthog.flush()
    [event] = server.wait_for_events(1)
    assert event["distinct_id"] == "u9"
    assert event["properties"]["$exception_list"][0]["value"] == "module"


def test_disabled_client_sends_nothing_and_does_not_mark(server: RecordingServer) -> None:
    client = make(server, disabled=True)
    exc = ValueError("later")
    assert client.capture_exception(exc) is None
    client.disabled = False
    assert client.capture_exception(exc) is not None
    client.flush()
    assert len(server.wait_for_events(1)) == 1
    client.shutdown()


def test_log_captured_exceptions(server: RecordingServer, caplog: Any) -> None:
    client = make(server, log_captured_exceptions=True)
    with caplog.at_level("ERROR", logger="posthog"):
        try:
            fail_with("logged")
        except ValueError as exc:
            client.capture_exception(exc)
    assert any(r.exc_info and str(r.exc_info[1]) == "logged" for r in caplog.records)
    client.shutdown()
