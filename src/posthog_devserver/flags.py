"""Flag definitions from a JSON file, reloaded whenever the file changes.

The file has the shape ``GET /flags/definitions`` returns:
``{"flags": [...], "group_type_mapping": {...}, "cohorts": {...}}`` (a bare list of
flags is accepted too). A broken edit keeps the last good definitions and reports the
error instead of taking flags away from running apps.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("posthog_devserver")


@dataclass(frozen=True)
class Definitions:
    """One immutable version of the definitions; ``etag`` changes when content does."""

    document: dict[str, Any]
    etag: str
    error: str | None = None
    path: str | None = None
    cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def flags(self) -> list[dict[str, Any]]:
        return list(self.document.get("flags", []))

    def for_project(self, stored_mapping: dict[str, str]) -> Definitions:
        """The document with the project's own group types when the file names none."""
        if self.document.get("group_type_mapping") or not stored_mapping:
            return self
        document = {**self.document, "group_type_mapping": dict(stored_mapping)}
        return Definitions(document, etag_of(document), self.error, self.path)


def etag_of(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def normalise(data: Any) -> dict[str, Any]:
    """Validate the outer shape; raise ``ValueError`` naming what is wrong."""
    if isinstance(data, list):
        data = {"flags": data}
    if not isinstance(data, dict):
        raise ValueError("flags file must hold a JSON object with a 'flags' list")
    flags = data.get("flags", [])
    if not isinstance(flags, list):
        raise ValueError("'flags' must be a list")
    for index, flag in enumerate(flags):
        if not isinstance(flag, dict) or not isinstance(flag.get("key"), str):
            raise ValueError(f"flags[{index}] must be an object with a string 'key'")
    for name in ("group_type_mapping", "cohorts"):
        if not isinstance(data.get(name, {}), dict):
            raise ValueError(f"'{name}' must be an object")
    return {
        "flags": flags,
        "group_type_mapping": dict(data.get("group_type_mapping") or {}),
        "cohorts": dict(data.get("cohorts") or {}),
        **{k: v for k, v in data.items() if k not in ("flags", "group_type_mapping", "cohorts")},
    }


class FlagSource:
    """The current definitions: from ``path`` (checked on every read) or set in code."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        empty = normalise({})
        self._current = Definitions(empty, etag_of(empty), path=path)
        if path is not None:
            self.current()

    def set(self, document: Any) -> Definitions:
        """Replace the definitions (tests, the demo). Detaches from the file."""
        normalised = normalise(copy.deepcopy(document))
        with self._lock:
            self.path = None
            self._current = Definitions(normalised, etag_of(normalised))
            return self._current

    def current(self) -> Definitions:
        """The definitions, reloading the file first if its size or mtime changed."""
        with self._lock:
            if self.path is None:
                return self._current
            try:
                st = os.stat(self.path)
                stamp = (st.st_mtime_ns, st.st_size)
            except OSError as exc:
                return self._failed(f"cannot read flags file {self.path}: {exc.strerror}", None)
            if stamp == self._stamp:
                return self._current
            try:
                with open(self.path, encoding="utf-8") as fh:
                    document = normalise(json.load(fh))
            except (OSError, ValueError, RecursionError) as exc:
                return self._failed(f"cannot load flags file {self.path}: {exc}", stamp)
            self._stamp = stamp
            self._current = Definitions(document, etag_of(document), path=self.path)
            log.info("loaded %d flag(s) from %s", len(document["flags"]), self.path)
            return self._current

    def _failed(self, message: str, stamp: tuple[int, int] | None) -> Definitions:
        if self._current.error != message:
            log.error("%s; keeping the last good definitions", message)
        self._stamp = stamp
        old = self._current
        self._current = Definitions(old.document, old.etag, message, self.path)
        return self._current
