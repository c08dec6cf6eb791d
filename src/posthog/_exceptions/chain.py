"""``$exception_list``: an exception, its causes, contexts and group members (spec 7.1).

The list starts with the exception that was captured (``exception_id`` 0) and walks
``__cause__`` (source ``"cause"``), ``__context__`` unless suppressed (source
``"context"``) and the members of exception groups (source ``"exceptions[i]"``), each
entry naming its ``parent_id``. At most :data:`MAX_EXCEPTIONS` entries; cycles are cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from posthog._exceptions.frames import FrameLine, InAppRule, frames_for, traceback_frames
from posthog._exceptions.variables import VariableOptions, frame_variables

__all__ = ["MAX_EXCEPTIONS", "ExceptionOptions", "build_exception_list"]

MAX_EXCEPTIONS = 50


@dataclass(frozen=True, slots=True)
class ExceptionOptions:
    project_root: str | None = None
    in_app_modules: Sequence[str] | None = None
    variables: VariableOptions | None = None  # None: no ``code_variables``
    in_app: InAppRule = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_app", InAppRule(self.project_root, self.in_app_modules))


def _value(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        try:
            return repr(exc)
        except Exception:
            return f"<unprintable {type(exc).__name__}>"


def _module(exc: BaseException) -> str | None:
    module = getattr(type(exc), "__module__", None)
    if not isinstance(module, str) or module == "builtins":
        return None
    return module


def _is_group(exc: BaseException) -> bool:
    members = getattr(exc, "exceptions", None)
    return isinstance(members, (list, tuple)) and hasattr(exc, "split") and hasattr(exc, "derive")


def _children(exc: BaseException) -> list[tuple[str, BaseException]]:
    out: list[tuple[str, BaseException]] = []
    if exc.__cause__ is not None:
        out.append(("cause", exc.__cause__))
    elif exc.__context__ is not None and not exc.__suppress_context__:
        out.append(("context", exc.__context__))
    if _is_group(exc):
        members: Sequence[Any] = getattr(exc, "exceptions", ())
        for i, member in enumerate(members):
            if isinstance(member, BaseException):
                out.append((f"exceptions[{i}]", member))
    return out


def _walk(root: BaseException) -> list[tuple[BaseException, int | None, str | None]]:
    """Pre-order walk: (exception, parent index, source), the root first."""
    seen: set[int] = set()
    out: list[tuple[BaseException, int | None, str | None]] = []
    stack: list[tuple[BaseException, int | None, str | None]] = [(root, None, None)]
    while stack and len(out) < MAX_EXCEPTIONS:
        exc, parent, source = stack.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        index = len(out)
        out.append((exc, parent, source))
        stack.extend((child, index, src) for src, child in reversed(_children(exc)))
    return out


def build_exception_list(
    exc: BaseException,
    options: ExceptionOptions,
    *,
    mechanism_type: str = "generic",
    handled: bool = True,
    synthetic_stack: list[FrameLine] | None = None,
) -> list[dict[str, Any]]:
    """The ``$exception_list`` for ``exc``.

    ``synthetic_stack`` stands in for the root's traceback when it was never raised; the
    root's mechanism is then ``synthetic: true``.
    """
    variables = None
    if options.variables is not None:
        var_options = options.variables

        def variables_of(frame: FrameType) -> dict[str, Any]:
            return frame_variables(frame, var_options)

        variables = variables_of
    entries = []
    for index, (item, parent, source) in enumerate(_walk(exc)):
        synthetic = index == 0 and synthetic_stack is not None
        lines = synthetic_stack if synthetic and synthetic_stack is not None else None
        if lines is None:
            lines = traceback_frames(item.__traceback__)
        mechanism: dict[str, Any] = {
            "type": mechanism_type if parent is None else "chained",
            "handled": handled,
            "synthetic": synthetic,
            "exception_id": index,
        }
        if parent is not None:
            mechanism["parent_id"] = parent
            mechanism["source"] = source
        if _is_group(item):
            mechanism["is_exception_group"] = True
        errno = getattr(item, "errno", None) if isinstance(item, OSError) else None
        if isinstance(errno, int):
            mechanism["meta"] = {"errno": {"number": errno}}
        entries.append(
            {
                "type": type(item).__name__,
                "value": _value(item),
                "module": _module(item),
                "mechanism": mechanism,
                "stacktrace": {
                    "type": "raw",
                    "frames": list(frames_for(lines, options.in_app, variables)),
                },
            }
        )
    return entries
