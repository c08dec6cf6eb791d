"""Test doubles for applications that use PostHog: assert what was captured, force flag
values. No network, no threads.

:class:`RecordingClient` is a real :class:`~posthog.Posthog` client: every event goes
through the same argument handling, enrichment, ``before_send`` and encoding as in
production, in the calling thread (``sync_mode``), into an in-memory transport instead
of a socket. Flag calls are answered from overrides you set per key, per distinct id or
for everyone; a flag without an override is "not found" (``None``). Flags reach events
as in production: ``send_feature_flags=True`` and ``flags=`` attach the overrides, and
flag reads send (deduplicated) ``$feature_flag_called`` exposures.

::

    from posthog.testing import recording

    def test_checkout_tracks_the_order():
        with recording() as ph:              # also the module-level default client
            ph.override_flag("new-checkout", True)
            shop.checkout(user_id="u1", amount=30)
        ph.assert_captured("order placed", distinct_id="u1", properties={"amount": 30})

With pytest, the ``posthog_recorder`` fixture does the same: add
``from posthog.testing import posthog_recorder`` to your ``conftest.py``.

For :class:`~posthog.AsyncPosthog` code, :class:`AsyncRecordingClient` (an
``AsyncPosthog`` with this recording core; defined in ``posthog._testing_async`` and
loaded on first use) and the ``async_posthog_recorder`` fixture. See ``docs/testing.md``.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from posthog._client_flag_events import event_flag_request
from posthog._flags.answers import no_flags as _nothing
from posthog._flags.answers import to_result as _to_result
from posthog._flags.events import event_flag_properties
from posthog._lazy import lazy_exports
from posthog._transport.base import Request, Response
from posthog.client import Client
from posthog.contexts import ContextScope
from posthog.types import (
    FeatureFlagEvaluations,
    FeatureFlagResult,
    FlagRecord,
    FlagsAndPayloads,
    decode_payload,
)

if TYPE_CHECKING:
    from posthog._testing_async import AsyncRecordingClient, async_posthog_recorder

__all__ = [
    "AsyncRecordingClient",
    "CapturedEvent",
    "FlagCall",
    "MemoryTransport",
    "RecordingClient",
    "recording",
    "use_as_default",
]

_EVERYONE = object()
_MISSING = object()
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CapturedEvent:
    """One message as it would have been sent."""

    event: str
    distinct_id: str | None
    properties: dict[str, Any]
    uuid: str | None
    timestamp: str | None
    message: dict[str, Any] = field(repr=False)  # the whole wire message ($set, ...)


@dataclass(frozen=True, slots=True)
class FlagCall:
    """One flag read answered by the recording client."""

    key: str
    distinct_id: Any
    value: Any


class MemoryTransport:
    """A :class:`~posthog.Transport` that keeps the events of every batch it is sent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []

    def request(self, request: Request) -> Response:
        body = request.body or b""
        if (request.headers.get("Content-Encoding") or "").lower() == "gzip":
            body = gzip.decompress(body)
        if body:
            payload = json.loads(body)
            batch = payload.get("batch", []) if isinstance(payload, dict) else []
            with self._lock:
                self.messages.extend(m for m in batch if isinstance(m, dict))
        return Response(200, {}, b'{"status": 1}')

    def close(self) -> None:
        pass

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


def _event_of(message: dict[str, Any]) -> CapturedEvent:
    return CapturedEvent(
        event=message.get("event", ""),
        distinct_id=message.get("distinct_id"),
        properties=dict(message.get("properties") or {}),
        uuid=message.get("uuid"),
        timestamp=message.get("timestamp"),
        message=message,
    )


def _subset(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> bool:
    return all(k in actual and actual[k] == v for k, v in expected.items())


class RecordingClient(Client):
    """A real client that keeps its events in memory and answers flags from overrides."""

    def __init__(self, project_api_key: str = "phc_test", **options: Any) -> None:
        self.memory = MemoryTransport()
        options.update(
            host=options.get("host") or "https://posthog.test",
            sync_mode=True,
            gzip=False,
            capture_mode="v0",
            transport=self.memory,
        )
        self._overrides: dict[str, dict[Any, tuple[Any, Any]]] = {}
        self._flag_lock = threading.Lock()
        self.flag_calls: list[FlagCall] = []
        super().__init__(project_api_key, **options)

    # -- events ----------------------------------------------------------------------------
    @property
    def events(self) -> list[CapturedEvent]:
        """Every message captured so far, oldest first."""
        with self.memory._lock:
            messages = list(self.memory.messages)
        return [_event_of(m) for m in messages]

    def captured(self, event: str | None = None, distinct_id: Any = None) -> list[CapturedEvent]:
        """The captured events, optionally only those named ``event`` / for ``distinct_id``."""
        return [
            e
            for e in self.events
            if (event is None or e.event == event)
            and (distinct_id is None or e.distinct_id == str(distinct_id))
        ]

    def assert_captured(
        self,
        event: str,
        distinct_id: Any = None,
        properties: Mapping[str, Any] | None = None,
        *,
        count: int | None = None,
    ) -> CapturedEvent:
        """Assert ``event`` was captured (for ``distinct_id``, with at least ``properties``);
        with ``count``, exactly that many times. Returns the last match."""
        matches = [
            e for e in self.captured(event, distinct_id) if _subset(properties or {}, e.properties)
        ]
        if not matches or (count is not None and len(matches) != count):
            seen = "\n".join(
                f"  {e.event!r} distinct_id={e.distinct_id!r} properties={_user_props(e)}"
                for e in self.events
            )
            wanted = f"{event!r}" + (f" for {distinct_id!r}" if distinct_id is not None else "")
            if properties:
                wanted += f" with {dict(properties)!r}"
            times = f" {count} time(s), found {len(matches)}" if count is not None else ""
            raise AssertionError(
                f"expected {wanted} to be captured{times}; captured:\n{seen or '  (nothing)'}"
            )
        return matches[-1]

    def assert_not_captured(self, event: str, distinct_id: Any = None) -> None:
        found = self.captured(event, distinct_id)
        if found:
            raise AssertionError(f"{event!r} was captured {len(found)} time(s): {found[0]}")

    def clear(self) -> None:
        """Forget captured events, flag calls and which exposures were already reported
        (so a flag read after ``clear()`` sends ``$feature_flag_called`` again); overrides
        stay."""
        self.memory.clear()
        with self._flag_lock:
            self.flag_calls.clear()
        self._flag_called.clear()

    # -- flag overrides --------------------------------------------------------------------
    def override_flag(
        self, key: str, value: bool | str, *, distinct_id: Any = None, payload: Any = None
    ) -> None:
        """Force flag ``key`` to ``value`` (``True``/``False`` or a variant name) for
        ``distinct_id``, or for everyone when it is ``None``. A per-person override wins."""
        who = _EVERYONE if distinct_id is None else str(distinct_id)
        with self._flag_lock:
            self._overrides.setdefault(key, {})[who] = (value, payload)

    def override_flags(self, values: Mapping[str, bool | str], *, distinct_id: Any = None) -> None:
        for key, value in values.items():
            self.override_flag(key, value, distinct_id=distinct_id)

    def clear_flag_overrides(self, key: str | None = None) -> None:
        with self._flag_lock:
            if key is None:
                self._overrides.clear()
            else:
                self._overrides.pop(key, None)

    def _override(self, key: str, distinct_id: Any) -> tuple[Any, Any]:
        with self._flag_lock:
            per_key = self._overrides.get(key)
            if not per_key:
                return _MISSING, None
            if str(distinct_id) in per_key:
                return per_key[str(distinct_id)]
            return per_key.get(_EVERYONE, (_MISSING, None))

    def _all(self, distinct_id: Any, keys: Any = None) -> dict[str, tuple[Any, Any]]:
        with self._flag_lock:
            known = list(self._overrides)
        wanted = known if keys is None else [k for k in known if k in set(keys)]
        found = {key: self._override(key, distinct_id) for key in wanted}
        return {key: found[key] for key in wanted if found[key][0] is not _MISSING}

    # -- flag reads: the real client's arguments, answers from the overrides ---------------
    # Options are checked and the distinct id resolved (context included) by the real
    # client's ``_query``; exposures go out through its ``_report`` (deduplicated), so
    # ``$feature_flag_called`` events look exactly as in production.
    def _lookup(
        self, key: str, distinct_id: Any, options: dict[str, Any], send: bool
    ) -> FlagRecord:
        send = options.pop("send_feature_flag_events", send)
        query = self._query(distinct_id, options)
        if query.distinct_id is None:
            record = FlagRecord(key, None, None, False, "No distinct_id given", "error",
                                error="missing_distinct_id")  # fmt: skip
        else:
            record = _record(key, *self._override(key, query.distinct_id))
        with self._flag_lock:
            self.flag_calls.append(FlagCall(key, query.distinct_id, record.value))
        if send and query.distinct_id is not None:
            self._report(record, query.distinct_id, query.groups, options.get("disable_geoip"))
        return record

    def _answer(self, name: str, run: Callable[[], T], default: T) -> T:
        return default if self.disabled else self._guard(name, run, default)

    def get_feature_flag_result(
        self, key: str, distinct_id: Any = None, **options: Any
    ) -> FeatureFlagResult | None:
        """Like the real client: ``None`` only when disabled; a flag without an override
        is a result with ``error="flag_missing"`` and no value."""

        def run() -> FeatureFlagResult:
            return _to_result(self._lookup(key, distinct_id, options, True))

        return self._answer("get_feature_flag_result", run, None)

    def get_feature_flag(self, key: str, distinct_id: Any = None, **options: Any) -> Any:
        def run() -> Any:
            return self._lookup(key, distinct_id, options, True).value

        return self._answer("get_feature_flag", run, None)

    def feature_enabled(self, key: str, distinct_id: Any = None, **options: Any) -> bool | None:
        value = self.get_feature_flag(key, distinct_id, **options)
        return None if value is None else bool(value)

    def get_feature_flag_payload(
        self, key: str, distinct_id: Any = None, *, match_value: Any = None, **options: Any
    ) -> Any:
        def run() -> Any:
            record = self._lookup(key, distinct_id, options, False)
            if not record.value or (match_value is not None and match_value != record.value):
                return None
            return decode_payload(record.payload)

        return self._answer("get_feature_flag_payload", run, None)

    def get_all_flags(self, distinct_id: Any = None, **options: Any) -> dict[str, Any] | None:
        return self.get_all_flags_and_payloads(distinct_id, **options)["featureFlags"]

    def get_all_flags_and_payloads(
        self, distinct_id: Any = None, **options: Any
    ) -> FlagsAndPayloads:
        def run() -> FlagsAndPayloads:
            query = self._query(distinct_id, options, options.pop("flag_keys_to_evaluate", None))
            if query.distinct_id is None:
                return _nothing()
            found = self._all(query.distinct_id, query.keys)
            return {
                "featureFlags": {key: value for key, (value, _p) in found.items()},
                "featureFlagPayloads": {
                    key: json.dumps(p) for key, (_v, p) in found.items() if p is not None
                },
            }

        return self._answer("get_all_flags_and_payloads", run, _nothing())

    def evaluate_flags(
        self, distinct_id: Any = None, *, flag_keys: Sequence[str] | None = None, **options: Any
    ) -> FeatureFlagEvaluations:
        """A snapshot of the overrides; reads are listed in ``flag_calls`` and reported as
        ``$feature_flag_called`` like a real snapshot's."""

        def run() -> FeatureFlagEvaluations:
            query = self._query(distinct_id, options, flag_keys)
            if query.distinct_id is None or (flag_keys is not None and not flag_keys):
                return FeatureFlagEvaluations(query.distinct_id, dict(query.groups))
            found = self._all(query.distinct_id, query.keys)
            records = {key: _record(key, value, payload) for key, (value, payload) in found.items()}
            return FeatureFlagEvaluations(
                query.distinct_id,
                dict(query.groups),
                options.get("disable_geoip"),
                False,
                None,
                MappingProxyType(records),
                self._snapshot_read,
                set(),
            )

        return self._answer("evaluate_flags", run, FeatureFlagEvaluations())

    def _snapshot_read(self, record: FlagRecord, snapshot: FeatureFlagEvaluations) -> None:
        with self._flag_lock:
            self.flag_calls.append(FlagCall(record.key, snapshot.distinct_id, record.value))
        self._report_from_snapshot(record, snapshot)

    def _flags_for_event(
        self, call: Any, scope: ContextScope | None, option: Any
    ) -> dict[str, Any] | None:
        """``capture(send_feature_flags=...)``: the overrides for the event's person, as
        ``$feature/<key>`` and ``$active_feature_flags`` (the real client's properties)."""
        request = event_flag_request(call, scope, option)
        if request is None:
            return None
        ident, opts = request
        found = self._all(ident, opts.get("flag_keys_filter"))
        return event_flag_properties({key: value for key, (value, _p) in found.items()})

    def load_feature_flags(self) -> None:
        """Nothing to load: the overrides are the definitions (and no poller thread)."""


def _user_props(event: CapturedEvent) -> dict[str, Any]:
    return {k: v for k, v in event.properties.items() if not k.startswith("$")}


_OVERRIDE_REASON = "Overridden in a test"


def _record(key: str, value: Any, payload: Any) -> FlagRecord:
    """The record a real evaluation would produce, for an override or a missing flag."""
    if value is _MISSING:
        return FlagRecord(
            key, None, None, False, "Flag not overridden", "flag_missing", error="flag_missing"
        )
    encoded = None if payload is None else json.dumps(payload)
    return FlagRecord(key, value, encoded, True, _OVERRIDE_REASON, "override")


@contextlib.contextmanager
def use_as_default(client: Client) -> Iterator[Client]:
    """Make ``client`` the module-level default (``posthog.capture(...)`` etc.) for a block."""
    module: Any = sys.modules["posthog"]
    saved = getattr(module, "default_client", None)
    module.default_client = client
    try:
        yield client
    finally:
        module.default_client = saved


@contextlib.contextmanager
def recording(project_api_key: str = "phc_test", **options: Any) -> Iterator[RecordingClient]:
    """A :class:`RecordingClient`, installed as the module-level default for the block.

    ``posthog.disabled`` (often set in an application's test settings) is switched off
    for the block and restored after it: nothing leaves the process anyway, and a
    disabled default client would silently record nothing."""
    module: Any = sys.modules["posthog"]
    client = RecordingClient(project_api_key, **options)
    was_disabled = getattr(module, "disabled", False)
    module.disabled = False
    try:
        with use_as_default(client):
            yield client
    finally:
        module.disabled = was_disabled
        client.shutdown()


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixture
    pass
else:
    __all__ += ["async_posthog_recorder", "posthog_recorder"]

    @pytest.fixture
    def posthog_recorder() -> Iterator[RecordingClient]:
        """A :class:`RecordingClient` that is also the module-level default client."""
        with recording() as client:
            yield client


# The async recording client (and its fixture) load only when asked for: a sync test
# suite does not import AsyncPosthog's modules.
__getattr__ = lazy_exports(
    __name__,
    {
        "AsyncRecordingClient": "posthog._testing_async",
        "async_posthog_recorder": "posthog._testing_async",
    },
)
