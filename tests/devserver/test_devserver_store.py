"""Persistence: a restart keeps everything; the schema version is checked."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from devserver_helpers import Http, event, wait_for

from posthog_devserver import DevServer
from posthog_devserver.migrations import APPLICATION_ID, SCHEMA_VERSION, SchemaError
from posthog_devserver.store import Store


def test_restart_keeps_everything(tmp_path: Path) -> None:
    db = str(tmp_path / "dev.db")
    retried = [event("e", "anon", properties={"$set": {"plan": "pro"}}), event("f", "anon")]
    with DevServer(db=db) as server:
        http = Http(server.url)
        http.batch(retried)
        http.batch([event("$identify", "u1", properties={"$anon_distinct_id": "anon"})])
        group = {"$group_type": "company", "$group_key": "c1", "$group_set": {"n": 1}}
        http.batch([event("$groupidentify", "u1", properties=group)])
        before = (http.events(), http.persons(), http.get_json("/api/groups")["results"])
        http.close()
    with DevServer(db=db) as server:
        http = Http(server.url)
        assert (http.events(), http.persons(), http.get_json("/api/groups")["results"]) == before
        # idempotency survives the restart, and so do the person and group type mappings
        http.batch(retried)
        http.batch([event("$groupidentify", properties={**group, "$group_type": "team"})])
        assert len(http.events()) == 5
        assert http.person("u1")["properties"] == {"plan": "pro"}
        types = {
            g["group_type"]: g["group_type_index"] for g in http.get_json("/api/groups")["results"]
        }
        assert types == {"company": 0, "team": 1}
        assert http.get_json("/api/stats")["schema_version"] == SCHEMA_VERSION
        http.close()


def test_database_uses_wal_and_records_its_version(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    Store(str(db)).close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "dev.db"
    Store(str(db)).close()
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaError, match="newer than this server supports"):
        DevServer(db=str(db)).start()


def test_foreign_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "other.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE something (x)")
    conn.close()
    with pytest.raises(SchemaError, match="not a posthog dev server database"):
        Store(str(db))


@pytest.mark.parametrize("name", [":memory:", "dev.db"])
def test_a_failing_write_is_rolled_back_alone(tmp_path: Path, name: str) -> None:
    store = Store(name if name == ":memory:" else str(tmp_path / name))
    try:

        def bad(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO group_types VALUES ('p', 'x', 0)")
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            store.write(bad)
        store.write(lambda c: c.execute("INSERT INTO group_types VALUES ('p', 'y', 1)"))
        with store.reader() as conn:
            assert conn.execute("SELECT group_type FROM group_types").fetchall() == [("y",)]
    finally:
        store.close()


def _insert_type(name: str, index: int) -> Callable[[sqlite3.Connection], object]:
    return lambda conn: (
        conn.execute("INSERT INTO group_types VALUES ('p', ?, ?)", (name, index)).rowcount
    )


def test_queued_writes_are_committed_for_a_waiting_write_a_read_and_on_close(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "dev.db")
    store = Store(db)
    try:
        for i in range(3):
            store.submit(_insert_type(f"t{i}", i))
        store.submit(_insert_type("t0", 9))  # fails: the key exists; only this job is undone
        assert store.write(_insert_type("t3", 3)) == 1  # committed with those queued before
        store.submit(_insert_type("t4", 4))
        with store.reader() as conn:  # sees everything submitted before it
            assert conn.execute("SELECT count(*) FROM group_types").fetchone()[0] == 5
        store.submit(_insert_type("t5", 5))
    finally:
        store.close()  # commits what is still queued
    reopened = Store(db)
    try:
        with reopened.reader() as conn:
            rows = conn.execute("SELECT group_type FROM group_types ORDER BY group_type_index")
            assert [r[0] for r in rows] == ["t0", "t1", "t2", "t3", "t4", "t5"]
    finally:
        reopened.close()


def test_a_file_database_reads_its_writes(tmp_path: Path) -> None:
    with DevServer(db=str(tmp_path / "dev.db")) as server:
        http = Http(server.url)
        for n in range(1, 6):
            assert http.batch([event(f"e{n}-{i}", f"user-{i}") for i in range(120)]).status == 200
            assert http.get_json("/api/stats")["events"] == 120 * n
            assert http.events(limit=1)[0]["event"] == f"e{n}-119"
        http.close()


def test_stop_ends_idle_keep_alive_connections() -> None:
    server = DevServer().start()
    http = Http(server.url)
    assert http.get("/_health").status == 200  # a keep-alive connection stays open
    handlers = [t for t in threading.enumerate() if "process_request_thread" in t.name]
    assert handlers
    server.stop()
    wait_for(lambda: not any(t.is_alive() for t in handlers))
    http.close()
    server.stop()  # idempotent
