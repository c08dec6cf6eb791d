"""The module-level default client, built lazily from ``posthog.<setting>`` attributes.

Settings are read on every module-level call, so ``posthog.disabled = True`` or
``posthog.debug = True`` take effect at once, and changing ``posthog.api_key`` or
``posthog.host`` after first use builds a new default client (the old one is flushed
and shut down in the background; interpreter exit still waits for it within the exit
budget, or counts what it could not deliver). All state lives in the one :data:`state`
object.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

__all__ = ["existing_client", "get_client", "state"]

#: Settings that shape the client when it is built (a change rebuilds it).
BUILD_SETTINGS = (
    "project_api_key",
    "api_key",
    "host",
    "on_error",
    "send",
    "sync_mode",
    "secret_key",
    "personal_api_key",
    "disable_geoip",
    "is_server",
    "feature_flags_request_timeout_seconds",
    "feature_flags_request_max_retries",
    "super_properties",
    "enable_exception_autocapture",
    "log_captured_exceptions",
    "project_root",
    "enable_local_evaluation",
    "capture_mode",
    "in_app_modules",
    "proxy",
    "ca_bundle",
    "flag_definitions",
)


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.client: Any = None
        self.fingerprint: tuple[Any, ...] | None = None
        self.user_client = False

    def after_fork_in_child(self) -> None:
        self.lock = threading.Lock()  # another thread may have held it at fork time


state = _State()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=state.after_fork_in_child)


def _module() -> Any:
    return sys.modules["posthog"]


def _fingerprint(mod: Any) -> tuple[Any, ...]:
    return tuple(
        id(v) if isinstance(v, (dict, list)) else v
        for v in (getattr(mod, n, None) for n in BUILD_SETTINGS)
    )


def existing_client() -> Any:
    mod = _module()
    return getattr(mod, "default_client", None) or state.client


def get_client() -> Any:
    """The default client, (re)built if the build settings changed; runtime switches applied."""
    mod = _module()
    user = getattr(mod, "default_client", None)
    if user is not None and user is not state.client:
        client = user  # the application set posthog.default_client itself
    else:
        fingerprint = _fingerprint(mod)
        with state.lock:
            if state.client is None or fingerprint != state.fingerprint:
                old = state.client
                state.client = _build(mod)
                state.fingerprint = fingerprint
                mod.default_client = state.client
                if old is not None:
                    threading.Thread(target=old.shutdown, daemon=True).start()
            client = state.client
    key = (getattr(mod, "project_api_key", None) or getattr(mod, "api_key", None) or "").strip()
    missing_key = not key and client is state.client
    client.disabled = bool(getattr(mod, "disabled", False)) or missing_key
    if bool(getattr(mod, "debug", False)) != client.debug:
        client.debug = bool(getattr(mod, "debug", False))
    before_send = getattr(mod, "before_send", None)
    if before_send is not client.before_send and client is state.client:
        client.before_send = before_send if callable(before_send) else None
    if client is state.client:
        client.privacy_mode = bool(getattr(mod, "privacy_mode", False))
    poll = getattr(mod, "poll_interval", None)
    if poll is not None and poll != getattr(client, "poll_interval", poll):
        client.poll_interval = poll
    return client


def _build(mod: Any) -> Any:
    from posthog.client import Client

    key = (getattr(mod, "project_api_key", None) or getattr(mod, "api_key", None) or "").strip()
    options = {
        name: getattr(mod, name) for name in BUILD_SETTINGS if getattr(mod, name, None) is not None
    }
    options.pop("project_api_key", None)
    options.pop("api_key", None)
    return Client(
        key,
        debug=bool(getattr(mod, "debug", False)),
        poll_interval=getattr(mod, "poll_interval", 30) or 30,
        **options,
    )


def reset() -> None:
    """Forget the default client (used by ``posthog.shutdown()`` and tests)."""
    with state.lock:
        state.client = None
        state.fingerprint = None
