"""Flags that go with a captured event: ``capture(..., send_feature_flags=...)``.

A ``flags=`` snapshot (from ``evaluate_flags``) is merged as data; with
``send_feature_flags`` the client evaluates for the event's person - locally when
definitions are loaded, else one bounded remote call. Either way the event gets
``$feature/<key>`` and ``$active_feature_flags``. A failure never costs the event: it goes out without flag
properties (``debug=True`` raises). ``AsyncPosthog``'s core and the testing
``RecordingClient`` answer differently (:meth:`EventFlagsMixin._flags_for_event`) and
share :func:`event_flag_request`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from posthog.contexts import ContextScope

if TYPE_CHECKING:
    from posthog._flags.service import FlagQuery, FlagService

__all__ = ["EventFlagsMixin", "event_flag_request"]

log = logging.getLogger("posthog")


class EventFlagsMixin:
    if TYPE_CHECKING:

        def _query(
            self, distinct_id: Any, options: Mapping[str, Any], keys: Sequence[str] | None = None
        ) -> FlagQuery: ...

        @property
        def debug(self) -> bool: ...

        @property
        def _flags(self) -> FlagService: ...

    def _capture_flag_properties(
        self, call: Any, scope: ContextScope | None
    ) -> dict[str, Any] | None:
        """The flag properties of one ``capture`` call (``None``: none go with it)."""
        snapshot = call.flags
        if snapshot is not None:
            props = getattr(snapshot, "_event_properties", None)
            return dict(props()) if callable(props) else None
        option = call.send_feature_flags
        if not option:
            return None
        try:
            return self._flags_for_event(call, scope, option)
        except Exception as exc:
            if self.debug:
                raise
            log.warning("[PostHog] send_feature_flags failed; event sent without flags: %r", exc)
            return None

    def _flags_for_event(
        self, call: Any, scope: ContextScope | None, option: Any
    ) -> dict[str, Any] | None:
        """``capture(send_feature_flags=...)``: ``$feature/*`` and ``$active_feature_flags``.

        Local when definitions are loaded (or ``only_evaluate_locally`` says so), else one
        bounded remote call: the sync client's capture may wait for it (spec 5.7)."""
        request = event_flag_request(call, scope, option)
        if request is None:
            return None
        ident, opts = request
        self._flags.ensure_polling()
        local_only = opts.get("only_evaluate_locally")
        if local_only is None:
            local_only = bool(self._flags.store.current.flagset.flags)
        outcome = self._flags.many(self._event_query(call, ident, opts, bool(local_only)))
        from posthog._flags.events import event_flag_properties

        return event_flag_properties({k: r.value for k, r in outcome.records.items()})

    def _event_query(
        self, call: Any, ident: Any, opts: Mapping[str, Any], local_only: bool
    ) -> FlagQuery:
        """The flag query of one ``capture(send_feature_flags=opts)`` for ``ident``."""
        options = {
            "groups": call.groups,
            "person_properties": opts.get("person_properties"),
            "group_properties": opts.get("group_properties"),
            "only_evaluate_locally": local_only,
            "disable_geoip": call.disable_geoip,
        }
        return self._query(ident, options, opts.get("flag_keys_filter"))


def event_flag_request(
    call: Any, scope: ContextScope | None, option: Any
) -> tuple[Any, Mapping[str, Any]] | None:
    """``(distinct id, options)`` of ``capture(send_feature_flags=option)``, or ``None``
    when no flags go with the event (``should_send`` is False, or nobody to evaluate for)."""
    if isinstance(option, Mapping):
        if option.get("should_send") is False:
            return None
        opts: Mapping[str, Any] = option
    elif option is True:
        opts = {}
    else:
        raise TypeError("send_feature_flags must be a bool or a dict")
    ident = call.distinct_id
    if ident is None and scope is not None:
        ident = scope.resolved_distinct_id()
    if ident is None:
        return None
    return ident, opts
