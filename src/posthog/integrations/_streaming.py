"""Streamed responses: the request's context scope carried over to the body.

Frameworks close the request (and our scope with it) when the view returns, and the server
iterates a streamed body later. :class:`StreamScope` re-enters the request's scope around
each step of the body and its closing; Django and Flask wrap their streamed bodies with it.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from posthog.contexts import ContextScope

# The scope variable itself: a streamed body re-enters an existing scope, which the public
# API (new_context) cannot do.
from posthog.contexts import _current as _scope_var
from posthog.integrations._common import handed_to_sentry, settle

__all__ = ["ScopedBody", "StreamScope"]

T = TypeVar("T")


class StreamScope:
    """A request's scope, carried over to the body of its streamed response.

    Frameworks close the request (and our scope with it) when the view returns, and the
    server iterates a streamed body later, resuming its generator in the server's own
    context. So each step of the body, and its closing, runs with the request's scope
    set in the caller's context just for that call, and reset right after: every token
    is reset in the context it was set in, nothing stays behind for the server or for the
    next request on that thread, and two concurrent streams never see each other's scope.
    What the body itself leaves on the scope stack between two steps (a ``new_context``
    spanning a ``yield``) is carried to its next step; other context variables behave as
    they would without us.

    An error raised by the body is captured like a view error (``capture``); with Sentry's
    ``PostHogIntegration`` it is handed to Sentry, and :meth:`finish` captures whatever
    Sentry did not take. ``finish`` runs once: when the body is exhausted, or closed (the
    server closes it when done, the client went away or the body raised).
    """

    def __init__(
        self, scope: ContextScope, capture: Callable[[BaseException], None] | None = None
    ) -> None:
        self._scope: ContextScope | None = scope
        self._capture = capture
        self._handed: list[BaseException] = []
        self._error: BaseException | None = None
        self._finished = False
        self._lock = threading.Lock()
        self._depth = 0  # steps running (nested: a body closing itself)
        self._after_step: list[Callable[[], None]] = []

    def run(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)`` in the request's scope."""
        tokens = self._enter()
        try:
            return func(*args)
        finally:
            self._leave(tokens)

    async def arun(self, func: Callable[[], Awaitable[T]]) -> T:
        """``await func()`` in the request's scope (set and reset in the awaiting task)."""
        tokens = self._enter()
        try:
            return await func()
        finally:
            self._leave(tokens)

    def _enter(self) -> tuple[Any, Any]:
        self._depth += 1
        return _scope_var.set(self._scope), handed_to_sentry.set(self._handed)

    def _leave(self, tokens: tuple[Any, Any]) -> None:
        self._scope = _scope_var.get()  # what the body left: its next step starts there
        handed_to_sentry.reset(tokens[1])
        _scope_var.reset(tokens[0])
        self._depth -= 1
        if self._depth == 0 and self._after_step:
            callbacks, self._after_step = self._after_step, []
            for callback in callbacks:
                callback()

    def after_step(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` now, or once the step of the body running now has ended.

        For a framework closing the request from inside its body (Flask before 3.1 tears
        the request down when a ``stream_with_context`` body ends): the request's own
        tokens must be reset after this step has reset its, or the step would restore the
        request's scope on the server's thread.
        """
        if self._depth:
            self._after_step.append(callback)
        else:
            callback()

    def failed(self, exc: BaseException) -> None:
        """The body raised ``exc``: capture it like a view error (once, in scope)."""
        self._error = exc
        if self._capture is not None and isinstance(exc, Exception):
            self.run(self._capture, exc)

    def finish(self) -> None:
        """The response is done: capture the errors handed to Sentry that it did not take."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
        settle(self._handed, self._error)

    def iterate(self, body: Iterable[T]) -> ScopedBody[T]:
        return ScopedBody(self, body)

    def aiterate(self, body: AsyncIterable[T]) -> AsyncIterator[T]:
        return _scoped_async_body(self, body)


class ScopedBody(Generic[T]):
    """A body iterated (and closed, WSGI-style) in the request's scope.

    After an error the scope is finished only when the server closes the body: Sentry's
    WSGI middleware reports the error between the two, and so links the one ``$exception``.
    """

    def __init__(self, stream: StreamScope, body: Iterable[T]) -> None:
        self._stream = stream
        self._body = body
        self._iterator: Iterator[T] | None = None

    def __iter__(self) -> ScopedBody[T]:
        return self

    def __next__(self) -> T:
        try:
            if self._iterator is None:
                self._iterator = self._stream.run(self._body.__iter__)
            return self._stream.run(self._iterator.__next__)
        except StopIteration:
            self._stream.finish()
            raise
        except BaseException as exc:
            self._stream.failed(exc)
            raise

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if callable(close):
                self._stream.run(close)
        finally:
            self._stream.finish()


async def _scoped_async_body(stream: StreamScope, body: AsyncIterable[T]) -> AsyncIterator[T]:
    """An async body iterated in the request's scope. An async generator, so that when the
    server drops it unfinished (a client gone), the event loop's finaliser still closes the
    body in the scope. After an error the scope finishes at once: an ASGI server does not
    close the body after it raised, and an outer Sentry middleware is accounted for."""
    iterator: AsyncIterator[T] | None = None
    try:
        while True:
            try:
                if iterator is None:
                    iterator = stream.run(body.__aiter__)
                item = await stream.arun(iterator.__anext__)
            except StopAsyncIteration:
                return
            except BaseException as exc:
                stream.failed(exc)
                raise
            yield item
    finally:
        aclose = getattr(iterator, "aclose", None)
        try:
            if callable(aclose):
                await stream.arun(aclose)
        finally:
            stream.finish()
