"""Stack frames as PostHog's ``raw`` stacktrace frames (spec 7.1).

A frame is ``{platform, filename, abs_path, function, module, lineno, pre_context,
context_line, post_context, in_app}`` (plus ``code_variables`` when enabled). Frames are
listed oldest call first, the frame that raised last, the order a traceback prints in.
"""

from __future__ import annotations

import linecache
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from types import FrameType, TracebackType
from typing import Any

__all__ = ["InAppRule", "frame_dict", "frames_for", "stack_frames", "traceback_frames"]

CONTEXT_LINES = 5
MAX_FRAMES = 200  # keep the outermost and innermost frames of deep recursions
_LIBRARY_DIRS = ("site-packages", "dist-packages")
_SDK_PREFIX = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

FrameLine = tuple[FrameType, int]


class InAppRule:
    """Decides ``in_app``: forced module prefixes, then libraries out, then the project in."""

    __slots__ = ("modules", "root")

    def __init__(self, project_root: str | None, in_app_modules: Sequence[str] | None) -> None:
        root = project_root if project_root else os.getcwd()
        self.root = os.path.abspath(root).rstrip(os.sep) + os.sep
        self.modules = tuple(m for m in (in_app_modules or ()) if m)

    def __call__(self, module: str | None, abs_path: str | None) -> bool:
        if module and any(module == m or module.startswith(m + ".") for m in self.modules):
            return True
        if not abs_path:
            return False
        parts = abs_path.split(os.sep)
        if any(d in parts for d in _LIBRARY_DIRS):
            return False
        return abs_path.startswith(self.root)


def traceback_frames(tb: TracebackType | None) -> list[FrameLine]:
    """The frames of a traceback, oldest first."""
    out: list[FrameLine] = []
    while tb is not None:
        out.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return out


def stack_frames(start: FrameType | None = None) -> list[FrameLine]:
    """The caller's stack, oldest first, without this SDK's own frames.

    Used for an exception that was never raised (it has no traceback): the place where it
    was handed to ``capture_exception`` is the best location we know.
    """
    frame: FrameType | None = start if start is not None else sys._getframe(1)
    out: list[FrameLine] = []
    while frame is not None:
        if not frame.f_code.co_filename.startswith(_SDK_PREFIX):
            out.append((frame, frame.f_lineno))
        frame = frame.f_back
    out.reverse()
    return out


def _trim(frames: list[FrameLine]) -> list[FrameLine]:
    if len(frames) <= MAX_FRAMES:
        return frames
    half = MAX_FRAMES // 2
    return frames[:half] + frames[-half:]


def _abs_path(filename: str) -> str:
    if not filename or (filename.startswith("<") and filename.endswith(">")):
        return filename
    try:
        return os.path.abspath(filename)
    except Exception:
        return filename


def _short_filename(module: str | None, abs_path: str) -> str:
    """The path as a module's package would name it: ``pkg/sub/mod.py``, ``app.py``."""
    if not abs_path or abs_path.startswith("<"):
        return abs_path
    parts = abs_path.split(os.sep)
    keep = 1
    if module and module != "__main__":
        keep = module.count(".") + 1
        if parts[-1] == "__init__.py":
            keep += 1
    return "/".join(parts[-keep:])


def _context(abs_path: str, lineno: int, module_globals: Any) -> dict[str, Any]:
    if not abs_path or lineno <= 0:
        return {}
    try:
        lines = linecache.getlines(abs_path, module_globals)
    except Exception:
        return {}
    if not lines or lineno > len(lines):
        return {}
    index = lineno - 1

    def clean(line: str) -> str:
        return line.rstrip("\r\n")

    return {
        "pre_context": [clean(x) for x in lines[max(0, index - CONTEXT_LINES) : index]],
        "context_line": clean(lines[index]),
        "post_context": [clean(x) for x in lines[index + 1 : index + 1 + CONTEXT_LINES]],
    }


def frame_dict(
    frame: FrameType,
    lineno: int,
    in_app: InAppRule,
    variables: Callable[[FrameType], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One frame as a wire dict."""
    code = frame.f_code
    f_globals = frame.f_globals
    module = f_globals.get("__name__")
    module = module if isinstance(module, str) else None
    abs_path = _abs_path(code.co_filename)
    out: dict[str, Any] = {
        "platform": "python",
        "filename": _short_filename(module, abs_path),
        "abs_path": abs_path,
        "function": code.co_name,
        "module": module,
        "lineno": lineno,
    }
    out.update(_context(code.co_filename, lineno, f_globals))
    out["in_app"] = in_app(module, abs_path)
    if variables is not None and out["in_app"]:
        found = variables(frame)
        if found:
            out["code_variables"] = found
    return out


def frames_for(
    lines: list[FrameLine],
    in_app: InAppRule,
    variables: Callable[[FrameType], dict[str, Any]] | None = None,
) -> Iterator[dict[str, Any]]:
    for frame, lineno in _trim(lines):
        yield frame_dict(frame, lineno, in_app, variables)
