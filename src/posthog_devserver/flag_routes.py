"""Flag endpoints: definitions for local evaluation, remote evaluation, remote config.

Evaluation is the SDK's own pure engine (``posthog._flags``) in server mode (missing
properties are non-matches), fed with the stored person and group properties merged
under the request's overrides, the way PostHog's flag service does it.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from posthog._flags.evaluator import Evaluation, Reason, Subject, evaluate_all
from posthog._flags.model import FlagSet, parse_definitions

from . import api, queries
from .errors import bad_request, not_found
from .flags import Definitions
from .ingest import decode_body, parse_json
from .web import Request, Response, json_response

if TYPE_CHECKING:
    from .app import App


def _definitions(app: App, project: str | None) -> Definitions:
    current = app.flags.current()
    if project is None:
        return current
    with app.store.reader() as conn:
        mapping = queries.group_type_mapping(conn, project)
    return current.for_project(mapping)


def _flagset(app: App, defs: Definitions) -> FlagSet:
    """Parse once per distinct document (cached on the file's current version)."""
    cache = app.flags.current().cache
    cached = cache.get(defs.etag)
    if not isinstance(cached, FlagSet):
        if len(cache) > 64:
            cache.clear()
        cached = parse_definitions(defs.document)
        cache[defs.etag] = cached
    return cached


# -- local evaluation ---------------------------------------------------------------------


def definitions(app: App, request: Request) -> Response:
    """``GET /flags/definitions`` (and the older local_evaluation path), with ETag/304."""
    app.check_personal_key(request)
    token = request.query.get("token")
    if token:
        app.check_project_key(token)
    defs = _definitions(app, token or None)
    headers = {"ETag": defs.etag}
    if request.header("if-none-match") == defs.etag:
        return Response(304, b"", "application/json", headers)
    document = dict(defs.document)
    if "send_cohorts" not in request.query:
        document.pop("cohorts", None)
    return json_response(document, headers=headers)


def remote_config(app: App, request: Request, key: str) -> Response:
    """The flag's payload, decoded, as ``/remote_config`` returns it."""
    app.check_personal_key(request)
    token = request.query.get("token")
    if token:
        app.check_project_key(token)
    for flag in app.flags.current().flags:
        if flag.get("key") == key:
            payloads = (flag.get("filters") or {}).get("payloads") or {}
            payload = payloads.get("true") if isinstance(payloads, dict) else None
            if isinstance(payload, str):
                try:
                    return json_response(json.loads(payload))
                except ValueError:
                    return json_response(payload)
            return json_response(payload)
    raise not_found(f"Flag {key!r} not found.")


# -- remote evaluation --------------------------------------------------------------------


def _body(request: Request) -> dict[str, Any]:
    data = decode_body(request.body, request.header("content-encoding"))
    body = parse_json(data)
    if not isinstance(body, dict):
        raise bad_request("invalid_payload", "The body must be a JSON object.")
    return body


def _mapping(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request("invalid_payload", f"'{name}' must be an object.", name)
    return value


def _groups(body: dict[str, Any]) -> dict[str, str]:
    """``{"company": "acme"}``: each group key a string (a number is read as one)."""
    groups = {}
    for group_type, key in _mapping(body, "groups").items():
        if isinstance(key, bool) or not isinstance(key, (str, int, float)):
            raise bad_request(
                "invalid_payload", f"'groups.{group_type}' must be a string group key.", "groups"
            )
        groups[str(group_type)] = str(key)
    return groups


def _group_overrides(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"company": {...properties}}``: each group type's overrides an object."""
    overrides = _mapping(body, "group_properties")
    for group_type, props in overrides.items():
        if props is not None and not isinstance(props, dict):
            raise bad_request(
                "invalid_payload",
                f"'group_properties.{group_type}' must be an object of properties.",
                "group_properties",
            )
    return overrides


def evaluate_body(app: App, project: str, body: dict[str, Any]) -> dict[str, Evaluation]:
    """Evaluate the flags a ``/flags`` body asks for, for the subject it describes."""
    distinct_id = body.get("distinct_id")
    if isinstance(distinct_id, (int, float)) and not isinstance(distinct_id, bool):
        distinct_id = str(distinct_id)
    if not isinstance(distinct_id, str) or not distinct_id:
        raise bad_request("invalid_payload", "'distinct_id' is required.", "distinct_id")
    groups = _groups(body)
    person_overrides = _mapping(body, "person_properties")
    group_overrides = _group_overrides(body)
    with app.store.reader() as conn:
        person = queries.person_properties(conn, project, distinct_id)
        group_props = {
            gtype: {
                "$group_key": gkey,
                **queries.group_properties(conn, project, gtype, gkey),
                **(group_overrides.get(gtype) or {}),
            }
            for gtype, gkey in groups.items()
        }
    device_id = body.get("device_id")
    subject = Subject(
        distinct_id,
        device_id=device_id if isinstance(device_id, str) else None,
        groups=groups,
        person_properties={"distinct_id": distinct_id, **person, **person_overrides},
        group_properties=group_props,
    )
    flagset = _flagset(app, _definitions(app, project))
    keys = body.get("flag_keys_to_evaluate")
    if not isinstance(keys, list) or not keys:
        keys = [k for k, f in flagset.flags.items() if f.active and not f.raw.get("deleted")]
    return evaluate_all(flagset, subject, [str(k) for k in keys], server_side=True)


def _failed(ev: Evaluation) -> bool:
    return ev.reason is Reason.INCONCLUSIVE


def _record(ev: Evaluation, v4: bool) -> dict[str, Any]:
    value = False if _failed(ev) or ev.value is None else ev.value
    record: dict[str, Any] = {
        "key": ev.key,
        "enabled": bool(value),
        "variant": value if isinstance(value, str) else None,
        "reason": {
            "code": ev.reason.value,
            "condition_index": ev.condition_index,
            "description": ev.description,
        },
        "metadata": {
            "id": ev.flag_id,
            "version": ev.flag_version,
            "payload": ev.payload if value else None,
            "description": None,
        },
    }
    if ev.has_experiment is not None:
        record["metadata"]["has_experiment"] = ev.has_experiment
    if v4:
        record["value"] = value
        record["failed"] = _failed(ev)
    return record


def _project_of(app: App, request: Request, body: dict[str, Any]) -> str:
    key = body.get("api_key") or body.get("token") or request.query.get("token")
    return app.check_project_key(key if isinstance(key, str) else None)


def flags(app: App, request: Request) -> Response:
    """``POST /flags`` (v2 records; ``?v=4`` adds ``value`` and ``failed``)."""
    body = _body(request)
    project = _project_of(app, request, body)
    results = evaluate_body(app, project, body)
    v4 = _version(request) >= 4
    return json_response(
        {
            "flags": {key: _record(ev, v4) for key, ev in results.items()},
            "errorsWhileComputingFlags": any(_failed(ev) for ev in results.values()),
            "requestId": str(uuid.uuid4()),
            "evaluatedAt": int(time.time() * 1000),
        }
    )


def decide(app: App, request: Request) -> Response:
    """Legacy ``/decide``: ``featureFlags`` and ``featureFlagPayloads`` (v3 shape)."""
    if _version(request) >= 4:
        return flags(app, request)
    body = _body(request)
    results = evaluate_body(app, _project_of(app, request, body), body)
    values = {k: (False if _failed(e) or e.value is None else e.value) for k, e in results.items()}
    payloads = {k: e.payload for k, e in results.items() if values[k] and e.payload is not None}
    return json_response(
        {
            "featureFlags": values,
            "featureFlagPayloads": payloads,
            "errorsWhileComputingFlags": any(_failed(e) for e in results.values()),
            "requestId": str(uuid.uuid4()),
        }
    )


def _version(request: Request) -> int:
    try:
        return int(request.query.get("v", "2"))
    except ValueError:
        return 2


# -- web page -----------------------------------------------------------------------------


def list_flags(app: App, request: Request) -> Response:
    """Definitions and their source for the web page (no key needed: local only).

    ``project`` shows that project's group type mapping (its own, from ingestion, when
    the file names none); ``search`` keeps flags whose key or name contains it; paged
    by ``limit`` and ``offset`` like the other lists.
    """
    query = request.query
    project = query.get("project") or None
    limit, offset = api.offset_paging(query)
    defs = _definitions(app, project)
    flags = defs.flags
    search = (query.get("search") or "").lower()
    if search:
        flags = [f for f in flags if search in f"{f.get('key')} {f.get('name') or ''}".lower()]
    return api.offset_page(
        request,
        flags[offset : offset + limit],
        limit,
        offset,
        project=project,
        group_type_mapping=defs.document.get("group_type_mapping", {}),
        cohorts=defs.document.get("cohorts", {}),
        path=defs.path,
        etag=defs.etag,
        error=defs.error,
    )


def evaluate_api(app: App, request: Request) -> Response:
    """The web page's evaluation box: like ``/flags?v=4``; ``project`` optional.

    Without a project (the page's "All projects" view, any key accepted), the project is
    the one in which the distinct id has a person, so its stored properties count; of
    several, the one whose person was seen last. The answer says which project was used.
    """
    body = _body(request)
    project = body.get("project") or body.get("api_key")
    if project is not None and not isinstance(project, str):
        raise bad_request("invalid_payload", "'project' must be a string.", "project")
    if project:
        note = "given"
    elif app.project_api_key:
        project, note = app.project_api_key, "the server's project key"
    else:
        project, note = _project_for(app, body.get("distinct_id"))
    results = evaluate_body(app, project, body)
    return json_response(
        {
            "flags": {k: _record(e, True) for k, e in results.items()},
            "project": project,
            "project_note": note,
        }
    )


def _project_for(app: App, distinct_id: Any) -> tuple[str, str]:
    """The project to evaluate ``distinct_id`` in when none was named, and why that one."""
    if isinstance(distinct_id, (int, float)) and not isinstance(distinct_id, bool):
        distinct_id = str(distinct_id)
    if not isinstance(distinct_id, str) or not distinct_id:
        return "", "no project"
    with app.store.reader() as conn:
        projects = queries.projects_of_distinct_id(conn, distinct_id)
    if not projects:
        return "", "no person with this distinct id in any project"
    if len(projects) == 1:
        return projects[0], "the only project with a person for this distinct id"
    return projects[0], (
        f"the most recently seen of {len(projects)} projects with a person for this distinct id"
    )
