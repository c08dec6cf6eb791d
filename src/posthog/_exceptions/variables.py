"""Local variables of a frame (``code_variables``), with secrets masked.

Opt-in (``capture_exception_code_variables=True``) because locals are user data. A value
is rendered as JSON when it is a plain scalar, else as a bounded ``repr``. It is replaced
by :data:`REDACTED` when its *name* or its *text* matches a mask pattern (passwords,
tokens, keys, connection strings, signed-URL signatures), or when it looks like a secret
(a long, high-entropy token). Credentials inside URLs are masked even when the rest of
the value is kept: ``postgres://app:[redacted]@db/prod``. The patterns are broad on
purpose (see :data:`DEFAULT_MASK_PATTERNS`): a masked harmless value is cheap, a leaked
credential is not.
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

# Matched (case-insensitively, anywhere) against each variable's name and against the
# rendered text of its value. Deliberately broad: a false positive hides one debug value,
# a leak puts a credential into an analytics store. So ``author`` (``auth``) and
# ``tokenizer`` / ``max_tokens`` (``token``) are masked too: exempting them would mean
# guessing which names are harmless, and ``mask_patterns`` lets an application choose.
# The reference SDK's defaults (reference-sdk.md, options 32-35) are all covered here.
DEFAULT_MASK_PATTERNS: tuple[str, ...] = (
    r"(?i)password",
    r"(?i)passwd",
    r"(?i)passphrase",
    r"(?i)pwd",
    r"(?i)_pass",
    r"(?i)secret",
    r"(?i)token",  # also csrf_token, refresh_token, tokenizer
    r"(?i)api[_-]?key",
    r"(?i)access[_-]?key",  # aws_access_key_id, accessKey
    r"(?i)private[_-]?key",
    r"(?i)auth",  # authorization, oauth, auth_header (and author: see above)
    r"(?i)credential",
    r"(?i)session",
    r"(?i)cookie",
    r"(?i)csrf",
    r"(?i)xsrf",
    r"(?i)jwt",
    r"(?i)bearer",  # a name, or an "Authorization: Bearer ..." value
    r"(?i)^\s*basic\s+[a-z0-9+/]{8,}={0,2}\s*$",  # a Basic auth header value
    r"(?i)sk_",
    r"(?i)dsn",
    r"(?i)conn(ection)?[_-]?str",
    r"(?i)d(ata)?b(ase)?[_-]?url",
    r"(?i)[?&]sig=",
)
DEFAULT_IGNORE_PATTERNS: tuple[str, ...] = (r"^__.*",)

# scheme://user:password@host -> the password (greedy to the token's last "@", so "@",
# "/" or ":" inside it are masked too); scheme://user@host (a token as user name) -> all
# of the user info. A URL cut by truncation ("...") before its "@" loses what follows
# "user:" (a port cut there is masked too: rare and harmless).
_SCHEME = r"[a-zA-Z][a-zA-Z0-9+.\-]*://"
# A port ("host:8000/...") is not a password, even when an "@" comes later in the path.
_URL_CREDENTIALS = re.compile(
    rf"({_SCHEME})([^:/?#@\s'\"<>]*)(?::(?!\d+(?:[/?#]|$))([^\s'\"<>]*))?@"
)
_CUT_CREDENTIALS = re.compile(rf"({_SCHEME}[^:/?#@\s'\"<>]*):[^@\s'\"<>]*?\.\.\.")
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
        if len(text) > MAX_VALUE_CHARS:
            text = text[:MAX_VALUE_CHARS] + "..."
    if options.masked(text):
        return REDACTED
    if options.detect_secrets and looks_like_secret(text):
        return REDACTED
    if options.mask_url_credentials:
        text = mask_url_credentials(text)
    return text


def mask_url_credentials(text: str) -> str:
    """``text`` with the password (or token user name) of every URL in it masked."""
    text = _URL_CREDENTIALS.sub(_masked_user_info, text)
    return _CUT_CREDENTIALS.sub(lambda m: f"{m.group(1)}:{REDACTED}...", text)


def _masked_user_info(match: re.Match[str]) -> str:
    scheme, user, password = match.group(1, 2, 3)
    if password is None:
        return f"{scheme}{REDACTED}@" if user else match.group(0)
    return f"{scheme}{user}:{REDACTED}@"


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
