"""Person and group calls of the client: ``identify``, ``set``, ``set_once``, ``alias``,
``group_identify`` and the classic ``page``. A mixin, so ``client.py`` stays about
admission and delivery; every call builds a draft with the pure builders in
``posthog._events.message`` and hands it to ``Client._admit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from posthog._events import message as build
from posthog.contexts import current_scope
from posthog.exceptions import InvalidArgumentError

if TYPE_CHECKING:
    from posthog._events.enrich import EventDefaults

__all__ = ["PeopleMixin"]


class PeopleMixin:
    _defaults: EventDefaults
    disabled: bool

    if TYPE_CHECKING:

        def capture(self, *args: Any, **kwargs: Any) -> str | None: ...
        def _admit(self, draft: build.Draft, *, ai: bool) -> str | None: ...
        def _failed(self, method: str, exc: Exception) -> str | None: ...
        def _geoip(self, value: Any) -> bool: ...

    def page(
        self, distinct_id: Any = None, url: str | None = None, properties: Any = None, **kwargs: Any
    ) -> str | None:
        """``$pageview`` with ``$current_url`` (the classic ``page`` call)."""
        props = dict(properties or {})
        if url is not None:
            props["$current_url"] = url
        return self.capture("$pageview", distinct_id=distinct_id, properties=props, **kwargs)

    def identify(
        self,
        distinct_id: Any = None,
        properties: Any = None,
        context: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        disable_geoip: bool | None = None,
    ) -> str | None:
        """``$identify`` with ``$set`` (documented): attach properties to a person."""
        return self._identity_call(
            "identify",
            lambda: build.identify_draft(
                self._defaults,
                distinct_id=distinct_id,
                properties=properties,
                timestamp=timestamp,
                uuid=uuid,
                geoip_disable=self._geoip(disable_geoip),
                scope=current_scope(),
            ),
        )

    def set(self, *args: Any, **kwargs: Any) -> str | None:
        """``$set`` person properties: ``set(distinct_id=..., properties={...})``."""
        return self._set_call("$set", args, kwargs)

    def set_once(self, *args: Any, **kwargs: Any) -> str | None:
        """``$set_once``: set person properties only where not already set."""
        return self._set_call("$set_once", args, kwargs)

    def alias(
        self,
        previous_id: Any,
        distinct_id: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        disable_geoip: bool | None = None,
        context: Any = None,
    ) -> str | None:
        return self._identity_call(
            "alias",
            lambda: build.alias_draft(
                self._defaults,
                previous_id=previous_id,
                distinct_id=distinct_id,
                timestamp=timestamp,
                uuid=uuid,
                geoip_disable=self._geoip(disable_geoip),
                scope=current_scope(),
            ),
        )

    def group_identify(
        self,
        group_type: Any,
        group_key: Any,
        properties: Any = None,
        timestamp: Any = None,
        uuid: Any = None,
        disable_geoip: bool | None = None,
        distinct_id: Any = None,
        context: Any = None,
    ) -> str | None:
        return self._identity_call(
            "group_identify",
            lambda: build.group_identify_draft(
                self._defaults,
                group_type=group_type,
                group_key=group_key,
                properties=properties,
                timestamp=timestamp,
                uuid=uuid,
                geoip_disable=self._geoip(disable_geoip),
                distinct_id=distinct_id,
                scope=current_scope(),
            ),
        )

    def _set_call(self, kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        names = ("distinct_id", "properties", "context", "timestamp", "uuid", "disable_geoip")
        if self.disabled:
            return None
        try:
            if len(args) > len(names):
                raise InvalidArgumentError(f"{kind[1:]}() got too many positional arguments")
            values = dict(zip(names, args, strict=False))
            for name, value in kwargs.items():
                if name not in names:
                    raise InvalidArgumentError(f"{kind[1:]}() got unexpected keyword {name!r}")
                if values.get(name) is not None and value is not None:
                    raise InvalidArgumentError(f"{kind[1:]}() got {name} twice")
                values[name] = value
            draft = build.set_draft(
                self._defaults,
                kind=kind,
                distinct_id=values.get("distinct_id"),
                properties=values.get("properties"),
                timestamp=values.get("timestamp"),
                uuid=values.get("uuid"),
                geoip_disable=self._geoip(values.get("disable_geoip")),
                scope=current_scope(),
            )
            if draft is None:
                return None
            return self._admit(draft, ai=False)
        except Exception as exc:
            return self._failed(kind[1:], exc)

    def _identity_call(self, name: str, make: Callable[[], build.Draft]) -> str | None:
        if self.disabled:
            return None
        try:
            return self._admit(make(), ai=False)
        except Exception as exc:
            return self._failed(name, exc)
