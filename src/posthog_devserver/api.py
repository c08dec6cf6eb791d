"""The query API (``/api/events``, ``/api/persons``, ``/api/groups``, ``/api/stats``).

Used by the web page and by tests. Lists are newest first and paged: events by id
cursor (``before``; ``after`` for polling new ones), persons, groups (and the flags of
``/api/flags``, in :mod:`.flag_routes`) by ``offset``.
Every filter is optional; ``project`` narrows to one project key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from . import queries
from .errors import bad_request, not_found
from .store import Store
from .web import Request, Response, json_response

MAX_LIMIT = 1000


def routes(store: Store) -> dict[str, Callable[[Request], Response]]:
    return {
        "/api/events": lambda req: list_events(store, req),
        "/api/persons": lambda req: list_persons(store, req),
        "/api/groups": lambda req: list_groups(store, req),
        "/api/stats": lambda req: stats(store, req),
    }


def _int(query: Mapping[str, str], name: str, default: int | None, low: int = 0) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request("invalid_parameter", f"'{name}' must be an integer.", name) from None
    if value < low:
        raise bad_request("invalid_parameter", f"'{name}' must be at least {low}.", name)
    return value


def _limit(query: Mapping[str, str]) -> int:
    return min(_int(query, "limit", 100, 1) or 100, MAX_LIMIT)


def _str(query: Mapping[str, str], name: str) -> str | None:
    value = query.get(name)
    return value if value else None


def _next(request: Request, **changes: Any) -> str:
    query = {**request.query, **{k: str(v) for k, v in changes.items()}}
    return f"{request.path}?{urlencode(query)}"


def offset_paging(query: Mapping[str, str]) -> tuple[int, int]:
    """``limit`` (1..1000, default 100) and ``offset`` (default 0) of a paged list."""
    return _limit(query), _int(query, "offset", 0) or 0


def offset_page(
    request: Request, results: list[Any], limit: int, offset: int, **extra: Any
) -> Response:
    """A page of results with the ``next`` link (None on the last page)."""
    more = len(results) == limit
    following = _next(request, offset=offset + limit) if more else None
    return json_response({"results": results, "next": following, **extra})


def list_events(store: Store, request: Request) -> Response:
    q = request.query
    limit = _limit(q)
    with store.reader() as conn:
        results = queries.events(
            conn,
            project=_str(q, "project"),
            event=_str(q, "event"),
            distinct_id=_str(q, "distinct_id"),
            person_id=_int(q, "person_id", None),
            uuid=_str(q, "uuid"),
            after=_int(q, "after", None),
            before=_int(q, "before", None),
            limit=limit,
        )
    more = len(results) == limit
    return json_response(
        {"results": results, "next": _next(request, before=results[-1]["id"]) if more else None}
    )


def list_persons(store: Store, request: Request) -> Response:
    q = request.query
    limit, offset = offset_paging(q)
    with store.reader() as conn:
        results = queries.persons(
            conn,
            project=_str(q, "project"),
            distinct_id=_str(q, "distinct_id"),
            person_id=_int(q, "id", None),
            search=_str(q, "search"),
            limit=limit,
            offset=offset,
        )
    if _str(q, "id") is not None and not results:
        raise not_found("No such person.")
    return offset_page(request, results, limit, offset)


def list_groups(store: Store, request: Request) -> Response:
    q = request.query
    limit, offset = offset_paging(q)
    with store.reader() as conn:
        results = queries.groups(
            conn,
            project=_str(q, "project"),
            group_type=_str(q, "group_type"),
            group_key=_str(q, "group_key"),
            limit=limit,
            offset=offset,
        )
    return offset_page(request, results, limit, offset)


def stats(store: Store, request: Request) -> Response:
    with store.reader() as conn:
        data = queries.stats(conn)
    data["schema_version"] = store.schema_version
    data["database"] = store.path
    return json_response(data)
