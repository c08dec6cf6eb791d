"""Standard properties and their precedence (spec 3.1, 3.3), computed once per client.

Per event the precedence is, lowest first: context tags < caller properties < system
context < ``$lib``/``$lib_version`` < super properties < ``$is_server``. Everything from
system context upward is the same for every event of a client, so it is encoded to JSON
once here (the *suffix*) and spliced into each event by the worker; the caller's thread
only removes those keys from the event's own properties so no key appears twice.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from posthog._events.serialize import CleanReport, clean, dumps
from posthog.version import VERSION

__all__ = ["LIB_NAME", "EventDefaults", "system_context"]

LIB_NAME = "hogwire"

#: Selectors of the constant suffixes: capture-like events (FULL) or identity events (LIB),
#: each with ``$geoip_disable: true`` (the default) or without it.
FULL = 1
LIB = 2
FULL_GEOIP_OFF = 3
LIB_GEOIP_OFF = 4
#: What to add to a base selector when the event's effective ``disable_geoip`` is true.
GEOIP_OFF = 2


def _os_name() -> str:
    plat = sys.platform
    if plat.startswith("linux"):
        return "Linux"
    if plat == "darwin":
        return "Mac OS X"
    if plat in ("win32", "cygwin"):
        return "Windows"
    if plat.startswith("freebsd"):
        return "FreeBSD"
    return plat


def _os_release() -> dict[str, str]:
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        fields: dict[str, str] = {}
        for line in lines:
            key, sep, value = line.partition("=")
            if sep:
                fields[key.strip()] = value.strip().strip("\"'")
        return fields
    return {}


#: ``platform.python_implementation()`` of the common runtimes, read without importing
#: :mod:`platform` (a millisecond and a half): on Linux nothing else needs it.
_RUNTIMES = {"cpython": "CPython", "pypy": "PyPy"}


def _runtime() -> str:
    name = _RUNTIMES.get(sys.implementation.name)
    if name is None:
        import platform

        name = platform.python_implementation()
    return name


@lru_cache(maxsize=1)
def system_context() -> dict[str, str]:
    """Runtime and OS facts, detected once per process (they cannot change while it runs)."""
    ctx = {
        "$python_runtime": _runtime(),
        "$python_version": ".".join(str(part) for part in sys.version_info[:3]),
        "$os": _os_name(),
    }
    if ctx["$os"] == "Linux":
        release = _os_release()
        ctx["$os_version"] = release.get("VERSION_ID", "")
        if release.get("NAME"):
            ctx["$os_distro"] = release["NAME"]
    else:
        import platform  # only off Linux: detection runs once, when the first client is built

        if ctx["$os"] == "Mac OS X":
            ctx["$os_version"] = platform.mac_ver()[0]
        elif ctx["$os"] == "Windows":
            ctx["$os_version"] = platform.win32_ver()[0]
        else:
            ctx["$os_version"] = platform.release()
    return ctx


class EventDefaults:
    """The per-client constant part of every event, pre-encoded, one variant per selector.

    Never changed once built (a new one replaces it when super properties change)."""

    __slots__ = ("keys", "props", "release_id", "suffixes")

    def __init__(
        self,
        props: tuple[Mapping[str, Any], ...],
        keys: tuple[frozenset[str], ...],
        suffixes: tuple[bytes, ...],
        release_id: str | None,
    ) -> None:
        self.props = props  # index by selector; properties in precedence order
        self.keys = keys  # the keys of each, removed from an event's own props
        self.suffixes = suffixes  # each encoded as JSON members, ready to splice
        self.release_id = release_id

    @classmethod
    def build(cls, super_properties: Mapping[str, Any] | None, is_server: bool) -> EventDefaults:
        supers = clean(dict(super_properties or {}), CleanReport(), "super_properties")
        lib_part = {"$lib": LIB_NAME, "$lib_version": VERSION}
        geoip = {"$geoip_disable": True}
        tail = {"$is_server": True} if is_server else {}
        system = system_context()
        props: tuple[Mapping[str, Any], ...] = (
            {},
            {**system, **lib_part, **supers, **tail},
            {**lib_part, **supers, **tail},
            {**system, **lib_part, **geoip, **supers, **tail},
            {**lib_part, **geoip, **supers, **tail},
        )
        release = (os.environ.get("POSTHOG_RELEASE_ID") or "").strip() or None
        return cls(
            props=props,
            keys=tuple(frozenset(p) for p in props),
            suffixes=tuple(dumps(p)[1:-1] for p in props),
            release_id=release,
        )

    def props_for(self, selector: int) -> Mapping[str, Any]:
        return self.props[selector]
