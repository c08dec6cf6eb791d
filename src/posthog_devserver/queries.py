"""Read-only SQL for the query API, the web page and server-side flag evaluation.

Each function takes a reader connection and returns plain JSON-ready values.
``project=None`` means every project.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any


def _where(clauses: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """``WHERE`` for the clauses whose value is not None (a tuple binds several ``?``)."""
    used = [(sql, value) for sql, value in clauses if value is not None]
    if not used:
        return "", []
    args: list[Any] = []
    for _, value in used:
        args.extend(value if isinstance(value, tuple) else [value])
    return " WHERE " + " AND ".join(sql for sql, _ in used), args


def events(
    conn: sqlite3.Connection,
    *,
    project: str | None = None,
    event: str | None = None,
    distinct_id: str | None = None,
    person_id: int | None = None,
    uuid: str | None = None,
    after: int | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Events newest first (by received order ``id``)."""
    where, args = _where(
        [
            ("project = ?", project),
            ("event = ?", event),
            ("distinct_id = ?", distinct_id),
            ("uuid = ?", uuid),
            ("id > ?", after),
            ("id < ?", before),
            (
                # a distinct id names a person only within its project
                "(project, distinct_id) IN (SELECT project, distinct_id FROM person_distinct_ids"
                " WHERE person_id = ?)",
                person_id,
            ),
        ]
    )
    rows = conn.execute(
        "SELECT id, project, uuid, event, distinct_id, timestamp, received_at, data FROM events"
        f"{where} ORDER BY id DESC LIMIT ?",
        [*args, limit],
    )
    return [_event(row) for row in rows]


def _event(row: tuple[Any, ...]) -> dict[str, Any]:
    message = json.loads(row[7])
    props = message.get("properties")
    return {
        "id": row[0],
        "project": row[1],
        "uuid": row[2],
        "event": row[3],
        "distinct_id": row[4],
        "timestamp": row[5],
        "received_at": row[6],
        "properties": props if isinstance(props, dict) else {},
        "message": message,
    }


def persons(
    conn: sqlite3.Connection,
    *,
    project: str | None = None,
    distinct_id: str | None = None,
    person_id: int | None = None,
    search: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Persons newest first, each with all its distinct ids."""
    pattern = None if search is None else f"%{search}%"
    where, args = _where(
        [
            ("p.project = ?", project),
            ("p.id = ?", person_id),
            (
                "p.id IN (SELECT person_id FROM person_distinct_ids WHERE distinct_id = ?)",
                distinct_id,
            ),
            (
                "(p.properties LIKE ? OR p.id IN (SELECT person_id FROM person_distinct_ids"
                " WHERE distinct_id LIKE ?))",
                None if pattern is None else (pattern, pattern),
            ),
        ]
    )
    rows = conn.execute(
        "SELECT p.id, p.project, p.uuid, p.properties, p.is_identified, p.created_at,"
        f" p.updated_at FROM persons p{where} ORDER BY p.id DESC LIMIT ? OFFSET ?",
        [*args, limit, offset],
    ).fetchall()
    ids: dict[int, list[str]] = {row[0]: [] for row in rows}
    if ids:
        marks = ",".join("?" * len(ids))
        for person, did in conn.execute(
            "SELECT person_id, distinct_id FROM person_distinct_ids"
            f" WHERE person_id IN ({marks}) ORDER BY rowid",
            list(ids),
        ):
            ids[person].append(did)
    return [
        {
            "id": row[0],
            "project": row[1],
            "uuid": row[2],
            "properties": json.loads(row[3]),
            "is_identified": bool(row[4]),
            "created_at": row[5],
            "updated_at": row[6],
            "distinct_ids": ids[row[0]],
        }
        for row in rows
    ]


def groups(
    conn: sqlite3.Connection,
    *,
    project: str | None = None,
    group_type: str | None = None,
    group_key: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    where, args = _where(
        [
            ("g.project = ?", project),
            ("t.group_type = ?", group_type),
            ("g.group_key = ?", group_key),
        ]
    )
    rows = conn.execute(
        "SELECT g.project, t.group_type, g.group_type_index, g.group_key, g.properties,"
        " g.created_at, g.updated_at FROM groups g JOIN group_types t ON t.project = g.project"
        f" AND t.group_type_index = g.group_type_index{where}"
        " ORDER BY g.updated_at DESC, g.group_key LIMIT ? OFFSET ?",
        [*args, limit, offset],
    )
    keys = ("project", "group_type", "group_type_index", "group_key")
    return [
        {
            **dict(zip(keys, row[:4], strict=True)),
            "properties": json.loads(row[4]),
            "created_at": row[5],
            "updated_at": row[6],
        }
        for row in rows
    ]


def group_type_mapping(conn: sqlite3.Connection, project: str) -> dict[str, str]:
    """``{"0": "company", ...}`` as PostHog's definitions endpoint spells it."""
    rows = conn.execute(
        "SELECT group_type_index, group_type FROM group_types WHERE project = ?", (project,)
    )
    return {str(index): str(name) for index, name in rows}


def person_properties(conn: sqlite3.Connection, project: str, distinct_id: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT p.properties FROM person_distinct_ids d JOIN persons p ON p.id = d.person_id"
        " WHERE d.project = ? AND d.distinct_id = ?",
        (project, distinct_id),
    ).fetchone()
    return dict(json.loads(row[0])) if row else {}


def projects_of_distinct_id(conn: sqlite3.Connection, distinct_id: str) -> list[str]:
    """Projects where ``distinct_id`` has a person, the person seen most recently first.

    A person is seen by its latest event under any of its distinct ids; one without
    events ranks by when its properties last changed.
    """
    rows = conn.execute(
        "SELECT d.project FROM person_distinct_ids d JOIN persons p ON p.id = d.person_id"
        " WHERE d.distinct_id = ? ORDER BY coalesce((SELECT max(e.id) FROM events e"
        " JOIN person_distinct_ids o ON e.project = o.project AND e.distinct_id = o.distinct_id"
        " WHERE o.person_id = p.id), 0) DESC, p.updated_at DESC, p.id DESC",
        (distinct_id,),
    )
    return [str(row[0]) for row in rows]


def group_properties(
    conn: sqlite3.Connection, project: str, group_type: str, group_key: str
) -> dict[str, Any]:
    row = conn.execute(
        "SELECT g.properties FROM groups g JOIN group_types t ON t.project = g.project AND"
        " t.group_type_index = g.group_type_index WHERE g.project = ? AND t.group_type = ?"
        " AND g.group_key = ?",
        (project, group_type, group_key),
    ).fetchone()
    return dict(json.loads(row[0])) if row else {}


def stats(conn: sqlite3.Connection) -> dict[str, Any]:
    """Counts per project and in total."""
    projects: dict[str, dict[str, Any]] = {}
    for table, name in (("events", "events"), ("persons", "persons"), ("groups", "groups")):
        for project, count in conn.execute(
            f"SELECT project, count(*) FROM {table} GROUP BY project"
        ):
            entry = projects.setdefault(
                project, {"project": project, "events": 0, "persons": 0, "groups": 0}
            )
            entry[name] = count
    listed = sorted(projects.values(), key=lambda p: str(p["project"]))
    return {
        "projects": listed,
        "events": sum(p["events"] for p in listed),
        "persons": sum(p["persons"] for p in listed),
        "groups": sum(p["groups"] for p in listed),
    }
