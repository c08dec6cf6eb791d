"""PostHog product analytics and feature flags for Python (the ``hogwire`` SDK).

Use a client, or the module-level API backed by a lazily built default client::

    import posthog
    posthog.project_api_key = "phc_..."
    posthog.host = "https://eu.i.posthog.com"
    posthog.capture("distinct id", "movie played", {"movie_id": "123"})

Module settings are read on every call; see :mod:`posthog._default`.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from posthog import _default
from posthog._delivery.stats import DropReason
from posthog._lazy import lazy_exports
from posthog._transport.http import HTTPTransport
from posthog.client import Client, Posthog
from posthog.config import CaptureCompression, CaptureMode
from posthog.contexts import (
    get_tags,
    identify_context,
    new_context,
    scoped,
    set_context_device_id,
    set_context_session,
    tag,
)
from posthog.exceptions import (
    APIError,
    CaptureV1Error,
    ClientClosedError,
    EventTooLargeError,
    InvalidArgumentError,
    PostHogError,
    QueueFullError,
    QuotaLimitError,
    RequestTimeoutError,
    TransportError,
)
from posthog.version import VERSION

if TYPE_CHECKING:
    from posthog._delivery.snapshot import DeliveryStats
    from posthog._transport.base import MockTransport, Request, Response, Transport
    from posthog.async_client import AsyncClient, AsyncPosthog
    from posthog.types import (
        ID_TYPES,
        BeforeSendCallback,
        FeatureFlagError,
        FeatureFlagEvaluations,
        FeatureFlagResult,
        FlagsAndPayloads,
        FlagValue,
        OptionalCaptureArgs,
        OptionalSetArgs,
    )

# Loaded on first use, so that ``import posthog`` loads what capturing needs and no more:
# the flag result types, the transport's request/response types (needed from the first
# send on) and the asyncio client (which would import httpx).
__getattr__ = lazy_exports(
    __name__,
    {
        "AsyncClient": "posthog.async_client",
        "AsyncPosthog": "posthog.async_client",
        "DeliveryStats": "posthog._delivery.snapshot",
        "MockTransport": "posthog._transport.base",
        "Request": "posthog._transport.base",
        "Response": "posthog._transport.base",
        "Transport": "posthog._transport.base",
        "ID_TYPES": "posthog.types",
        "BeforeSendCallback": "posthog.types",
        "FeatureFlagError": "posthog.types",
        "FeatureFlagEvaluations": "posthog.types",
        "FeatureFlagResult": "posthog.types",
        "FlagsAndPayloads": "posthog.types",
        "FlagValue": "posthog.types",
        "OptionalCaptureArgs": "posthog.types",
        "OptionalSetArgs": "posthog.types",
    },
)

__version__ = VERSION

# -- module settings (documented); read by the default client on every call ---------------
api_key: str | None = None
project_api_key: str | None = None
host: str | None = None
on_error: Any = None
debug: bool = False
send: bool = True
sync_mode: bool = False
disabled: bool = False
secret_key: str | None = None
personal_api_key: str | None = None
poll_interval: int = 30
disable_geoip: bool = True
is_server: bool = True
feature_flags_request_timeout_seconds: int = 3
feature_flags_request_max_retries: int = 1
super_properties: dict[str, Any] | None = None
enable_exception_autocapture: bool = False
log_captured_exceptions: bool = False
project_root: str | None = None
privacy_mode: bool = False
before_send: Any = None
enable_local_evaluation: bool = True
capture_mode: str | None = None
in_app_modules: list[str] | None = None
proxy: str | None = None
ca_bundle: str | None = None
flag_definitions: Any = None
default_client: Client | None = None


def setup() -> Client:
    """Build (or refresh) the default client from the module settings and return it."""
    client: Client = _default.get_client()
    return client


def _proxy(method: str, *args: Any, **kwargs: Any) -> Any:
    return getattr(_default.get_client(), method)(*args, **kwargs)


# -- capture ---------------------------------------------------------------------------
def capture(*args: Any, **kwargs: Any) -> str | None:
    """Capture an event, in either documented style (see :meth:`Client.capture`)."""
    result: str | None = _proxy("capture", *args, **kwargs)
    return result


def capture_ai(event: str, **kwargs: Any) -> str | None:
    result: str | None = _proxy("capture_ai", event, **kwargs)
    return result


def identify(*args: Any, **kwargs: Any) -> str | None:
    result: str | None = _proxy("identify", *args, **kwargs)
    return result


def set(*args: Any, **kwargs: Any) -> str | None:
    result: str | None = _proxy("set", *args, **kwargs)
    return result


def set_once(*args: Any, **kwargs: Any) -> str | None:
    result: str | None = _proxy("set_once", *args, **kwargs)
    return result


def alias(*args: Any, **kwargs: Any) -> str | None:
    result: str | None = _proxy("alias", *args, **kwargs)
    return result


def group_identify(*args: Any, **kwargs: Any) -> str | None:
    result: str | None = _proxy("group_identify", *args, **kwargs)
    return result


def page(*args: Any, **kwargs: Any) -> str | None:
    result: str | None = _proxy("page", *args, **kwargs)
    return result


def capture_exception(*args: Any, **kwargs: Any) -> str | None:
    result: str | None = _proxy("capture_exception", *args, **kwargs)
    return result


# -- feature flags ---------------------------------------------------------------------
# Module functions accept the options positionally too (as the reference's module API does);
# the ``Client`` methods take them as keywords.
def feature_enabled(
    key: str,
    distinct_id: Any = None,
    groups: dict[str, Any] | None = None,
    person_properties: dict[str, Any] | None = None,
    group_properties: dict[str, dict[str, Any]] | None = None,
    only_evaluate_locally: bool = False,
    send_feature_flag_events: bool = True,
    disable_geoip: bool | None = None,
    device_id: Any = None,
) -> bool | None:
    """True/False whether the flag is on for ``distinct_id``; ``None`` if it cannot be computed."""
    result: bool | None = _proxy("feature_enabled", key, distinct_id, **_flag_options(locals()))
    return result


def get_feature_flag(
    key: str,
    distinct_id: Any = None,
    groups: dict[str, Any] | None = None,
    person_properties: dict[str, Any] | None = None,
    group_properties: dict[str, dict[str, Any]] | None = None,
    only_evaluate_locally: bool = False,
    send_feature_flag_events: bool = True,
    disable_geoip: bool | None = None,
    device_id: Any = None,
) -> FlagValue | None:
    """The flag's variant, True or False; ``None`` if it cannot be computed."""
    result: FlagValue | None = _proxy(
        "get_feature_flag", key, distinct_id, **_flag_options(locals())
    )
    return result


def get_feature_flag_result(
    key: str,
    distinct_id: Any = None,
    groups: dict[str, Any] | None = None,
    person_properties: dict[str, Any] | None = None,
    group_properties: dict[str, dict[str, Any]] | None = None,
    only_evaluate_locally: bool = False,
    send_feature_flag_events: bool = True,
    disable_geoip: bool | None = None,
    device_id: Any = None,
) -> FeatureFlagResult | None:
    """Value, payload and the structured reason of one evaluation."""
    result: FeatureFlagResult | None = _proxy(
        "get_feature_flag_result", key, distinct_id, **_flag_options(locals())
    )
    return result


def get_feature_flag_payload(
    key: str,
    distinct_id: Any = None,
    match_value: Any = None,
    groups: dict[str, Any] | None = None,
    person_properties: dict[str, Any] | None = None,
    group_properties: dict[str, dict[str, Any]] | None = None,
    only_evaluate_locally: bool = False,
    send_feature_flag_events: bool = False,
    disable_geoip: bool | None = None,
    device_id: Any = None,
) -> Any:
    """The decoded payload of the flag's value for ``distinct_id`` (or of ``match_value``)."""
    options = _flag_options(locals())
    return _proxy("get_feature_flag_payload", key, distinct_id, **options)


def get_all_flags(
    distinct_id: Any = None,
    groups: dict[str, Any] | None = None,
    person_properties: dict[str, Any] | None = None,
    group_properties: dict[str, dict[str, Any]] | None = None,
    only_evaluate_locally: bool = False,
    disable_geoip: bool | None = None,
    device_id: Any = None,
    flag_keys_to_evaluate: list[str] | None = None,
) -> dict[str, FlagValue] | None:
    """Every flag's value for ``distinct_id``."""
    result: dict[str, FlagValue] | None = _proxy(
        "get_all_flags", distinct_id, **_flag_options(locals())
    )
    return result


def get_all_flags_and_payloads(
    distinct_id: Any = None,
    groups: dict[str, Any] | None = None,
    person_properties: dict[str, Any] | None = None,
    group_properties: dict[str, dict[str, Any]] | None = None,
    only_evaluate_locally: bool = False,
    disable_geoip: bool | None = None,
    device_id: Any = None,
    flag_keys_to_evaluate: list[str] | None = None,
) -> FlagsAndPayloads:
    """``{"featureFlags": {...}, "featureFlagPayloads": {...}}`` for ``distinct_id``."""
    result: FlagsAndPayloads = _proxy(
        "get_all_flags_and_payloads", distinct_id, **_flag_options(locals())
    )
    return result


def evaluate_flags(
    distinct_id: Any = None,
    groups: dict[str, Any] | None = None,
    person_properties: dict[str, Any] | None = None,
    group_properties: dict[str, dict[str, Any]] | None = None,
    only_evaluate_locally: bool = False,
    disable_geoip: bool | None = None,
    flag_keys: list[str] | None = None,
    device_id: Any = None,
) -> FeatureFlagEvaluations:
    """A snapshot of flags for one subject; pass it to ``capture(..., flags=snapshot)``."""
    result: FeatureFlagEvaluations = _proxy(
        "evaluate_flags", distinct_id, **_flag_options(locals())
    )
    return result


def get_remote_config_payload(key: str) -> Any:
    return _proxy("get_remote_config_payload", key)


def feature_flag_definitions() -> Any:
    return _proxy("feature_flag_definitions")


def load_feature_flags() -> None:
    _proxy("load_feature_flags")


def _flag_options(values: dict[str, Any]) -> dict[str, Any]:
    """The keyword options of a module flag call (its locals minus key and distinct id)."""
    return {k: v for k, v in values.items() if k not in ("key", "distinct_id")}


# -- lifecycle -------------------------------------------------------------------------
def flush(timeout_seconds: float | None = 10) -> bool:
    client = _default.existing_client()
    return bool(client.flush(timeout_seconds)) if client is not None else True


def join() -> None:
    client = _default.existing_client()
    if client is not None:
        client.join()


def shutdown() -> None:
    """Flush and shut the default client down; a later call builds a new one."""
    global default_client
    client = _default.existing_client()
    if client is not None:
        client.shutdown()
    default_client = None
    _default.reset()


def stats() -> DeliveryStats | None:
    client = _default.existing_client()
    return client.stats() if client is not None else None


__all__ = [
    "ID_TYPES",
    "VERSION",
    "APIError",
    "AsyncClient",
    "AsyncPosthog",
    "BeforeSendCallback",
    "CaptureCompression",
    "CaptureMode",
    "CaptureV1Error",
    "Client",
    "ClientClosedError",
    "DeliveryStats",
    "DropReason",
    "EventTooLargeError",
    "FeatureFlagError",
    "FeatureFlagEvaluations",
    "FeatureFlagResult",
    "FlagValue",
    "FlagsAndPayloads",
    "HTTPTransport",
    "InvalidArgumentError",
    "MockTransport",
    "OptionalCaptureArgs",
    "OptionalSetArgs",
    "PostHogError",
    "Posthog",
    "QueueFullError",
    "QuotaLimitError",
    "Request",
    "RequestTimeoutError",
    "Response",
    "Transport",
    "TransportError",
    "__version__",
    "alias",
    "capture",
    "capture_ai",
    "capture_exception",
    "evaluate_flags",
    "feature_enabled",
    "feature_flag_definitions",
    "flush",
    "get_all_flags",
    "get_all_flags_and_payloads",
    "get_feature_flag",
    "get_feature_flag_payload",
    "get_feature_flag_result",
    "get_remote_config_payload",
    "get_tags",
    "group_identify",
    "identify",
    "identify_context",
    "join",
    "load_feature_flags",
    "new_context",
    "page",
    "scoped",
    "set",
    "set_context_device_id",
    "set_context_session",
    "set_once",
    "setup",
    "shutdown",
    "stats",
    "tag",
]

del builtins
