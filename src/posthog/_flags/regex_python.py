"""How our dev server matches a deferred pattern: Python 3.11+ ``re`` on every Python.

Our dev server matches a deferred pattern with Python's ``re`` as written. Python 3.10
has no possessive quantifiers or atomic groups (3.11 added them) and applies a
mid-pattern ``(?i)`` to the whole pattern with a DeprecationWarning (3.11 rejects it).
``server_pattern`` reads the pattern itself, so every Python gives 3.11's answer:
``(?>X)`` and ``X*+`` become ``(?=(X))\\N`` -- a lookahead never backtracks into X and
the backreference consumes exactly what it matched -- with numbered references moved
past the inserted groups; misplaced global flags make the pattern invalid.
"""

from __future__ import annotations

import re

__all__ = ["server_pattern"]

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
