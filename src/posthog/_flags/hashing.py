"""Deterministic bucketing (spec 6.1).

``sha1("<key><sep><value><salt>")``, first 15 hex digits as an integer, divided by
``0xFFFFFFFFFFFFFFF``. Fifteen hex digits are the top 60 bits of the digest, so we read
8 bytes and shift instead of formatting and re-parsing hex: same number, less work.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from struct import Struct
from typing import Protocol


class _Digest(Protocol):
    def digest(self) -> bytes: ...


def _pick_sha1() -> Callable[[bytes], _Digest]:
    """CPython's own SHA-1 (same digest, less per-call set-up than OpenSSL's for short
    input) when the interpreter has it; ``hashlib.sha1`` otherwise."""
    try:
        import _sha1  # type: ignore[import-not-found, unused-ignore]
    except ImportError:  # pragma: no cover - builds without the builtin module
        return hashlib.sha1
    return _sha1.sha1  # type: ignore[no-any-return, unused-ignore]


sha1 = _pick_sha1()

__all__ = ["HOLDOUT_PREFIX", "SCALE", "bucket_hash", "hash_prefixed", "sha1", "top64"]

SCALE = _SCALE = float(0xFFFFFFFFFFFFFFF)
top64 = Struct(">Q").unpack_from  # the first 8 digest bytes as a big-endian integer

HOLDOUT_PREFIX = "holdout-"


def bucket_hash(key: str, value: object, salt: str = "", sep: str = ".") -> float:
    """Return the bucket in [0, 1] of ``value`` for ``key`` exactly as spec 6.1 defines it."""
    return hash_prefixed(f"{key}{sep}", f"{value}{salt}")


def hash_prefixed(prefix: str, rest: str) -> float:
    """Hash ``prefix + rest``; the evaluator precomputes ``prefix`` once per flag."""
    high: int = top64(sha1((prefix + rest).encode()).digest())[0]
    return (high >> 4) / _SCALE
