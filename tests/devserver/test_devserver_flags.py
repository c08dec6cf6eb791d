"""Flag endpoints: definitions (auth, ETag, reload), remote evaluation, remote config."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from devserver_helpers import Http, event

from posthog_devserver import DevServer

AUTH = {"Authorization": "Bearer phx_personal"}


def person_flag(key: str, prop: str, value: Any, **extra: Any) -> dict[str, Any]:
    condition = {
        "properties": [{"key": prop, "value": value, "operator": "exact", "type": "person"}]
    }
    return {
        "id": hash(key) % 1000,
        "key": key,
        "active": True,
        "version": 3,
        "filters": {"groups": [{**condition, "rollout_percentage": 100}], **extra},
    }


DEFINITIONS: dict[str, Any] = {
    "flags": [
        person_flag("pro-only", "plan", "pro", payloads={"true": '{"tier": "gold"}'}),
        {
            "id": 2,
            "key": "everyone-variant",
            "active": True,
            "filters": {
                "groups": [{"properties": [], "rollout_percentage": 100, "variant": "blue"}],
                "multivariate": {
                    "variants": [
                        {"key": "blue", "rollout_percentage": 50},
                        {"key": "red", "rollout_percentage": 50},
                    ]
                },
                "payloads": {"blue": "[1, 2]"},
            },
        },
        {
            "id": 3,
            "key": "big-companies",
            "active": True,
            "filters": {
                "aggregation_group_type_index": 0,
                "groups": [
                    {
                        "properties": [
                            {
                                "key": "size",
                                "value": 100,
                                "operator": "gt",
                                "type": "group",
                                "group_type_index": 0,
                            }
                        ],
                        "rollout_percentage": 100,
                    }
                ],
            },
        },
        {
            "id": 4,
            "key": "cohort-flag",
            "active": True,
            "filters": {
                "groups": [
                    {
                        "properties": [{"key": "id", "value": 7, "type": "cohort"}],
                        "rollout_percentage": 100,
                    }
                ]
            },
        },
        {**person_flag("switched-off", "plan", "pro"), "active": False},
    ],
    "group_type_mapping": {"0": "company"},
    "cohorts": {
        "7": {
            "type": "OR",
            "values": [
                {
                    "type": "AND",
                    "values": [
                        {
                            "key": "email",
                            "value": "@corp.com",
                            "operator": "icontains",
                            "type": "person",
                        }
                    ],
                }
            ],
        }
    },
}


@pytest.fixture
def flagged(dev: DevServer, http: Http) -> Http:
    dev.set_flags(DEFINITIONS)
    return http


def flags_call(http: Http, body: dict[str, Any], version: int | None = 4) -> dict[str, Any]:
    path = "/flags/" if version is None else f"/flags/?v={version}"
    reply = http.post_json(path, {"api_key": "phc_test", **body})
    assert reply.status == 200, reply.body
    return dict(reply.json())


def values(response: dict[str, Any]) -> dict[str, Any]:
    return {k: r["value"] for k, r in response["flags"].items()}


# -- definitions --------------------------------------------------------------------------


def test_definitions_need_a_personal_key(flagged: Http) -> None:
    reply = flagged.get("/flags/definitions", token="phc_test")
    assert reply.status == 401 and reply.json()["type"] == "authentication_error"
    reply = flagged.get("/flags/definitions?token=phc_test&send_cohorts", AUTH)
    assert reply.status == 200
    body = reply.json()
    assert [f["key"] for f in body["flags"]] == [f["key"] for f in DEFINITIONS["flags"]]
    assert (
        body["group_type_mapping"] == {"0": "company"} and body["cohorts"] == DEFINITIONS["cohorts"]
    )
    assert "cohorts" not in flagged.get("/flags/definitions?token=phc_test", AUTH).json()
    old = flagged.get("/api/feature_flag/local_evaluation/?token=phc_test&send_cohorts", AUTH)
    assert old.status == 200 and old.json() == body


def test_definitions_etag_and_304(flagged: Http, dev: DevServer) -> None:
    first = flagged.get("/flags/definitions?token=phc_test&send_cohorts", AUTH)
    etag = first.headers["etag"]
    again = flagged.get(
        "/flags/definitions?token=phc_test&send_cohorts", {**AUTH, "If-None-Match": etag}
    )
    assert again.status == 304 and again.body == b"" and again.headers["etag"] == etag
    dev.set_flags({"flags": DEFINITIONS["flags"][:1]})
    changed = flagged.get("/flags/definitions?token=phc_test", {**AUTH, "If-None-Match": etag})
    assert changed.status == 200 and changed.headers["etag"] != etag
    assert len(changed.json()["flags"]) == 1


def test_configured_personal_key() -> None:
    with DevServer(personal_api_key="phx_right") as server:
        http = Http(server.url)
        wrong = http.get("/flags/definitions", {"Authorization": "Bearer phx_wrong"})
        assert wrong.status == 401
        assert http.get("/flags/definitions", {"Authorization": "Bearer phx_right"}).status == 200
        http.close()


def test_group_type_mapping_comes_from_ingestion_when_the_file_has_none(
    dev: DevServer, http: Http
) -> None:
    dev.set_flags({"flags": []})
    http.batch([event("x", properties={"$groups": {"team": "t1", "org": "o1"}})])
    body = http.get("/flags/definitions?token=phc_test", AUTH).json()
    assert body["group_type_mapping"] == {"0": "team", "1": "org"}


def test_flags_file_is_reloaded_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps({"flags": [person_flag("a", "plan", "pro")]}))
    with DevServer(flags_path=str(path)) as server:
        http = Http(server.url)
        assert [f["key"] for f in http.get_json("/api/flags")["results"]] == ["a"]
        path.write_text(json.dumps({"flags": [person_flag("a", "p", 1), person_flag("b", "p", 2)]}))
        os.utime(path, ns=(1, 10**18))  # a different mtime even on coarse clocks
        assert [f["key"] for f in http.get_json("/api/flags")["results"]] == ["a", "b"]
        path.write_text("{ broken")
        os.utime(path, ns=(1, 2 * 10**18))
        listed = http.get_json("/api/flags")
        assert [f["key"] for f in listed["results"]] == ["a", "b"]  # last good kept
        assert "cannot load flags file" in listed["error"]
        http.close()


# -- remote evaluation --------------------------------------------------------------------


def test_v4_and_v2_responses(flagged: Http) -> None:
    v4 = flags_call(flagged, {"distinct_id": "u1", "person_properties": {"plan": "pro"}})
    record = v4["flags"]["pro-only"]
    assert record["key"] == "pro-only" and record["enabled"] is True and record["value"] is True
    assert record["variant"] is None and record["failed"] is False
    assert record["reason"] == {
        "code": "condition_match",
        "condition_index": 0,
        "description": record["reason"]["description"],
    }
    assert record["metadata"]["payload"] == '{"tier": "gold"}'
    assert record["metadata"]["version"] == 3
    assert v4["errorsWhileComputingFlags"] is False and v4["requestId"]
    assert "switched-off" not in v4["flags"]
    v2 = flags_call(flagged, {"distinct_id": "u1"}, version=None)
    assert "value" not in v2["flags"]["pro-only"]
    assert v2["flags"]["pro-only"]["enabled"] is False
    assert v2["flags"]["pro-only"]["reason"]["code"] == "no_condition_match"
    variant = v2["flags"]["everyone-variant"]
    assert variant["enabled"] is True and variant["variant"] == "blue"
    assert variant["metadata"]["payload"] == "[1, 2]"


def test_stored_person_properties_are_merged_under_overrides(flagged: Http) -> None:
    flagged.batch([event("$set", "u2", **{"$set": {"plan": "pro", "email": "a@corp.com"}})])
    got = values(flags_call(flagged, {"distinct_id": "u2"}))
    assert got["pro-only"] is True and got["cohort-flag"] is True
    overridden = flags_call(flagged, {"distinct_id": "u2", "person_properties": {"plan": "free"}})
    assert values(overridden)["pro-only"] is False
    # another project's person is not this one
    other = flagged.post_json("/flags/?v=4", {"api_key": "phc_other", "distinct_id": "u2"})
    assert other.json()["flags"]["pro-only"]["value"] is False


def test_identify_then_flags_sees_the_merged_person(flagged: Http) -> None:
    flagged.batch([event("x", "anon-9", properties={"$set": {"plan": "pro"}})])
    flagged.batch([event("$identify", "user-9", properties={"$anon_distinct_id": "anon-9"})])
    assert values(flags_call(flagged, {"distinct_id": "user-9"}))["pro-only"] is True


def test_group_flags_use_stored_group_properties(flagged: Http) -> None:
    group = {"$group_type": "company", "$group_key": "acme", "$group_set": {"size": 500}}
    flagged.batch([event("$groupidentify", properties=group)])
    with_group = flags_call(flagged, {"distinct_id": "u3", "groups": {"company": "acme"}})
    assert values(with_group)["big-companies"] is True
    small = flags_call(
        flagged,
        {
            "distinct_id": "u3",
            "groups": {"company": "acme"},
            "group_properties": {"company": {"size": 5}},
        },
    )
    assert values(small)["big-companies"] is False
    assert values(flags_call(flagged, {"distinct_id": "u3"}))["big-companies"] is False


def test_flag_keys_to_evaluate_and_decide(flagged: Http) -> None:
    only = flags_call(flagged, {"distinct_id": "u1", "flag_keys_to_evaluate": ["pro-only"]})
    assert list(only["flags"]) == ["pro-only"]
    reply = flagged.post_json(
        "/decide/?v=3",
        {"token": "phc_test", "distinct_id": "u1", "person_properties": {"plan": "pro"}},
    )
    body = reply.json()
    assert body["featureFlags"]["pro-only"] is True
    assert body["featureFlags"]["everyone-variant"] == "blue"
    assert body["featureFlagPayloads"] == {
        "pro-only": '{"tier": "gold"}',
        "everyone-variant": "[1, 2]",
    }


BAD_FLAGS_BODIES: list[tuple[str, dict[str, Any], str]] = [
    # (name, body, the field the 400 names)
    ("no-api-key", {"distinct_id": "u1"}, "api_key"),
    ("no-distinct-id", {"api_key": "phc_test"}, "distinct_id"),
    ("distinct-id-object", {"api_key": "phc_test", "distinct_id": {"x": 1}}, "distinct_id"),
    ("groups-list", {"api_key": "phc_test", "distinct_id": "u", "groups": ["x"]}, "groups"),
    (
        "group-key-object",
        {"api_key": "phc_test", "distinct_id": "u", "groups": {"company": {"id": 1}}},
        "groups",
    ),
    (
        "person-properties-string",
        {"api_key": "phc_test", "distinct_id": "u", "person_properties": "x"},
        "person_properties",
    ),
    (
        "person-properties-list",
        {"api_key": "phc_test", "distinct_id": "u", "person_properties": [1]},
        "person_properties",
    ),
    (
        "group-properties-string",
        {"api_key": "phc_test", "distinct_id": "u", "group_properties": "x"},
        "group_properties",
    ),
    (
        "group-properties-value-string",
        {
            "api_key": "phc_test",
            "distinct_id": "u",
            "groups": {"company": "c1"},
            "group_properties": {"company": "str"},
        },
        "group_properties",
    ),
    (
        "group-properties-value-list",
        {
            "api_key": "phc_test",
            "distinct_id": "u",
            "groups": {"company": "c1"},
            "group_properties": {"company": [1]},
        },
        "group_properties",
    ),
]


@pytest.mark.parametrize("path", ["/flags/?v=4", "/flags/?v=2", "/decide/?v=3"])
@pytest.mark.parametrize(
    ("name", "body", "attr"), BAD_FLAGS_BODIES, ids=[b[0] for b in BAD_FLAGS_BODIES]
)
def test_bad_flags_requests_get_a_400_naming_the_field(
    flagged: Http, path: str, name: str, body: dict[str, Any], attr: str
) -> None:
    reply = flagged.post_json(path, body)
    assert reply.status == 400, reply.body
    assert reply.json()["attr"] == attr and reply.json()["detail"]
    assert flagged.post_json(path, {"api_key": "phc_test", "distinct_id": "u"}).status == 200


def test_remote_config(flagged: Http) -> None:
    path = "/api/projects/@current/feature_flags/pro-only/remote_config?token=phc_test"
    assert flagged.get(path).status == 401
    reply = flagged.get(path, AUTH)
    assert reply.status == 200 and reply.json() == {"tier": "gold"}
    missing = flagged.get(path.replace("pro-only", "nope"), AUTH)
    assert missing.status == 404


def test_web_page_evaluation_endpoint(flagged: Http) -> None:
    reply = flagged.post_json(
        "/api/flags/evaluate",
        {"project": "phc_test", "distinct_id": "u1", "person_properties": {"plan": "pro"}},
    )
    assert reply.status == 200
    assert reply.json()["flags"]["pro-only"]["value"] is True


def test_evaluation_box_without_a_project_uses_the_project_of_the_distinct_id(
    flagged: Http,
) -> None:
    def evaluate(**body: Any) -> dict[str, Any]:
        reply = flagged.post_json("/api/flags/evaluate", body)
        assert reply.status == 200, reply.body
        return dict(reply.json())

    flagged.batch([event("$set", "solo", **{"$set": {"plan": "pro"}})], api_key="phc_a")
    answer = evaluate(distinct_id="solo")
    assert answer["project"] == "phc_a" and "only project" in answer["project_note"]
    assert answer["flags"]["pro-only"]["value"] is True  # stored properties merged

    # a person in several projects: the one seen most recently
    flagged.batch([event("$set", "both", **{"$set": {"plan": "free"}})], api_key="phc_a")
    flagged.batch([event("$set", "both", **{"$set": {"plan": "pro"}})], api_key="phc_b")
    answer = evaluate(distinct_id="both")
    assert answer["project"] == "phc_b" and "2 projects" in answer["project_note"]
    assert answer["flags"]["pro-only"]["value"] is True
    flagged.batch([event("seen again", "both")], api_key="phc_a")
    answer = evaluate(distinct_id="both")
    assert answer["project"] == "phc_a" and answer["flags"]["pro-only"]["value"] is False

    # a named project is used as given; an unknown id has no stored properties
    answer = evaluate(distinct_id="both", project="phc_b")
    assert (answer["project"], answer["project_note"]) == ("phc_b", "given")
    assert answer["flags"]["pro-only"]["value"] is True
    answer = evaluate(distinct_id="nobody")
    assert answer["project"] == "" and answer["flags"]["pro-only"]["value"] is False


def test_flags_list_filters_by_project_and_pages(dev: DevServer, http: Http) -> None:
    dev.set_flags({"flags": [person_flag(f"flag-{i}", "plan", "pro") for i in range(5)]})
    http.batch([event("x", properties={"$groups": {"team": "t1"}})], api_key="phc_a")
    http.batch([event("x", properties={"$groups": {"org": "o1"}})], api_key="phc_b")
    assert http.get_json("/api/flags", project="phc_a")["group_type_mapping"] == {"0": "team"}
    assert http.get_json("/api/flags", project="phc_b")["group_type_mapping"] == {"0": "org"}
    assert http.get_json("/api/flags")["group_type_mapping"] == {}  # the file names none

    page = http.get_json("/api/flags", limit=2)
    keys = [f["key"] for f in page["results"]]
    while page["next"]:
        page = http.get_json(page["next"])
        keys += [f["key"] for f in page["results"]]
    assert keys == [f"flag-{i}" for i in range(5)]
    assert [f["key"] for f in http.get_json("/api/flags", search="LAG-3")["results"]] == ["flag-3"]
    assert http.get("/api/flags", limit="x").status == 400
