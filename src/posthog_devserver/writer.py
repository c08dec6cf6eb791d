"""The ingest transaction: store new events, then apply person and group rules.

Runs on the store's writer thread only (see ``Store.write``). Events whose uuid the
project already has are skipped entirely, so a retried batch changes nothing. The
decisions come from :mod:`.persons`; this module only reads and writes rows.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import uuid as uuidlib
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from . import persons as rules
from .ingest import IncomingEvent

_KNOWN_LIMIT = 200_000
_ROWS_PER_INSERT = 100  # 700 parameters, well under SQLite's limit of 32,766


class WriterState:
    """Writer-thread caches. Dropped on any rollback, so they never outlive their rows."""

    def __init__(self) -> None:
        self.known: set[tuple[str, str]] = set()
        self.group_types: dict[str, dict[str, int]] = {}

    def reset(self) -> None:
        self.known.clear()
        self.group_types.clear()


def ingest(
    conn: sqlite3.Connection,
    state: WriterState,
    project: str,
    events: Sequence[IncomingEvent],
) -> int:
    """Store ``events`` for ``project``; return how many were new."""
    now = datetime.now(timezone.utc).isoformat()
    try:
        fresh = _insert(conn, project, events, now)
        for event in fresh:
            _process(conn, state, project, event, now)
        if len(state.known) > _KNOWN_LIMIT:
            state.reset()
        return len(fresh)
    except BaseException:
        state.reset()
        raise


def _insert(
    conn: sqlite3.Connection, project: str, events: Sequence[IncomingEvent], now: str
) -> list[IncomingEvent]:
    """Insert the events the project does not have yet (by uuid); return those."""
    last = conn.execute("SELECT max(id) FROM events").fetchone()[0] or 0
    before = conn.total_changes
    for start in range(0, len(events), _ROWS_PER_INSERT):
        chunk = events[start : start + _ROWS_PER_INSERT]
        values: list[Any] = [project, now]
        for e in chunk:
            values += e[:5]  # uuid, event, distinct_id, timestamp, data
        conn.execute(_insert_sql(len(chunk)), values)
    if conn.total_changes - before == len(events):
        return list(events)  # the usual case: nothing was a retry
    inserted = {
        row[0]: row[1] for row in conn.execute("SELECT uuid, id FROM events WHERE id > ?", (last,))
    }
    fresh = []
    for event in events:
        # a uuid repeated inside the batch: only its first occurrence was inserted
        if inserted.pop(event.uuid, None) is not None:
            fresh.append(event)
    return fresh


@functools.cache
def _insert_sql(rows: int) -> str:
    """One multi-row INSERT: SQLite inserts them all in one step, without the GIL.

    ``executemany`` would take the GIL back after every row, and each time wait for the
    request threads parsing the next batch: the writer would crawl behind them.
    """
    rows_sql = (
        f"(?1, ?{n}, ?{n + 1}, ?{n + 2}, ?{n + 3}, ?2, ?{n + 4})" for n in range(3, 5 * rows, 5)
    )
    return (
        "INSERT OR IGNORE INTO events (project, uuid, event, distinct_id, timestamp,"
        " received_at, data) VALUES " + ", ".join(rows_sql)
    )


def _process(
    conn: sqlite3.Connection, state: WriterState, project: str, e: IncomingEvent, now: str
) -> None:
    if e.group_types:
        _groups(conn, state, project, e, now)
    if not e.process_person:
        return
    identify = e.event == rules.IDENTIFY
    linked = False
    if e.merge_partner is not None:
        dangerous = e.event == rules.MERGE_DANGEROUSLY
        _link(conn, project, e.distinct_id, e.merge_partner, dangerous, now)
        state.known.add((project, e.merge_partner))
        linked = True
    updates = e.person_updates
    key = (project, e.distinct_id)
    if not updates and not identify and not linked and key in state.known:
        return  # the hot path: a plain event of a person already stored
    person_id, props, _ = _person(conn, project, e.distinct_id) or _create(
        conn, project, [e.distinct_id], {}, now
    )
    state.known.add(key)
    new_props, changed = rules.apply_updates(props, updates)
    if changed:
        conn.execute(
            "UPDATE persons SET properties = ?, updated_at = ? WHERE id = ?",
            (json.dumps(new_props, ensure_ascii=False), now, person_id),
        )
    if identify or linked:
        conn.execute("UPDATE persons SET is_identified = 1 WHERE id = ?", (person_id,))


def _groups(
    conn: sqlite3.Connection, state: WriterState, project: str, e: IncomingEvent, now: str
) -> None:
    """Register the group types an event names; store a ``$groupidentify``'s group."""
    known = state.group_types.get(project)
    ident = e.group_identify
    if known is not None and ident is None and all(t in known for t in e.group_types):
        return
    mapping = _group_types(conn, state, project, e.group_types)
    if ident is not None and ident.group_type in mapping:
        _upsert_group(conn, project, mapping[ident.group_type], ident, now)


Person = tuple[int, dict[str, Any], bool]


def _person(conn: sqlite3.Connection, project: str, distinct_id: str) -> Person | None:
    row = conn.execute(
        "SELECT p.id, p.properties, p.is_identified FROM person_distinct_ids d"
        " JOIN persons p ON p.id = d.person_id WHERE d.project = ? AND d.distinct_id = ?",
        (project, distinct_id),
    ).fetchone()
    if row is None:
        return None
    return int(row[0]), json.loads(row[1]), bool(row[2])


def _create(
    conn: sqlite3.Connection,
    project: str,
    distinct_ids: list[str],
    props: dict[str, Any],
    now: str,
    identified: bool = False,
) -> Person:
    cur = conn.execute(
        "INSERT INTO persons (project, uuid, properties, is_identified, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (project, str(uuidlib.uuid4()), json.dumps(props), int(identified), now, now),
    )
    person_id = int(cur.lastrowid or 0)
    for distinct_id in distinct_ids:
        _add_id(conn, project, distinct_id, person_id)
    return person_id, props, identified


def _add_id(conn: sqlite3.Connection, project: str, distinct_id: str, person_id: int) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO person_distinct_ids (project, distinct_id, person_id)"
        " VALUES (?, ?, ?)",
        (project, distinct_id, person_id),
    )


def _link(
    conn: sqlite3.Connection, project: str, main: str, other: str, dangerous: bool, now: str
) -> None:
    """Make ``main`` and ``other`` one person (identify/alias), per ``rules.decide_merge``."""
    main_p, other_p = _person(conn, project, main), _person(conn, project, other)
    action = rules.decide_merge(
        main_p[0] if main_p else None,
        other_p[0] if other_p else None,
        other_identified=bool(other_p and other_p[2]),
        dangerous=dangerous,
    )
    if action is rules.MergeAction.CREATE_BOTH:
        _create(conn, project, [main, other], {}, now, identified=True)
    elif action is rules.MergeAction.ADD_OTHER_TO_MAIN and main_p:
        _add_id(conn, project, other, main_p[0])
    elif action is rules.MergeAction.ADD_MAIN_TO_OTHER and other_p:
        _add_id(conn, project, main, other_p[0])
    elif action is rules.MergeAction.MERGE and main_p and other_p:
        merged = rules.merge_properties(main_p[1], other_p[1])
        conn.execute(
            "UPDATE persons SET properties = ?, updated_at = ?, created_at = min(created_at,"
            " (SELECT created_at FROM persons WHERE id = ?)) WHERE id = ?",
            (json.dumps(merged, ensure_ascii=False), now, other_p[0], main_p[0]),
        )
        conn.execute(
            "UPDATE person_distinct_ids SET person_id = ? WHERE person_id = ?",
            (main_p[0], other_p[0]),
        )
        conn.execute("DELETE FROM persons WHERE id = ?", (other_p[0],))


def _group_types(
    conn: sqlite3.Connection, state: WriterState, project: str, wanted: Sequence[str]
) -> dict[str, int]:
    mapping = state.group_types.get(project)
    if mapping is None:
        rows = conn.execute(
            "SELECT group_type, group_type_index FROM group_types WHERE project = ?", (project,)
        )
        mapping = state.group_types[project] = {str(r[0]): int(r[1]) for r in rows}
    for group_type in wanted:
        if group_type in mapping:
            continue
        index = rules.next_group_type_index(mapping)
        if index is None:
            continue
        conn.execute(
            "INSERT INTO group_types (project, group_type, group_type_index) VALUES (?, ?, ?)",
            (project, group_type, index),
        )
        mapping[group_type] = index
    return mapping


def _upsert_group(
    conn: sqlite3.Connection, project: str, index: int, ident: rules.GroupIdentify, now: str
) -> None:
    row = conn.execute(
        "SELECT properties FROM groups WHERE project = ? AND group_type_index = ?"
        " AND group_key = ?",
        (project, index, ident.group_key),
    ).fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO groups (project, group_type_index, group_key, properties, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (project, index, ident.group_key, json.dumps(ident.group_set), now, now),
        )
        return
    merged = {**json.loads(row[0]), **ident.group_set}
    conn.execute(
        "UPDATE groups SET properties = ?, updated_at = ? WHERE project = ?"
        " AND group_type_index = ? AND group_key = ?",
        (json.dumps(merged, ensure_ascii=False), now, project, index, ident.group_key),
    )
