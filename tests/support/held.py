"""A responder that keeps chosen requests unanswered until the test lets them go.

For tests that must show the SDK gave up on a slow server and went on: instead of a
server that sleeps N seconds and an assertion that the call took less than M (which a
loaded machine can break), the server holds the request and the test asserts the call
came back while the request was *still held*. A slow machine makes such a test slower,
never wrong. The same idea as ``Hold`` in ``tests/async_client/async_support.py``,
shared here for the other test packages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from support.recording_server import Recorded, Reply


class HeldReplies:
    """``answer``, except that requests ``holds`` picks wait for ``release()``.

    A held request is answered anyway after ``patience`` seconds (a generous bound, so
    that a test that fails never hangs); it is then counted in ``ran_out``. Use it as a
    context manager: leaving the block releases whatever is still held.
    """

    def __init__(
        self,
        answer: Callable[[Recorded], Reply],
        holds: Callable[[Recorded], bool] = lambda _rec: True,
        patience: float = 30.0,
    ) -> None:
        self._answer = answer
        self._holds = holds
        self._patience = patience
        self._open = threading.Event()
        self._state = threading.Condition()
        self.arrived = 0  # requests that were held (or are being held)
        self.let_go = 0  # of those, the ones answered since
        self.ran_out = 0  # of those, the ones answered because patience ran out

    def __call__(self, rec: Recorded) -> Reply:
        if not self._holds(rec):
            return self._answer(rec)
        with self._state:
            self.arrived += 1
            self._state.notify_all()
        released = self._open.wait(self._patience)
        with self._state:
            self.let_go += 1
            self.ran_out += 0 if released else 1
        return self._answer(rec)

    @property
    def still_held(self) -> int:
        with self._state:
            return self.arrived - self.let_go

    def wait_arrived(self, count: int, timeout: float = 10.0) -> bool:
        """Until ``count`` held requests reached the server (bounded)."""
        with self._state:
            return self._state.wait_for(lambda: self.arrived >= count, timeout)

    def release(self) -> None:
        self._open.set()

    def __enter__(self) -> HeldReplies:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
