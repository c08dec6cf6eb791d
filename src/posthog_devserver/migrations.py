"""The database schema as numbered migrations, tracked in ``PRAGMA user_version``.

A database written by a newer server (higher version) or by something else entirely
(a foreign ``application_id``) is refused instead of being silently misread.
Append migrations; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3

APPLICATION_ID = 0x504F4847  # "POHG"

MIGRATIONS: tuple[str, ...] = (
    # 1: events, persons, distinct ids, groups and group types, all scoped by project key.
    """
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        project TEXT NOT NULL,
        uuid TEXT NOT NULL,
        event TEXT NOT NULL,
        distinct_id TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        received_at TEXT NOT NULL,
        data TEXT NOT NULL,
        UNIQUE (project, uuid)
    );
    CREATE INDEX events_by_project ON events (project, id);
    CREATE INDEX events_by_distinct_id ON events (distinct_id, id);
    CREATE TABLE persons (
        id INTEGER PRIMARY KEY,
        project TEXT NOT NULL,
        uuid TEXT NOT NULL UNIQUE,
        properties TEXT NOT NULL DEFAULT '{}',
        is_identified INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX persons_by_project ON persons (project, id);
    CREATE TABLE person_distinct_ids (
        project TEXT NOT NULL,
        distinct_id TEXT NOT NULL,
        person_id INTEGER NOT NULL REFERENCES persons (id),
        UNIQUE (project, distinct_id)
    );
    CREATE INDEX person_distinct_ids_by_person ON person_distinct_ids (person_id);
    CREATE TABLE group_types (
        project TEXT NOT NULL,
        group_type TEXT NOT NULL,
        group_type_index INTEGER NOT NULL,
        PRIMARY KEY (project, group_type)
    ) WITHOUT ROWID;
    CREATE TABLE groups (
        project TEXT NOT NULL,
        group_type_index INTEGER NOT NULL,
        group_key TEXT NOT NULL,
        properties TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (project, group_type_index, group_key)
    ) WITHOUT ROWID;
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(RuntimeError):
    """The database cannot be used by this server version."""


def migrate(conn: sqlite3.Connection, path: str = "") -> int:
    """Bring the schema up to :data:`SCHEMA_VERSION`; return the resulting version."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    has_tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    if app_id not in (0, APPLICATION_ID) or (app_id == 0 and has_tables):
        raise SchemaError(f"{path or 'database'} is not a posthog dev server database")
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{path or 'database'} has schema version {version}, newer than this server "
            f"supports ({SCHEMA_VERSION}); upgrade the server or use another --db"
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):
        script = MIGRATIONS[number - 1]
        conn.executescript(
            f"BEGIN IMMEDIATE;\n{script}\nPRAGMA application_id = {APPLICATION_ID};\n"
            f"PRAGMA user_version = {number};\nCOMMIT;"
        )
    return int(conn.execute("PRAGMA user_version").fetchone()[0])
