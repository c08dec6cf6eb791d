"""Feature-flag methods of the client (a mixin, so ``client.py`` stays about capture).

This first version carries only the hooks the capture path needs; the flag API itself
(local evaluation, remote ``/flags``, ``$feature_flag_called``) lands here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from posthog.contexts import ContextScope

__all__ = ["FlagsMixin"]


class FlagsMixin:
    def _init_flags(
        self,
        *,
        secret_key: str | None,
        personal_api_key: str | None,
        poll_interval: float,
        enable_local_evaluation: bool,
        flag_definitions: str | Mapping[str, Any] | None,
    ) -> None:
        self.secret_key = (secret_key or personal_api_key or "").strip() or None
        self.personal_api_key = self.secret_key
        self._poll_interval = poll_interval

    def _capture_flag_properties(
        self, call: Any, scope: ContextScope | None
    ) -> dict[str, Any] | None:
        snapshot = call.flags
        if snapshot is not None:
            props = getattr(snapshot, "_event_properties", None)
            return dict(props()) if callable(props) else None
        return None

    def _shutdown_flags(self) -> None:
        pass

    def _flags_after_fork(self) -> None:
        pass
