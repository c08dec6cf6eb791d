"""Turning arbitrary caller values into JSON, fast, and never failing.

The fast path hands the message to orjson, which natively encodes str/int/float/bool/None,
datetimes, dates, UUIDs, dataclasses and enums and writes NaN/Infinity as ``null``.
Anything it cannot encode (Decimal, sets, bytes, pydantic models, cyclic structures,
non-string keys of odd types, integers beyond 64 bits) sends the message through
:func:`clean`, which converts every value to something JSON can hold, or drops it and
says so in ``problems``. Without orjson (PyPy), stdlib ``json`` runs over ``clean``'s output.

The codec loads with the first :func:`dumps` or :func:`loads` (a client's construction),
not at ``import posthog``: importing orjson imports ``json``, ``uuid`` (and ``platform``),
``dataclasses`` and ``inspect``, about 8 ms, more than the rest of the SDK's import.
"""

from __future__ import annotations

import datetime as _dt
import enum
import math
import sys
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import decimal

__all__ = ["CleanReport", "clean", "dumps", "instance_of", "loads"]

_MAX_DEPTH = 100
_PRIMITIVES = (str, int, bool, type(None))


class CleanReport:
    """Collects what :func:`clean` had to drop, for one warning line per kind."""

    __slots__ = ("dropped",)

    def __init__(self) -> None:
        self.dropped: list[str] = []

    def add(self, path: str, why: str) -> None:
        if len(self.dropped) < 20:
            self.dropped.append(f"{path}: {why}")


def _text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot be UTF-8: replace them
        return value.encode("utf-8", "replace").decode("utf-8")
    return value if type(value) is str else str(value)


def _key(key: object) -> str:
    if isinstance(key, str):
        return _text(key)
    if isinstance(key, enum.Enum):
        return _text(str(key.value))
    if isinstance(key, (_dt.datetime, _dt.date)):
        return key.isoformat()
    return _text(str(key))


def instance_of(value: object, module: str, name: str) -> bool:
    """``isinstance(value, module.name)`` without importing ``module``: no value can be an
    instance of a class whose module was never imported. So Decimal and UUID support costs
    ``import posthog`` nothing (``decimal`` and ``uuid`` take milliseconds to import)."""
    loaded = sys.modules.get(module)
    cls = getattr(loaded, name, None) if loaded is not None else None
    return cls is not None and isinstance(value, cls)


def _float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _decimal(value: decimal.Decimal) -> float | None:
    return _float(float(value)) if value.is_finite() else None


def _clean_value(value: Any, path: str, seen: set[int], depth: int, report: CleanReport) -> Any:
    if isinstance(value, _PRIMITIVES):
        if isinstance(value, int) and not isinstance(value, bool):
            if not -(2**63) <= value < 2**64:
                return str(value)  # JSON numbers beyond 64 bits are not portable
            return int(value)  # IntEnum and other int subclasses
        if isinstance(value, str):
            return _text(value)
        return value
    if isinstance(value, float):
        return _float(value)
    if depth > _MAX_DEPTH:
        report.add(path, "nested too deeply")
        return None
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if instance_of(value, "decimal", "Decimal"):
        return _decimal(value)
    if instance_of(value, "uuid", "UUID"):
        return str(value)
    if isinstance(value, enum.Enum):
        return _clean_value(value.value, path, seen, depth + 1, report)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    return _clean_container(value, path, seen, depth, report)


def _clean_container(value: Any, path: str, seen: set[int], depth: int, report: CleanReport) -> Any:
    marker = id(value)
    if marker in seen:
        report.add(path, "cyclic reference")
        return None
    seen.add(marker)
    try:
        if isinstance(value, Mapping):
            return _clean_mapping(value, path, seen, depth, report)
        if isinstance(value, (list, tuple, set, frozenset, deque)):
            items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
            return [
                _clean_value(v, f"{path}[{i}]", seen, depth + 1, report)
                for i, v in enumerate(items)
            ]
        converted = _convert_object(value)
        if converted is not _UNCONVERTIBLE:
            return _clean_value(converted, path, seen, depth + 1, report)
    except Exception as exc:  # a hostile __iter__/__getattr__/model_dump must not escape
        report.add(path, f"{type(value).__name__} raised {type(exc).__name__} while converting")
        return None
    finally:
        seen.discard(marker)
    report.add(path, f"{type(value).__name__} is not JSON serialisable")
    return None


def _clean_mapping(
    value: Mapping[Any, Any], path: str, seen: set[int], depth: int, report: CleanReport
) -> dict[str, Any]:
    """Keys become strings; an entry whose key cannot be one is dropped, not the mapping."""
    out: dict[str, Any] = {}
    for k, v in list(value.items()):
        try:
            name = _key(k)
        except Exception as exc:
            report.add(f"{path}[?]", f"{type(k).__name__} key raised {type(exc).__name__}")
            continue
        out[name] = _clean_value(v, f"{path}.{name}", seen, depth + 1, report)
    return out


_UNCONVERTIBLE = object()


def _convert_object(value: Any) -> Any:
    """Dataclasses and pydantic models become mappings; anything else is unconvertible."""
    if hasattr(type(value), "__dataclass_fields__") and not isinstance(value, type):
        import dataclasses  # already loaded: it made the value's class

        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    dump: Callable[[], Any] | None = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        return dump()
    legacy = getattr(value, "dict", None)
    if callable(legacy) and hasattr(value, "__fields__") and not isinstance(value, type):
        return legacy()
    return _UNCONVERTIBLE


def clean(value: Any, report: CleanReport | None = None, path: str = "properties") -> Any:
    """Return a JSON-safe copy of ``value``; what cannot be kept becomes ``None``."""
    return _clean_value(value, path, set(), 0, report if report is not None else CleanReport())


def _default(value: Any) -> Any:
    # Called by orjson for types it does not know; raising sends us to the slow path.
    if instance_of(value, "decimal", "Decimal"):
        return _decimal(value)
    raise TypeError


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` (already cleaned, or trusted) as compact UTF-8 JSON."""
    return _encode(obj, _default, _options)


def loads(data: bytes | str) -> Any:
    return _decode(data)


#: What the fast path raises for a value it cannot encode (orjson's ``JSONEncodeError``
#: is a ``TypeError``; stdlib json also raises ``ValueError`` and ``RecursionError``).
FastEncodeError: tuple[type[Exception], ...] = (TypeError, ValueError, RecursionError)


def _load_codec() -> None:
    """Bind ``_encode``/``_decode`` to the codec: orjson, else (PyPy) stdlib json."""
    global _encode, _decode, _options
    try:
        import orjson
    except ImportError:  # pragma: no cover - the fallback is exercised on PyPy only
        import json

        def json_encode(obj: Any, default: Any, options: int) -> bytes:
            text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            return text.encode("utf-8")

        _decode, _encode = json.loads, json_encode
        return
    _options = orjson.OPT_NON_STR_KEYS
    _decode, _encode = orjson.loads, orjson.dumps


def _encode_first(obj: Any, default: Any, options: int) -> bytes:
    _load_codec()
    return dumps(obj)


def _decode_first(data: bytes | str) -> Any:
    _load_codec()
    return loads(data)


# Until the first call these load the codec; from then on they are the codec's own
# functions: the hot path calls orjson directly, the laziness costs it nothing.
_encode: Callable[[Any, Any, int], bytes] = _encode_first
_decode: Callable[[bytes | str], Any] = _decode_first
_options = 0


def safe_dumps(obj: Any, report: CleanReport) -> bytes:
    """Encode anything: the fast path first, :func:`clean` when the fast path refuses."""
    try:
        return dumps(obj)
    except FastEncodeError:
        return dumps(clean(obj, report, path="message"))
