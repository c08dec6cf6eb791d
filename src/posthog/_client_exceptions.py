"""``capture_exception``: the client's exception methods (a mixin, so ``client.py`` stays
about capture). The ``$exception_list`` itself is built by the pure code in
:mod:`posthog._exceptions`; this module picks the exception, marks it captured (so a
context, a framework hook and ``sys.excepthook`` never send it twice) and hands an
ordinary ``$exception`` event to :meth:`Client.capture`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the builders load on the first captured exception, not at import
    from posthog._exceptions.chain import ExceptionOptions
    from posthog._exceptions.ratelimit import TokenBuckets
    from posthog._exceptions.variables import VariableOptions
    from posthog.config import ClientConfig

__all__ = ["CAPTURED_MARK", "ExceptionsMixin", "already_captured", "mark_captured"]

log = logging.getLogger("posthog")

#: Attribute set on an exception instance once sent: the ids of the clients that sent it
#: (two clients for two projects each capture it once).
CAPTURED_MARK = "__posthog_exception_captured"


def already_captured(exc: BaseException, client: object) -> bool:
    marks = getattr(exc, CAPTURED_MARK, None)
    return isinstance(marks, frozenset) and id(client) in marks


def mark_captured(exc: BaseException, client: object) -> None:
    marks = getattr(exc, CAPTURED_MARK, None)
    marks = marks if isinstance(marks, frozenset) else frozenset()
    try:
        setattr(exc, CAPTURED_MARK, marks | {id(client)})
    except Exception:  # an exception type that refuses attributes: capture it again
        pass


def _resolve(exception: Any) -> BaseException | None:
    if exception is None:
        exception = sys.exc_info()[1]
    elif isinstance(exception, tuple) and len(exception) == 3:
        exception = exception[1]  # an exc_info tuple
    return exception if isinstance(exception, BaseException) else None


def _trace_ids() -> dict[str, str]:
    """OpenTelemetry ids of the active span, only if the application already uses OTel."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return {}
    try:
        ctx = trace.get_current_span().get_span_context()
        if not ctx.is_valid:
            return {}
        return {"$trace_id": f"{ctx.trace_id:032x}", "$span_id": f"{ctx.span_id:016x}"}
    except Exception:
        return {}


class ExceptionsMixin:
    if TYPE_CHECKING:
        config: ClientConfig
        disabled: bool
        project_root: str | None
        in_app_modules: list[str] | None
        log_captured_exceptions: bool
        _debug: bool

        def capture(self, *args: Any, **kwargs: Any) -> str | None: ...

    _variable_options: VariableOptions | None = None
    _exception_buckets: TokenBuckets | None = None

    def capture_exception(
        self,
        exception: BaseException | tuple[Any, Any, Any] | None = None,
        distinct_id: Any = None,
        properties: Mapping[str, Any] | None = None,
        **capture_kwargs: Any,
    ) -> str | None:
        """Capture ``exception`` (default: the one being handled) as an ``$exception`` event.

        Returns the event's uuid, or ``None`` when nothing was sent: no exception, the
        client is disabled, or this exception instance was already captured.
        ``capture_kwargs`` are passed to :meth:`capture` (``timestamp``, ``uuid``,
        ``groups``, ``flags``, ``disable_geoip``).
        """
        return self._capture_exception_event(exception, distinct_id, properties, capture_kwargs)

    def _autocapture_exception(self, exc: BaseException, *, level: str, source: str) -> None:
        """Called by the uncaught-exception hooks: rate limited, ``handled: false``."""
        if self.disabled or already_captured(exc, self):
            return
        buckets = self._autocapture_buckets()
        if buckets is not None and not buckets.allow(type(exc).__name__):
            log.debug("[PostHog] rate limit: not capturing %s", type(exc).__name__)
            return
        self._capture_exception_event(
            exc,
            None,
            None,
            {},
            level=level,
            source=source,
            mechanism_type="onuncaughtexception",
            handled=False,
        )

    def _capture_exception_event(
        self,
        exception: Any,
        distinct_id: Any,
        properties: Mapping[str, Any] | None,
        capture_kwargs: dict[str, Any],
        *,
        level: str = "error",
        source: str | None = None,
        mechanism_type: str = "generic",
        handled: bool = True,
    ) -> str | None:
        try:
            if self.disabled:
                return None
            exc = _resolve(exception)
            if exc is None:
                log.warning("[PostHog] capture_exception: no exception given or being handled")
                return None
            if already_captured(exc, self):
                return None
            mark_captured(exc, self)
            from posthog._exceptions.chain import build_exception_list
            from posthog._exceptions.frames import stack_frames

            synthetic = stack_frames() if exc.__traceback__ is None else None
            props: dict[str, Any] = _trace_ids()
            props["$exception_list"] = build_exception_list(
                exc,
                self._exception_options(),
                mechanism_type=mechanism_type,
                handled=handled,
                synthetic_stack=synthetic,
            )
            props["$exception_level"] = level
            if source is not None:
                props["$exception_source"] = source
            if properties:
                props.update(properties)
            if self.log_captured_exceptions:
                log.error(
                    "[PostHog] captured exception", exc_info=(type(exc), exc, exc.__traceback__)
                )
            return self.capture(
                "$exception", distinct_id=distinct_id, properties=props, **capture_kwargs
            )
        except Exception as error:
            if self._debug:
                raise
            log.warning("[PostHog] capture_exception failed: %r", error)
            return None

    def _exception_options(self) -> ExceptionOptions:
        from posthog._exceptions.chain import ExceptionOptions
        from posthog._exceptions.variables import VariableOptions

        extra = self.config.extra
        variables = None
        if extra.get("capture_exception_code_variables"):
            if self._variable_options is None:
                self._variable_options = VariableOptions(
                    mask_patterns=extra.get("code_variables_mask_patterns"),
                    ignore_patterns=extra.get("code_variables_ignore_patterns"),
                    mask_url_credentials=extra.get("code_variables_mask_url_credentials", True)
                    is not False,
                    detect_secrets=extra.get("code_variables_detect_secrets", True) is not False,
                )
            variables = self._variable_options
        return ExceptionOptions(self.project_root, self.in_app_modules, variables)

    def _autocapture_buckets(self) -> TokenBuckets | None:
        from posthog._exceptions.ratelimit import TokenBuckets

        extra = self.config.extra
        if not extra.get("enable_exception_autocapture_rate_limiting"):
            return None
        if self._exception_buckets is None:
            self._exception_buckets = TokenBuckets(
                size=float(extra.get("exception_autocapture_bucket_size", 50)),
                refill_rate=float(extra.get("exception_autocapture_refill_rate", 10)),
                refill_interval=float(
                    extra.get("exception_autocapture_refill_interval_seconds", 10)
                ),
            )
        return self._exception_buckets
