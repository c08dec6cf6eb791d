"""Person and group processing, over HTTP and as pure rules."""

from __future__ import annotations

from devserver_helpers import Http, event
from hypothesis import given
from hypothesis import strategies as st

from posthog_devserver import persons as rules
from posthog_devserver.persons import MergeAction, PropertyUpdates


def test_set_once_set_and_unset(http: Http) -> None:
    http.batch([event("a", properties={"$set_once": {"first": 1}, "$set": {"plan": "free"}})])
    http.batch([event("$set", **{"$set": {"plan": "pro"}, "$set_once": {"first": 2}})])
    http.batch([event("b", properties={"$unset": ["plan"], "$set": {"x": True}})])
    assert http.person("user-1")["properties"] == {"first": 1, "x": True}


def test_identify_merges_anonymous_into_identified_with_set_once_semantics(http: Http) -> None:
    http.batch([event("view", "anon", properties={"$set": {"plan": "free", "ref": "ad"}})])
    http.batch([event("login", "u1", properties={"$set": {"plan": "pro"}})])
    http.batch(
        [event("$identify", "u1", properties={"$anon_distinct_id": "anon", "$set": {"e": "a@b"}})]
    )
    person = http.person("u1")
    assert person == http.person("anon")
    assert sorted(person["distinct_ids"]) == ["anon", "u1"]
    # the identified person's values win; the anonymous one only fills the gaps
    assert person["properties"] == {"plan": "pro", "ref": "ad", "e": "a@b"}
    assert person["is_identified"] is True
    assert len(http.persons()) == 1
    # events of both ids belong to the person
    assert {e["distinct_id"] for e in http.events(person_id=person["id"])} == {"anon", "u1"}


def test_identify_links_new_ids_without_second_person(http: Http) -> None:
    http.batch([event("$identify", "u2", properties={"$anon_distinct_id": "anon2"})])
    assert sorted(http.person("anon2")["distinct_ids"]) == ["anon2", "u2"]
    http.batch([event("$identify", "u2", properties={"$anon_distinct_id": "anon3"})])
    assert sorted(http.person("u2")["distinct_ids"]) == ["anon2", "anon3", "u2"]
    assert len(http.persons()) == 1


def test_identified_person_is_not_merged_away_by_identify(http: Http) -> None:
    http.batch([event("$identify", "alice", properties={"$anon_distinct_id": "a-anon"})])
    http.batch([event("$identify", "bob", properties={"$anon_distinct_id": "b-anon"})])
    http.batch([event("$identify", "bob", properties={"$anon_distinct_id": "alice"})])
    assert http.person("alice")["id"] != http.person("bob")["id"]


def test_alias_merges_two_persons(http: Http) -> None:
    http.batch([event("a", "anon-1", properties={"$set": {"k": "anon", "only_anon": 1}})])
    http.batch([event("b", "u1", properties={"$set": {"k": "user"}})])
    alias = event("$create_alias", "anon-1", properties={"distinct_id": "anon-1", "alias": "u1"})
    http.batch([alias])
    person = http.person("u1")
    assert person["id"] == http.person("anon-1")["id"]
    assert sorted(person["distinct_ids"]) == ["anon-1", "u1"]
    assert person["properties"]["only_anon"] == 1
    assert person["is_identified"] is True
    assert len(http.persons()) == 1


def test_alias_does_not_merge_an_identified_person_but_merge_dangerously_does(
    http: Http,
) -> None:
    # PostHog: "$create_alias and $identify will not merge a user who's already identified
    # into anyone else"; only $merge_dangerously has no restrictions.
    http.batch([event("$identify", "alice", properties={"$anon_distinct_id": "a-anon"})])
    http.batch([event("$identify", "bob", properties={"$anon_distinct_id": "b-anon"})])
    http.batch([event("$create_alias", "alice", properties={"alias": "bob"})])
    assert http.person("alice")["id"] != http.person("bob")["id"]
    assert len(http.persons()) == 2
    http.batch([event("$merge_dangerously", "alice", properties={"alias": "bob"})])
    person = http.person("bob")
    assert person["id"] == http.person("alice")["id"]
    assert sorted(person["distinct_ids"]) == ["a-anon", "alice", "b-anon", "bob"]
    assert len(http.persons()) == 1


def test_personless_events_create_no_person(http: Http) -> None:
    http.batch(
        [event("x", "ghost", properties={"$process_person_profile": False, "$set": {"a": 1}})]
    )
    assert http.persons(distinct_id="ghost") == []
    assert len(http.events(distinct_id="ghost")) == 1


def test_group_identify_creates_no_person(http: Http) -> None:
    group = {"$group_type": "company", "$group_key": "c9", "$group_set": {"name": "Nine"}}
    http.batch([event("$groupidentify", "0b0f3c4e-throwaway", properties=group)])
    assert http.persons(distinct_id="0b0f3c4e-throwaway") == []
    assert http.get_json("/api/groups")["results"][0]["group_key"] == "c9"


def test_groups_and_group_type_mapping(http: Http) -> None:
    def ident(gtype: str, key: str, props: dict[str, object]) -> dict[str, object]:
        group_props = {"$group_type": gtype, "$group_key": key, "$group_set": props}
        return event("$groupidentify", properties=group_props)

    http.batch([ident("company", "c1", {"name": "Acme", "size": 1})])
    http.batch([ident("company", "c1", {"size": 5})])
    http.batch([event("x", properties={"$groups": {"project": "p1"}}), ident("project", "p1", {})])
    groups = http.get_json("/api/groups")["results"]
    by_key = {(g["group_type"], g["group_key"]): g for g in groups}
    assert by_key[("company", "c1")]["properties"] == {"name": "Acme", "size": 5}
    assert by_key[("company", "c1")]["group_type_index"] == 0
    assert by_key[("project", "p1")]["group_type_index"] == 1
    assert len(http.get_json("/api/groups", group_type="company")["results"]) == 1
    # at most five group types per project, like PostHog
    for i in range(6):
        http.batch([ident(f"t{i}", "k", {})])
    types = {g["group_type"] for g in http.get_json("/api/groups")["results"]}
    assert types == {"company", "project", "t0", "t1", "t2"}


def test_person_events_stay_in_their_project(http: Http) -> None:
    http.batch([event("mine", "same")], api_key="phc_one")
    http.batch([event("theirs", "same")], api_key="phc_two")
    person = http.person("same", project="phc_one")
    assert [e["event"] for e in http.events(person_id=person["id"])] == ["mine"]


def test_person_search(http: Http) -> None:
    http.batch([event("a", "searchable", properties={"$set": {"email": "zed@example.com"}})])
    http.batch([event("a", "other")])
    assert [p["distinct_ids"] for p in http.persons(search="zed@")] == [["searchable"]]
    assert [p["distinct_ids"] for p in http.persons(search="searcha")] == [["searchable"]]


# -- pure rules ---------------------------------------------------------------------------


def test_updates_come_from_top_level_and_properties() -> None:
    raw = {"$set": {"a": 1}, "$set_once": {"b": 1}, "$unset": ["c"]}
    props = {"$set": {"a": 2, "d": 1}, "$set_once": {"b": 2, "e": 1}, "$unset": {"f": True}}
    updates = rules.person_updates(raw, props)
    assert updates.set == {"a": 2, "d": 1}
    assert updates.set_once == {"b": 1, "e": 1}
    assert updates.unset == ("c", "f")


def test_apply_updates_order() -> None:
    updates = PropertyUpdates(set={"a": "set"}, set_once={"a": "once", "b": "once"}, unset=("c",))
    new, changed = rules.apply_updates({"b": "kept", "c": 1}, updates)
    assert new == {"a": "set", "b": "kept"} and changed
    assert rules.apply_updates(new, PropertyUpdates(set={"a": "set"})) == (new, False)
    assert not PropertyUpdates()


def test_merge_decisions() -> None:
    # (main person, other person, other identified, $merge_dangerously) -> action
    table = [
        ((None, None, False, False), MergeAction.CREATE_BOTH),
        ((None, 2, False, False), MergeAction.ADD_MAIN_TO_OTHER),
        ((1, None, False, False), MergeAction.ADD_OTHER_TO_MAIN),
        ((1, 1, False, False), MergeAction.NOTHING),
        ((1, 2, False, False), MergeAction.MERGE),
        ((1, 2, True, False), MergeAction.NOTHING),
        ((1, 2, True, True), MergeAction.MERGE),
    ]
    for (main, other, identified, dangerous), expected in table:
        got = rules.decide_merge(main, other, other_identified=identified, dangerous=dangerous)
        assert got is expected, (main, other, identified, dangerous)


def test_merge_partner_and_group_identify() -> None:
    assert rules.merge_partner("$identify", "u", {"$anon_distinct_id": "a"}) == "a"
    assert rules.merge_partner("$identify", "u", {"$anon_distinct_id": "u"}) is None
    assert rules.merge_partner("$create_alias", "a", {"alias": 7}) == "7"
    assert rules.merge_partner("pageview", "u", {"alias": "x"}) is None
    ident = rules.group_identify("$groupidentify", {"$group_type": "c", "$group_key": 1})
    assert ident == rules.GroupIdentify("c", "1", {})
    assert rules.group_identify("$groupidentify", {"$group_type": "c"}) is None
    assert rules.next_group_type_index({"a": 0, "b": 2}) == 1
    assert rules.next_group_type_index({str(i): i for i in range(5)}) is None


keys = st.text(min_size=1, max_size=4)
values = st.integers() | st.text(max_size=3) | st.none()
props = st.dictionaries(keys, values, max_size=6)


@given(before=props, sets=props, once=props, unset=st.lists(keys, max_size=3))
def test_apply_updates_invariants(
    before: dict[str, object], sets: dict[str, object], once: dict[str, object], unset: list[str]
) -> None:
    after, changed = rules.apply_updates(before, PropertyUpdates(sets, once, tuple(unset)))
    assert changed == (after != before)
    for key in unset:
        assert key not in after
    for key, value in sets.items():
        if key not in unset:
            assert after[key] == value
    for key, value in once.items():
        if key not in unset and key not in sets:
            assert after[key] == before.get(key, value)
    for key in set(before) - set(sets) - set(once) - set(unset):
        assert after[key] == before[key]


@given(keep=props, other=props)
def test_merge_keeps_known_values(keep: dict[str, object], other: dict[str, object]) -> None:
    merged = rules.merge_properties(keep, other)
    assert set(merged) == set(keep) | set(other)
    assert all(merged[k] == v for k, v in keep.items())
