"""Run the server's (Rust ``regex`` crate) patterns with Python's ``re`` — or refuse to.

The server matches with Rust semantics. Most patterns mean the same in both engines
once ``$`` is pinned to the very end (Rust's ``$`` never matches before a trailing
newline). Where the engines differ — lookarounds, backreferences, ``\\b``, possessive
or atomic forms, nested quantified groups (backtracking blow-up), class set operations,
Unicode classes, scoped/mid-pattern flags, escapes only one side knows — we *defer*:
the caller reports the filter as inconclusive and the server decides. We never guess.

``translate`` returns a ``Translation``: the Python pattern, whether the pattern's
meaning is only safe on plain-ASCII subjects (``\\w``, ``\\s``, ``\\d``, ``(?i)``),
and ``deferred`` with a reason when no safe translation exists. ``server_pattern``
spells a deferred pattern for our dev server so that Python 3.10 reads it as 3.11+ does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Translation", "plain_ascii", "server_pattern", "translate"]

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


# --- the dev server's reading: Python 3.11+ ``re`` on every supported Python -----------
#
# Our dev server matches a deferred pattern with Python's ``re`` as written. Python 3.10
# has no possessive quantifiers or atomic groups (3.11 added them) and applies a
# mid-pattern ``(?i)`` to the whole pattern with a DeprecationWarning (3.11 rejects it).
# ``server_pattern`` reads the pattern itself, so every Python gives 3.11's answer:
# ``(?>X)`` and ``X*+`` become ``(?=(X))\N`` -- a lookahead never backtracks into X and
# the backreference consumes exactly what it matched -- with numbered references moved
# past the inserted groups; misplaced global flags make the pattern invalid.

_PY_GLOBAL_FLAGS_RE = re.compile(r"\(\?[aiLmsux]+\)")
_PY_SCOPED_FLAGS_RE = re.compile(r"\(\?([aiLmsux]*)(?:-([aiLmsux]*))?:")
_PY_REPEAT_RE = re.compile(r"[*+?]|\{(?:\d+(?:,\d*)?|,\d*)\}")
_PY_CONDITION_RE = re.compile(r"\(\?\((\d+)\)")
_PY_LOOKAROUNDS = ("(?=", "(?!", "(?<=", "(?<!")
_PY_HEX_LENGTH = {"x": 2, "u": 4, "U": 8}
_MAX_REFERENCE = 99  # ``\NN``: Python has no escape for group 100 and up


class _Invalid(Exception):
    """Internal: Python 3.11+ rejects the pattern."""


class _Group:
    """A parenthesised piece (or the whole pattern): a head and its branches."""

    def __init__(self, head: str, *, capturing: bool = False, atomic: bool = False) -> None:
        self.head = head
        self.capturing = capturing
        self.atomic = atomic
        self.branches: list[list[_Item]] = [[]]
        self.number = 0  # the group's (or inserted group's) number after rewriting


class _Item:
    """One atom -- text, a numbered backreference or a group -- and its repeat."""

    def __init__(self, atom: str | int | _Group, repeat: str, possessive: bool) -> None:
        self.atom = atom
        self.repeat = repeat
        self.possessive = possessive
        self.number = 0  # the inserted group's number when possessive


def _octal(text: str) -> bool:
    return text != "" and text in "01234567"


def _digit(text: str) -> bool:
    return text != "" and text in "0123456789"


class _PyReader:
    """Parse Python ``re`` syntax just far enough to see groups, repeats and references."""

    def __init__(self, pattern: str) -> None:
        self.src = pattern
        self.pos = 0
        self.verbose = [False]
        self.rewrite = False  # a possessive or atomic form was seen

    def read(self) -> _Group:
        top = _Group("")
        self._branches(top, depth=0)
        return top

    def _branches(self, group: _Group, depth: int) -> None:
        while self.pos < len(self.src):
            ch = self.src[self.pos]
            if ch == ")":
                if depth:
                    return
                raise _Invalid("unbalanced parenthesis")
            if ch == "|":
                self.pos += 1
                group.branches.append([])
            elif self._skip_ignored():
                continue
            elif _PY_REPEAT_RE.match(self.src, self.pos):
                raise _Invalid("nothing to repeat, or multiple repeat")
            elif (flags := _PY_GLOBAL_FLAGS_RE.match(self.src, self.pos)) is not None:
                if depth or len(group.branches) > 1 or group.branches[-1]:
                    raise _Invalid("global flags not at the start")
                self.verbose[0] = self.verbose[0] or "x" in flags.group(0)
                group.head += flags.group(0)
                self.pos = flags.end()
            else:
                atom = self._atom(depth)
                repeat, possessive = self._repeat()
                group.branches[-1].append(_Item(atom, repeat, possessive))
        if depth:
            raise _Invalid("missing )")

    def _past(self, char: str) -> int:
        """The position just after the next ``char``; without one, Python rejects it."""
        end = self.src.find(char, self.pos)
        if end < 0:
            raise _Invalid(f"missing {char}")
        return end + 1

    def _skip_ignored(self) -> bool:
        """Step over ``(?#...)``, and whitespace and ``#`` comments in verbose mode."""
        src, pos = self.src, self.pos
        if src.startswith("(?#", pos):
            self.pos = self._past(")")
        elif self.verbose[-1] and src[pos] in " \t\n\r\v\f":
            self.pos += 1
        elif self.verbose[-1] and src[pos] == "#":
            end = src.find("\n", pos)
            self.pos = len(src) if end < 0 else end + 1
        else:
            return False
        return True

    def _repeat(self) -> tuple[str, bool]:
        while self.pos < len(self.src) and self._skip_ignored():
            pass
        match = _PY_REPEAT_RE.match(self.src, self.pos)
        if match is None:
            return "", False
        self.pos = match.end()
        suffix = self.src[self.pos : self.pos + 1]
        if suffix == "+":
            self.pos += 1
            self.rewrite = True
            return match.group(0), True
        if suffix == "?":
            self.pos += 1
            return match.group(0) + "?", False
        return match.group(0), False

    def _atom(self, depth: int) -> str | int | _Group:
        ch = self.src[self.pos]
        if ch == "\\":
            return self._escape()
        if ch == "[":
            return self._char_class()
        if ch == "(":
            return self._group(depth)
        self.pos += 1
        return ch

    def _escape(self) -> str | int:
        """An escape's text, or the number of a backreference (Python's octal rules)."""
        src, start = self.src, self.pos
        nxt = src[start + 1 : start + 2]
        end = start + 2
        if nxt == "0":
            while end < start + 4 and _octal(src[end : end + 1]):
                end += 1
        elif _digit(nxt):
            if _digit(src[end : end + 1]):
                if _octal(nxt) and _octal(src[end]) and _octal(src[end + 1 : end + 2]):
                    self.pos = end + 2
                    return src[start : self.pos]
                end += 1
            self.pos = end
            return int(src[start + 1 : end])
        elif nxt in _PY_HEX_LENGTH:
            end += _PY_HEX_LENGTH[nxt]
        elif nxt == "N" and src.startswith("{", end):
            end = src.find("}", end) + 1 or len(src)
        self.pos = min(end, len(src))
        return src[start : self.pos]

    def _char_class(self) -> str:
        src, start = self.src, self.pos
        pos = start + 1
        pos += src.startswith("^", pos)
        pos += src.startswith("]", pos)  # a leading ] is a member
        while pos < len(src) and src[pos] != "]":
            pos += 2 if src[pos] == "\\" else 1
        if pos >= len(src):
            raise _Invalid("unterminated character set")
        self.pos = pos + 1
        return src[start : self.pos]

    def _group(self, depth: int) -> str | _Group:
        src, start = self.src, self.pos
        if src.startswith("(?P=", start):
            self.pos = self._past(")")
            return src[start : self.pos]  # a named backreference: numbers do not matter
        scoped = _PY_SCOPED_FLAGS_RE.match(src, start)
        verbose = self.verbose[-1]
        if scoped is not None:
            group = _Group(scoped.group(0))
            verbose = "x" in scoped.group(1) or (verbose and "x" not in (scoped.group(2) or ""))
        else:
            group = self._group_head(start)
        self.verbose.append(verbose)
        self.pos += len(group.head)
        self._branches(group, depth + 1)
        self.verbose.pop()
        self.pos += 1  # the closing parenthesis
        return group

    def _group_head(self, start: int) -> _Group:
        src = self.src
        if not src.startswith("(?", start):
            return _Group("(", capturing=True)
        for head in _PY_LOOKAROUNDS:
            if src.startswith(head, start):
                return _Group(head)
        if src.startswith("(?>", start):
            self.rewrite = True
            return _Group("(?>", atomic=True)
        end = src.find(">" if src.startswith("(?P<", start) else ")", start)
        if src.startswith("(?P<", start) and end > 0:
            return _Group(src[start : end + 1], capturing=True)
        if src.startswith("(?(", start) and end > 0:
            return _Group(src[start : end + 1])  # a conditional on a group
        raise _Invalid("unknown extension")


class _PyWriter:
    """Number the groups as Python will once the inserted ones exist, then write out."""

    def __init__(self) -> None:
        self.count = 0
        self.numbers: dict[int, int] = {}  # backreference as written -> after rewriting

    def number(self, group: _Group) -> None:
        for item in (item for branch in group.branches for item in branch):
            if item.possessive:
                self.count += 1
                item.number = self.count
            inner = item.atom
            if isinstance(inner, _Group):
                if inner.atomic or inner.capturing:
                    self.count += 1
                    inner.number = self.count
                if inner.capturing:
                    self.numbers[len(self.numbers) + 1] = self.count
                self.number(inner)

    def body(self, group: _Group) -> str:
        return "|".join("".join(self._item(item) for item in branch) for branch in group.branches)

    def _reference(self, number: int) -> int:
        new = self.numbers.get(number)
        if new is None or new > _MAX_REFERENCE:
            raise _Invalid("invalid group reference")
        return new

    def _group(self, group: _Group) -> str:
        if group.atomic:
            return self._atomic(self.body(group), group.number)
        head = group.head
        condition = _PY_CONDITION_RE.fullmatch(head)
        if condition is not None:
            head = f"(?({self._reference(int(condition.group(1)))})"
        return head + self.body(group) + ")"

    def _item(self, item: _Item) -> str:
        atom = item.atom
        if isinstance(atom, int):
            text = f"(?:\\{self._reference(atom)})"
        elif isinstance(atom, _Group):
            text = self._group(atom)
        else:
            text = atom
        if item.possessive:
            return self._atomic(text + item.repeat, item.number)
        return text + item.repeat

    @staticmethod
    def _atomic(body: str, number: int) -> str:
        if number > _MAX_REFERENCE:
            raise _Invalid("too many groups to spell an atomic group")
        return f"(?:(?=({body}))\\{number})"


def server_pattern(pattern: str) -> str | None:
    """``pattern`` spelled so that every supported Python reads it as 3.11+ ``re`` does.

    ``None`` when 3.11+ rejects it (it then matches nothing). A pattern without
    possessive or atomic forms comes back unchanged.
    """
    try:
        reader = _PyReader(pattern)
        top = reader.read()
        if not reader.rewrite:
            return pattern
        writer = _PyWriter()
        writer.number(top)
        return top.head + writer.body(top)
    except _Invalid:
        return None
