"""Client options as one frozen value, validated once at construction."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from posthog.exceptions import InvalidArgumentError

__all__ = ["DEFAULT_HOST", "CaptureCompression", "CaptureMode", "ClientConfig", "normalize_host"]

log = logging.getLogger("posthog")

DEFAULT_HOST = "https://us.i.posthog.com"
_REWRITES = {
    "https://app.posthog.com": DEFAULT_HOST,
    "https://us.posthog.com": DEFAULT_HOST,
    "https://eu.posthog.com": "https://eu.i.posthog.com",
}


class CaptureMode:
    V0 = "v0"
    V1 = "v1"
    _ALIASES = {"v0": "v0", "legacy": "v0", "v1": "v1", "analytics_v1": "v1"}

    @classmethod
    def parse(cls, value: Any) -> str:
        if value is None:
            env = os.environ.get("POSTHOG_CAPTURE_MODE")
            if env is None:
                return cls.V0
            mode = cls._ALIASES.get(env.strip().lower())
            if mode is None:
                log.warning("[PostHog] ignoring invalid POSTHOG_CAPTURE_MODE=%r", env)
                return cls.V0
            return mode
        mode = cls._ALIASES.get(str(getattr(value, "value", value)).strip().lower())
        if mode is None:
            raise InvalidArgumentError(f"capture_mode must be 'v0' or 'v1', not {value!r}")
        return mode


class CaptureCompression:
    NONE = "none"
    GZIP = "gzip"
    DEFLATE = "deflate"
    ZSTD = "zstd"
    _ALIASES = {
        "none": "none",
        "identity": "none",
        "gzip": "gzip",
        "deflate": "deflate",
        "zstd": "zstd",
    }

    @classmethod
    def parse(cls, value: Any, gzip: bool) -> str:
        raw = value if value is not None else os.environ.get("POSTHOG_CAPTURE_COMPRESSION")
        if raw is None:
            return cls.GZIP if gzip else cls.NONE
        mode = cls._ALIASES.get(str(getattr(raw, "value", raw)).strip().lower())
        if mode is None:
            if value is not None:
                raise InvalidArgumentError(f"unknown capture_compression {value!r}")
            log.warning("[PostHog] ignoring invalid POSTHOG_CAPTURE_COMPRESSION=%r", raw)
            return cls.GZIP if gzip else cls.NONE
        return mode


def normalize_host(host: str | None) -> str:
    """Blank -> US Cloud; the app hosts are rewritten to their ingestion hosts."""
    if host is None or not str(host).strip():
        return DEFAULT_HOST
    value = str(host).strip()
    trimmed = value[:-1] if value.endswith("/") else value
    return _REWRITES.get(trimmed, trimmed)


class ClientConfig:
    """The options that shape delivery, validated once. Treated as frozen: nothing changes
    it after construction (a plain class, not a dataclass: ``import posthog`` then needs
    neither :mod:`dataclasses` nor the :mod:`inspect` it imports, some 5 ms)."""

    __slots__ = (
        "api_key",
        "ca_bundle",
        "capture_compression",
        "capture_mode",
        "extra",
        "feature_flags_request_max_retries",
        "feature_flags_request_timeout_seconds",
        "flush_at",
        "flush_interval",
        "gzip",
        "historical_migration",
        "host",
        "max_queue_size",
        "max_retries",
        "poll_interval",
        "proxy",
        "send",
        "shutdown_timeout",
        "sync_mode",
        "thread",
        "timeout",
    )

    def __init__(
        self,
        api_key: str,
        host: str = DEFAULT_HOST,
        max_queue_size: int = 10_000,
        send: bool = True,
        flush_at: int = 100,
        flush_interval: float = 5.0,
        gzip: bool = False,
        max_retries: int = 3,
        sync_mode: bool = False,
        timeout: float = 15.0,
        thread: int = 1,
        historical_migration: bool = False,
        capture_mode: str = CaptureMode.V0,
        capture_compression: str = CaptureCompression.NONE,
        shutdown_timeout: float = 5.0,
        feature_flags_request_timeout_seconds: float = 3.0,
        feature_flags_request_max_retries: int = 1,
        poll_interval: float = 30.0,
        proxy: str | None = None,
        ca_bundle: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        checks: list[tuple[bool, str]] = [
            (max_queue_size > 0, "max_queue_size must be positive"),
            (flush_at > 0, "flush_at must be positive"),
            (flush_interval >= 0, "flush_interval must not be negative"),
            (timeout > 0, "timeout must be positive"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidArgumentError(message)
        self.api_key = api_key
        self.host = host
        self.max_queue_size = max_queue_size
        self.send = send
        self.flush_at = flush_at
        self.flush_interval = flush_interval
        self.gzip = gzip
        self.max_retries = max_retries
        self.sync_mode = sync_mode
        self.timeout = timeout
        self.thread = thread
        self.historical_migration = historical_migration
        self.capture_mode = capture_mode
        self.capture_compression = capture_compression
        self.shutdown_timeout = shutdown_timeout
        self.feature_flags_request_timeout_seconds = feature_flags_request_timeout_seconds
        self.feature_flags_request_max_retries = feature_flags_request_max_retries
        self.poll_interval = poll_interval
        self.proxy = proxy
        self.ca_bundle = ca_bundle
        self.extra: Mapping[str, Any] = {} if extra is None else extra


Callback = Callable[..., Any]


# Constructor options of the reference SDK (spec 2.1) that have no named parameter here:
# accepted (some are read from ``ClientConfig.extra``), never an error.
REFERENCE_OPTIONS = frozenset(
    {
        "flag_fallback_cache_url",
        "flag_definition_cache_provider",
        "capture_exception_code_variables",
        "code_variables_mask_patterns",
        "code_variables_ignore_patterns",
        "code_variables_mask_url_credentials",
        "code_variables_detect_secrets",
        "enable_exception_autocapture_rate_limiting",
        "exception_autocapture_bucket_size",
        "exception_autocapture_refill_rate",
        "exception_autocapture_refill_interval_seconds",
        "metrics",
        "enable_full_ai_capture",
        "capture_trace_context",
        "_use_ai_lane",
        "_enable_multimodal_capture",
        "traces",
        "app_host",
        "email_request_timeout_seconds",
        "email_request_max_retries",
        "migrated_from",
    }
)


def unknown_options(options: Mapping[str, Any]) -> list[str]:
    """Keyword options neither we nor the reference SDK know: most likely misspelt."""
    return sorted(name for name in options if name not in REFERENCE_OPTIONS)
