"""Uncaught-exception autocapture: ``sys.excepthook`` and ``threading.excepthook``.

``install(client)`` (called by a client built with ``enable_exception_autocapture=True``)
puts one pair of process-wide hooks in place, the first time, remembering the hooks that
were there before. Every installed client captures each uncaught exception once; then
the previous hook always runs, so the traceback is still printed and other tools'
hooks still see the exception. Nothing raised inside our part of a hook escapes it.

``uninstall(client)`` (called on shutdown) removes the client; when no client is left
and our hooks are still the current ones, the previous hooks are put back.

* main thread: level ``fatal``, source ``python.sys_excepthook``;
* other threads: level ``error``, source ``python.threading_excepthook``;
* both: mechanism ``{"type": "onuncaughtexception", "handled": false}``.
"""

from __future__ import annotations

import sys
import threading
import weakref
from types import TracebackType
from typing import Any

__all__ = ["install", "installed_clients", "uninstall"]

_IGNORED = (KeyboardInterrupt, SystemExit, GeneratorExit)

_lock = threading.Lock()
_clients: weakref.WeakSet[Any] = weakref.WeakSet()
_previous_sys: Any = None
_previous_threading: Any = None
_active = threading.local()  # re-entry guard, per thread


def installed_clients() -> list[Any]:
    return list(_clients)


def _capture_all(exc: BaseException | None, *, level: str, source: str) -> None:
    if exc is None or isinstance(exc, _IGNORED):
        return
    for client in list(_clients):
        try:
            client._autocapture_exception(exc, level=level, source=source)
        except BaseException:  # never let the SDK replace the user's crash
            pass
        if level == "fatal":
            # The interpreter is about to exit: deliver now rather than rely on atexit.
            try:
                client.flush(getattr(client, "shutdown_timeout", 5.0))
            except BaseException:
                pass


def _sys_hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if getattr(_active, "sys", False):  # a hook installed after ours calls back into us
        sys.__excepthook__(exc_type, exc, tb)
        return
    _active.sys = True
    try:
        _capture_all(exc, level="fatal", source="python.sys_excepthook")
    finally:
        try:
            previous = _previous_sys or sys.__excepthook__
            previous(exc_type, exc, tb)
        finally:
            _active.sys = False


def _threading_hook(args: Any) -> None:
    if getattr(_active, "threading", False):
        threading.__excepthook__(args)
        return
    _active.threading = True
    try:
        _capture_all(args.exc_value, level="error", source="python.threading_excepthook")
    finally:
        try:
            previous = _previous_threading or threading.__excepthook__
            previous(args)
        finally:
            _active.threading = False


def install(client: Any) -> None:
    """Capture uncaught exceptions with ``client`` (idempotent)."""
    global _previous_sys, _previous_threading
    with _lock:
        _clients.add(client)
        if sys.excepthook is not _sys_hook:
            _previous_sys = sys.excepthook
            sys.excepthook = _sys_hook
        if threading.excepthook is not _threading_hook:
            _previous_threading = threading.excepthook
            threading.excepthook = _threading_hook


def uninstall(client: Any) -> None:
    """Stop capturing with ``client``; restore the previous hooks when none is left."""
    global _previous_sys, _previous_threading
    with _lock:
        _clients.discard(client)
        if len(_clients):
            return
        if sys.excepthook is _sys_hook:
            sys.excepthook = _previous_sys or sys.__excepthook__
            _previous_sys = None
        if threading.excepthook is _threading_hook:
            threading.excepthook = _previous_threading or threading.__excepthook__
            _previous_threading = None
