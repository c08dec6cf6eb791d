"""Value coercions that the server applies before comparing (spec 6.4).

* ``backend_string``: how PostHog's backend renders a JSON value as text before
  ``exact``/text/regex comparisons. Floats follow Rust ``serde_json`` thresholds
  (plain decimals from 1e-5 up to 1e16, unpadded exponents), which Python's ``repr``
  does not.
* ``as_number``: the strict numeric reading used by ``gt``/``gte``/``lt``/``lte``.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

__all__ = [
    "NOT_A_NUMBER",
    "NonFinite",
    "Unrenderable",
    "as_number",
    "ascii_lower",
    "backend_string",
    "is_truthy",
    "renderable",
]

_NUMBER_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_ASCII_UPPER = str.maketrans({chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)})

NOT_A_NUMBER: float | None = None


class Unrenderable(ValueError):
    """A value the backend never sees as JSON, so it cannot be compared as text locally.

    Flag calls take property overrides as Python objects; a set, a tuple, bytes, a
    datetime, a ``Decimal``, a dict with a non-string key or an arbitrary object is not
    JSON text the server would compare, and guessing one with ``str()`` could answer
    differently from the server (spec 6.4; the reference refuses the same types).
    """


class NonFinite(Unrenderable):
    """Raised when a value contains NaN or an infinity, which the backend cannot render."""


def format_float(value: float) -> str:
    """Render a float the way Rust's ``serde_json`` does, per spec 6.4 examples."""
    if not math.isfinite(value):
        raise NonFinite(repr(value))
    text = float.__repr__(value)
    if "e" not in text:
        return text
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text)
    if exponent == -5:
        digits = mantissa.lstrip("-").replace(".", "")
        sign = "-" if mantissa.startswith("-") else ""
        return f"{sign}0.0000{digits}"
    if exponent < 0:
        return f"{mantissa}e-{-exponent}"
    return f"{mantissa}e+{exponent}"


def backend_string(value: Any) -> str:
    """Stringify a property or filter value as the backend does (``None`` -> ``"null"``)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)  # an IntEnum renders as its number, as in JSON
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, (list, dict)):
        return _encode(value)
    raise Unrenderable(type(value).__name__)


def renderable(value: Any) -> bool:
    """Whether ``backend_string`` can render ``value`` (cheap for scalars)."""
    cls = value.__class__
    if cls is str or cls is bool or cls is int or value is None:
        return True
    if cls is float:
        return math.isfinite(value)
    try:
        backend_string(value)
    except Unrenderable:
        return False
    return True


def _encode(value: Any) -> str:
    """Compact JSON with sorted keys and serde-style floats, for lists and dicts."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ",".join(_encode(item) for item in value) + "]"
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise Unrenderable("object key that is not a string")
        items = sorted(value.items())
        return "{" + ",".join(f"{_encode(k)}:{_encode(v)}" for k, v in items) + "}"
    return backend_string(value)


def ascii_lower(text: str) -> str:
    """Lowercase A-Z only, as the server's text operators do (``Ä`` stays ``Ä``)."""
    return text.translate(_ASCII_UPPER) if not text.islower() else text


def is_truthy(value: Any) -> bool:
    """Legacy boolean reading: ``True``/``"true"``, or a list whose items all are."""
    if value is True:
        return True
    if isinstance(value, str):
        return value.lower() == "true"
    if isinstance(value, list):
        return all(is_truthy(item) for item in value)
    return False


def as_number(value: Any) -> float | None:
    """Return ``value`` as a finite float if the server would read it as a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, Decimal)):
        try:
            number = float(value)
        except (OverflowError, ValueError):
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, str) and _NUMBER_RE.fullmatch(value):
        number = float(value)
        return number if math.isfinite(number) else None
    return None
