"""Run the server's (Rust ``regex`` crate) patterns with Python's ``re`` — or refuse to.

The server matches with Rust semantics. Most patterns mean the same in both engines
once ``$`` is pinned to the very end (Rust's ``$`` never matches before a trailing
newline). Where the engines differ — lookarounds, backreferences, ``\\b``, possessive
or atomic forms, nested quantified groups (backtracking blow-up), class set operations,
Unicode classes, scoped/mid-pattern flags, escapes only one side knows — we *defer*:
the caller reports the filter as inconclusive and the server decides. We never guess.

``translate`` returns a ``Translation``: the Python pattern, whether the pattern's
meaning is only safe on plain-ASCII subjects (``\\w``, ``\\s``, ``\\d``, ``(?i)``),
and ``deferred`` with a reason when no safe translation exists. (How our dev server
matches a deferred pattern is ``posthog._flags.regex_python``.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Translation", "plain_ascii", "translate"]

_SAFE_PUNCT_ESCAPES = frozenset(".^$*+?()[]{}|\\/-#&~ !\"%',:;=@_`")
_CLASS_ESCAPES = frozenset("dDwWsS")
_CONTROL_ESCAPES = frozenset("tnrfva")
_COUNTED_RE = re.compile(r"\{(\d+)(,(\d*))?\}")
_LEADING_FLAGS_RE = re.compile(r"\(\?([ims]+)\)")
_MAX_REPEAT = 1000
_NOT_PLAIN_RE = re.compile(r"[^\t\n\v\f\r\x20-\x7e]")


@dataclass(frozen=True, slots=True)
class Translation:
    pattern: str
    ascii_only: bool
    deferred: str | None


def plain_ascii(text: str) -> bool:
    """Subjects where Python's and Rust's ``\\w``/``\\s``/``\\d``/case folding agree."""
    return _NOT_PLAIN_RE.search(text) is None


class _Deferred(Exception):
    """Internal: the pattern needs the server."""


class _Scanner:
    """One left-to-right pass that rewrites or rejects each construct."""

    def __init__(self, pattern: str) -> None:
        self.src = pattern
        self.pos = 0
        self.out: list[str] = []
        self.ascii_only = False
        self.multiline = False
        # One entry per open group: "contains a quantifier".
        self.groups: list[bool] = [False]

    def run(self) -> str:
        self._leading_flags()
        while self.pos < len(self.src):
            self._atom()
        return "".join(self.out)

    def _leading_flags(self) -> None:
        match = _LEADING_FLAGS_RE.match(self.src)
        if match is None:
            return
        flags = match.group(1)
        self.multiline = "m" in flags
        if "i" in flags:
            self.ascii_only = True
            if not self.src.isascii():
                raise _Deferred("case-insensitive non-ASCII pattern")
        self.out.append(match.group(0))
        self.pos = match.end()

    def _atom(self) -> None:
        ch = self.src[self.pos]
        if ch == "\\":
            self._escape(in_class=False)
        elif ch == "[":
            self._char_class()
        elif ch == "(":
            self._open_group()
        elif ch == ")":
            self._close_group()
        elif ch in "*+?{":
            self._quantifier()
        elif ch == "$":
            self.out.append("$" if self.multiline else r"\Z")
            self.pos += 1
        else:
            self.out.append(ch)
            self.pos += 1

    def _escape(self, *, in_class: bool) -> None:
        if self.pos + 1 >= len(self.src):
            self.out.append("\\")  # dangling backslash: invalid in both engines
            self.pos += 1
            return
        nxt = self.src[self.pos + 1]
        self.pos += 2
        if nxt in _SAFE_PUNCT_ESCAPES or nxt in _CONTROL_ESCAPES:
            self.out.append("\\" + nxt)
        elif nxt in _CLASS_ESCAPES:
            self.ascii_only = True
            self.out.append("\\" + nxt)
        elif nxt == "A" and not in_class:
            self.out.append(r"\A")
        elif nxt == "z" and not in_class:
            self.out.append(r"\Z")
        elif nxt == "x" and re.match(r"[0-9a-fA-F]{2}", self.src[self.pos : self.pos + 2]):
            self.out.append("\\x" + self.src[self.pos : self.pos + 2])
            self.pos += 2
        else:
            raise _Deferred(f"escape \\{nxt}")

    def _char_class(self) -> None:
        self.out.append("[")
        self.pos += 1
        if self.src.startswith("^", self.pos):
            self.out.append("^")
            self.pos += 1
        leading_bracket = self.src.startswith("]", self.pos)
        if leading_bracket:
            self.out.append(r"\]")
            self.pos += 1
        while self.pos < len(self.src):
            ch = self.src[self.pos]
            if ch == "]":
                self.out.append("]")
                self.pos += 1
                return
            if ch == "[":
                raise _Deferred("nested class or POSIX class")
            if ch in "&-~|" and self.src.startswith(ch * 2, self.pos):
                raise _Deferred("class set operation")
            if ch == "\\":
                self._escape(in_class=True)
                continue
            self.out.append(ch)
            self.pos += 1
        if leading_bracket:
            # ``[]`` / ``[^]``: an empty class to some engines, unterminated to others.
            raise _Deferred("empty or unterminated class")
        # Unterminated class: leave it invalid so compilation fails (-> False).

    def _open_group(self) -> None:
        rest = self.src[self.pos + 1 :]
        if rest.startswith("?"):
            if rest.startswith("?:"):
                self.out.append("(?:")
                self.pos += 3
            elif rest.startswith("?P<"):
                self.out.append("(?P<")
                self.pos += 4
            elif rest.startswith("?<") and rest[2:3] not in ("=", "!"):
                self.out.append("(?P<")
                self.pos += 3
            else:
                raise _Deferred("group extension")
        else:
            self.out.append("(")
            self.pos += 1
        self.groups.append(False)

    def _close_group(self) -> None:
        self.out.append(")")
        self.pos += 1
        if len(self.groups) == 1:
            return  # unbalanced: compilation will fail
        inner = self.groups.pop()
        quantified = self.pos < len(self.src) and self.src[self.pos] in "*+?{"
        if inner and quantified:
            raise _Deferred("nested quantified group")
        self.groups[-1] = self.groups[-1] or inner

    def _quantifier(self) -> None:
        ch = self.src[self.pos]
        if ch == "{":
            match = _COUNTED_RE.match(self.src, self.pos)
            if match is None:
                raise _Deferred("literal brace")
            low, high = int(match.group(1)), match.group(3)
            if low > _MAX_REPEAT or (high and int(high) > _MAX_REPEAT):
                raise _Deferred("large repetition")
            self.out.append(match.group(0))
            self.pos = match.end()
        else:
            self.out.append(ch)
            self.pos += 1
        self.groups[-1] = True
        if self.src.startswith("?", self.pos):
            self.out.append("?")
            self.pos += 1
        if self.src.startswith("+", self.pos):
            raise _Deferred("possessive quantifier")


def translate(pattern: str) -> Translation:
    """Translate a Rust-syntax pattern for ``re``, or say why it must be deferred."""
    scanner = _Scanner(pattern)
    try:
        return Translation(scanner.run(), scanner.ascii_only, None)
    except _Deferred as why:
        return Translation(pattern, scanner.ascii_only, str(why))
