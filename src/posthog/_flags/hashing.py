"""Deterministic bucketing (spec 6.1).

``sha1("<key><sep><value><salt>")``, first 15 hex digits as an integer, divided by
``0xFFFFFFFFFFFFFFF``. Fifteen hex digits are the top 60 bits of the digest, so we read
8 bytes and shift instead of formatting and re-parsing hex: same number, less work.
"""

from __future__ import annotations

from hashlib import sha1

__all__ = ["HOLDOUT_PREFIX", "SCALE", "bucket_hash", "hash_prefixed"]

SCALE = _SCALE = float(0xFFFFFFFFFFFFFFF)
_from_bytes = int.from_bytes

HOLDOUT_PREFIX = "holdout-"


def bucket_hash(key: str, value: object, salt: str = "", sep: str = ".") -> float:
    """Return the bucket in [0, 1] of ``value`` for ``key`` exactly as spec 6.1 defines it."""
    return hash_prefixed(f"{key}{sep}", f"{value}{salt}")


def hash_prefixed(prefix: str, rest: str) -> float:
    """Hash ``prefix + rest``; the evaluator precomputes ``prefix`` once per flag."""
    digest = sha1((prefix + rest).encode("utf-8")).digest()
    return (_from_bytes(digest[:8], "big") >> 4) / _SCALE
