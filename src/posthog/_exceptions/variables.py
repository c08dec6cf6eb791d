"""Local variables of a frame (``code_variables``), with secrets masked.

Opt-in (``capture_exception_code_variables=True``) because locals are user data. A value
is rendered as JSON when it is a plain scalar, else as a bounded ``repr``. It is replaced
by :data:`REDACTED` when its *name* or its *text* matches a mask pattern (passwords,
tokens, keys, connection strings, signed-URL signatures), or when it looks like a secret
(a long, high-entropy token). Credentials inside URLs are masked even when the rest of
the value is kept: ``postgres://app:[redacted]@db/prod``.
"""

from __future__ import annotations

import math
import re
import reprlib
import types
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_IGNORE_PATTERNS",
    "DEFAULT_MASK_PATTERNS",
    "REDACTED",
    "VariableOptions",
    "frame_variables",
    "render_value",
]

REDACTED = "[redacted]"
MAX_VALUE_CHARS = 1024
MAX_VARIABLES = 100

DEFAULT_MASK_PATTERNS: tuple[str, ...] = (
    r"(?i)password",
    r"(?i)secret",
    r"(?i)passwd",
    r"(?i)pwd",
    r"(?i)api_key",
    r"(?i)apikey",
    r"(?i)auth",
    r"(?i)credentials",
    r"(?i)privatekey",
    r"(?i)private_key",
    r"(?i)token",
    r"(?i)aws_access_key_id",
    r"(?i)_pass",
    r"(?i)sk_",
    r"(?i)jwt",
    r"(?i)connection_string",
    r"(?i)connectionstring",
    r"(?i)conn_str",
    r"(?i)connstr",
    r"(?i)dsn",
    r"(?i)[?&]sig=",
)
DEFAULT_IGNORE_PATTERNS: tuple[str, ...] = (r"^__.*",)

_URL_CREDENTIALS = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\s]*):([^@/\s]+)@")
_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-.~]{24,}")
_UUID_LIKE = re.compile(r"^[0-9a-fA-F\-]+$")
_SKIP_TYPES = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)


def _compile(patterns: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    out = []
    for pattern in patterns:
        try:
            out.append(re.compile(pattern))
        except re.error:
            continue  # a bad user pattern must not break capture
    return tuple(out)


@dataclass(frozen=True, slots=True)
class VariableOptions:
    mask_patterns: Sequence[str] | None = None
    ignore_patterns: Sequence[str] | None = None
    mask_url_credentials: bool = True
    detect_secrets: bool = True
    _mask: tuple[re.Pattern[str], ...] = field(init=False, repr=False)
    _ignore: tuple[re.Pattern[str], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        mask = DEFAULT_MASK_PATTERNS if self.mask_patterns is None else self.mask_patterns
        ignore = DEFAULT_IGNORE_PATTERNS if self.ignore_patterns is None else self.ignore_patterns
        object.__setattr__(self, "_mask", _compile(mask))
        object.__setattr__(self, "_ignore", _compile(ignore))

    def masked(self, text: str) -> bool:
        return any(p.search(text) for p in self._mask)

    def ignored(self, name: str) -> bool:
        return any(p.search(name) for p in self._ignore)


def _entropy(text: str) -> float:
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def looks_like_secret(text: str) -> bool:
    """A long token of mixed letters and digits with high entropy (API keys, JWTs)."""
    for token in _TOKEN.findall(text):
        if _UUID_LIKE.match(token):
            continue
        has_alpha = any(c.isalpha() for c in token)
        has_digit = any(c.isdigit() for c in token)
        if has_alpha and has_digit and _entropy(token) >= 4.0:
            return True
    return False


_repr = reprlib.Repr()
_repr.maxstring = MAX_VALUE_CHARS
_repr.maxother = MAX_VALUE_CHARS
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 20
_repr.maxlevel = 3


def render_value(value: Any, options: VariableOptions) -> Any:
    """A JSON-safe, masked rendering of one value."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        text = value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + "..."
    else:
        try:
            text = _repr.repr(value)
        except Exception:
            text = f"<unrepresentable {type(value).__name__}>"
        text = text[:MAX_VALUE_CHARS]
    if options.masked(text):
        return REDACTED
    if options.detect_secrets and looks_like_secret(text):
        return REDACTED
    if options.mask_url_credentials:
        text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}:{REDACTED}@", text)
    return text


def frame_variables(frame: types.FrameType, options: VariableOptions) -> dict[str, Any]:
    """The frame's locals by name, masked; never raises."""
    try:
        local_items = list(frame.f_locals.items())
    except Exception:
        return {}
    out: dict[str, Any] = {}
    for name, value in local_items:
        if len(out) >= MAX_VARIABLES:
            break
        if not isinstance(name, str) or options.ignored(name) or isinstance(value, _SKIP_TYPES):
            continue
        if options.masked(name):
            out[name] = REDACTED
            continue
        try:
            out[name] = render_value(value, options)
        except Exception:
            out[name] = f"<unrepresentable {type(value).__name__}>"
    return out
