"""Process-level lifecycle: bounded flush at interpreter exit, and fork handling.

Clients register here weakly. At exit every live client gets a share of one time budget
to deliver what it queued. In a forked child each client forgets the parent's queue and
thread (the parent delivers those events) and starts a fresh thread on first use; under
``multiprocessing`` (which leaves a child with ``os._exit``, skipping atexit) a finalizer
flushes the child's own events.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from typing import Any, Protocol

__all__ = ["register"]


class _Managed(Protocol):
    def _at_exit(self, budget: float) -> None: ...
    def _after_fork_in_child(self) -> None: ...


_clients: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()
_installed = False


def register(client: _Managed) -> None:
    global _installed
    with _lock:
        _clients.add(client)
        if not _installed:
            atexit.register(_flush_all)
            if hasattr(os, "register_at_fork"):
                os.register_at_fork(after_in_child=_after_fork)
            _installed = True


def sole_client() -> Any:
    """The process's only open client, or None when there are none or several."""
    with _lock:
        open_clients = [c for c in _clients if not getattr(c, "_closed", False)]
    return open_clients[0] if len(open_clients) == 1 else None


def _flush_all() -> None:
    clients = list(_clients)
    if not clients:
        return
    budget = max(getattr(c, "shutdown_timeout", 5.0) for c in clients)
    deadline = time.monotonic() + budget
    for client in clients:
        remaining = deadline - time.monotonic()
        try:
            client._at_exit(max(0.0, remaining))
        except Exception:  # nothing may break interpreter exit
            pass


def _after_fork() -> None:
    global _lock
    _lock = threading.Lock()
    for client in list(_clients):
        try:
            client._after_fork_in_child()
        except Exception:
            pass
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        # multiprocessing children end with os._exit(), skipping atexit, but run its
        # finalizers. Its child bootstrap clears the finalizer registry after this hook,
        # then runs its own after-fork callbacks: register the finalizer from there.
        mp_util.register_after_fork(_MP_SENTINEL, _register_mp_finalizer)


class _Sentinel:
    pass


_MP_SENTINEL = _Sentinel()


def _register_mp_finalizer(_obj: object) -> None:
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.Finalize(None, _flush_all, exitpriority=100)
