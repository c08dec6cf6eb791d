"""Request-scoped context: who the current person is, their session, and tags.

Built on :mod:`contextvars`, so a scope follows asyncio tasks and threads started with a
copied context, and two concurrent requests never see each other's values. A scope holds
a distinct id, session id, device id, tags and an exception-capture switch; a child scope
sees its parent's values unless opened with ``fresh=True``, and its own values shadow them.

Capture uses the innermost values as defaults: ``capture("clicked")`` inside
``identify_context("u1")`` is attributed to ``u1`` and carries the scope's tags and
``$session_id``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = [
    "ContextScope",
    "current_scope",
    "get_context_device_id",
    "get_context_distinct_id",
    "get_context_session_id",
    "get_context_window_id",
    "get_tags",
    "identify_context",
    "new_context",
    "scoped",
    "set_context_device_id",
    "set_context_session",
    "set_context_window_id",
    "tag",
]

F = TypeVar("F", bound=Callable[..., Any])


class ContextScope:
    """One level of context. Values resolve through ``parent`` unless this scope is fresh."""

    __slots__ = (
        "capture_exceptions",
        "client",
        "device_id",
        "distinct_id",
        "fresh",
        "parent",
        "session_id",
        "tags",
        "window_id",
    )

    def __init__(
        self,
        parent: ContextScope | None = None,
        fresh: bool = False,
        capture_exceptions: bool | None = None,
        client: Any = None,
        distinct_id: str | None = None,
        session_id: str | None = None,
        device_id: str | None = None,
        window_id: str | None = None,
        tags: dict[str, Any] | None = None,
    ) -> None:
        self.parent = parent
        self.fresh = fresh
        self.capture_exceptions = capture_exceptions
        self.client = client
        self.distinct_id = distinct_id
        self.session_id = session_id
        self.device_id = device_id
        self.window_id = window_id
        self.tags: dict[str, Any] = {} if tags is None else tags

    def _lookup(self, name: str) -> Any:
        scope: ContextScope | None = self
        while scope is not None:
            value = getattr(scope, name)
            if value is not None:
                return value
            if scope.fresh:
                return None
            scope = scope.parent
        return None

    def resolved_distinct_id(self) -> str | None:
        return self._lookup("distinct_id")  # type: ignore[no-any-return]

    def resolved_session_id(self) -> str | None:
        return self._lookup("session_id")  # type: ignore[no-any-return]

    def resolved_device_id(self) -> str | None:
        return self._lookup("device_id")  # type: ignore[no-any-return]

    def resolved_window_id(self) -> str | None:
        return self._lookup("window_id")  # type: ignore[no-any-return]

    def resolved_capture_exceptions(self) -> bool | None:
        return self._lookup("capture_exceptions")  # type: ignore[no-any-return]

    def resolved_client(self) -> Any:
        return self._lookup("client")

    def resolved_tags(self) -> dict[str, Any]:
        chain: list[ContextScope] = []
        scope: ContextScope | None = self
        while scope is not None:
            chain.append(scope)
            if scope.fresh:
                break
            scope = scope.parent
        merged: dict[str, Any] = {}
        for level in reversed(chain):
            merged.update(level.tags)
        return merged


_current: contextvars.ContextVar[ContextScope | None] = contextvars.ContextVar(
    "posthog_context", default=None
)


def current_scope() -> ContextScope | None:
    """The innermost scope, or ``None`` outside any context."""
    return _current.get()


@contextlib.contextmanager
def new_context(
    fresh: bool = False, capture_exceptions: bool | None = None, client: Any = None
) -> Iterator[ContextScope]:
    """Open a scope for the block. Exceptions leaving it are captured when enabled.

    ``capture_exceptions=None`` defers to the client's ``enable_exception_autocapture``.
    The exception is always re-raised; capture never replaces it.
    """
    scope = ContextScope(
        parent=_current.get(), fresh=fresh, capture_exceptions=capture_exceptions, client=client
    )
    token = _current.set(scope)
    try:
        yield scope
    except BaseException as exc:
        _capture_leaving_exception(scope, exc)
        raise
    finally:
        _current.reset(token)


def _capture_leaving_exception(scope: ContextScope, exc: BaseException) -> None:
    if not isinstance(exc, Exception):
        return
    target = scope.resolved_client()
    enabled = scope.resolved_capture_exceptions()
    if target is None:
        from posthog import _default, _lifecycle  # local: the module API imports this module

        # The module client, else the documented ``posthog = Posthog(...)`` instance when
        # it is the only one: a context asked to capture must not drop errors silently.
        target = _default.existing_client() or _lifecycle.sole_client()
    if target is None:
        if enabled:
            _warn_no_client()
        return
    if enabled is None:
        enabled = bool(getattr(target, "enable_exception_autocapture", False))
    if not enabled:
        return
    capture = getattr(target, "capture_exception", None)
    if callable(capture):
        try:
            capture(exc)
        except Exception:  # never replace the user's exception with ours
            pass


_warned_no_client: list[bool] = []


def _warn_no_client() -> None:
    if not _warned_no_client:
        _warned_no_client.append(True)
        logging.getLogger("posthog").warning(
            "[PostHog] a context with capture_exceptions=True saw an exception but has no "
            "client: pass client= to new_context(), or configure posthog.api_key"
        )


def scoped(fresh: bool = False, capture_exceptions: bool | None = None) -> Callable[[F], F]:
    """Decorator: run each call of the function (sync or async) in a new context."""

    def decorate(func: F) -> F:
        import inspect  # at decoration, not at ``import posthog``: inspect is slow to import

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with new_context(fresh=fresh, capture_exceptions=capture_exceptions):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with new_context(fresh=fresh, capture_exceptions=capture_exceptions):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _scope_for_write() -> ContextScope | None:
    return _current.get()


def identify_context(distinct_id: str) -> None:
    """Attribute events in the current scope to ``distinct_id`` (no-op outside a scope)."""
    scope = _scope_for_write()
    if scope is not None:
        scope.distinct_id = str(distinct_id) if distinct_id is not None else None


def set_context_session(session_id: str) -> None:
    """Set ``$session_id`` for events in the current scope."""
    scope = _scope_for_write()
    if scope is not None:
        scope.session_id = str(session_id) if session_id is not None else None


def set_context_device_id(device_id: str) -> None:
    """Set the device id used for flag bucketing in the current scope."""
    scope = _scope_for_write()
    if scope is not None:
        scope.device_id = str(device_id) if device_id is not None else None


def set_context_window_id(window_id: str) -> None:
    """Set ``$window_id`` (the browser tab of a session replay) for the current scope."""
    scope = _scope_for_write()
    if scope is not None:
        scope.window_id = str(window_id) if window_id is not None else None


def tag(name: str, value: Any) -> None:
    """Add a property to every event captured in the current scope."""
    scope = _scope_for_write()
    if scope is not None:
        scope.tags[name] = value


def get_tags() -> dict[str, Any]:
    """The tags visible in the current scope, inner values winning."""
    scope = _current.get()
    return scope.resolved_tags() if scope is not None else {}


def get_context_distinct_id() -> str | None:
    scope = _current.get()
    return scope.resolved_distinct_id() if scope is not None else None


def get_context_session_id() -> str | None:
    scope = _current.get()
    return scope.resolved_session_id() if scope is not None else None


def get_context_device_id() -> str | None:
    scope = _current.get()
    return scope.resolved_device_id() if scope is not None else None


def get_context_window_id() -> str | None:
    scope = _current.get()
    return scope.resolved_window_id() if scope is not None else None
