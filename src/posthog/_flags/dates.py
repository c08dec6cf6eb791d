"""Date parsing for ``is_date_before`` / ``is_date_after`` (spec 6.4 item 9).

Filters are parsed once: an absolute filter becomes a ``datetime``; a relative one
(``-7d``) becomes a function of ``now`` because it moves with the clock. Property
strings are parsed at evaluation time with the same ISO reader.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

__all__ = [
    "DateFilter",
    "parse_date_filter",
    "parse_iso",
    "parse_property_date",
    "subtract_months",
]

_RELATIVE_RE = re.compile(r"-?(\d+)([hdwmy])")
_ISO_RE = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?)?)?"
    r"\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)

# A filter is either a fixed instant or a function of "now".
DateFilter = Callable[[datetime], datetime]


def _clamped(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def subtract_months(moment: datetime, months: int) -> datetime:
    """Step back one calendar month at a time, clamping the day at each step (spec)."""
    for _ in range(months):
        year, month = (moment.year, moment.month - 1) if moment.month > 1 else (moment.year - 1, 12)
        day = min(moment.day, calendar.monthrange(year, month)[1])
        moment = moment.replace(year=year, month=month, day=day)
    return moment


def _relative(amount: int, unit: str) -> DateFilter:
    if unit == "h":
        return lambda now: now - timedelta(hours=amount)
    if unit == "d":
        return lambda now: now - timedelta(days=amount)
    if unit == "w":
        return lambda now: now - timedelta(weeks=amount)
    if unit == "m":
        return lambda now: subtract_months(now, amount)

    def years(now: datetime) -> datetime:
        if now.year - amount < 1:
            return datetime.min.replace(tzinfo=timezone.utc)
        day = _clamped(now.year - amount, now.month, now.day)
        return now.replace(year=day.year, day=day.day)

    return years


def _tz(text: str | None) -> timezone:
    if text is None or text.upper() in ("Z", "UTC", "GMT"):
        return timezone.utc
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
    return timezone(sign * timedelta(minutes=minutes))


def parse_iso(text: str, now: datetime) -> datetime | None:
    """Parse the ISO forms the server accepts; missing month/day come from ``now``."""
    match = _ISO_RE.fullmatch(text.strip())
    if match is None:
        return None
    return _from_match(match, now)


_PARSED: dict[str, datetime | None] = {}
_PARSED_LIMIT = 4096
_UNSET: Any = object()


def parse_property_date(text: str, now: datetime) -> datetime | None:
    """``parse_iso`` for property values, remembering answers that cannot depend on
    ``now`` (text that is not a date at all, or names year, month and day). The same
    few property strings are read by many flags and calls; the cache is bounded."""
    cached = _PARSED.get(text, _UNSET) if text.__class__ is str else _UNSET
    if cached is not _UNSET:
        return cached  # type: ignore[no-any-return]
    match = _ISO_RE.fullmatch(text.strip())
    result = None if match is None else _from_match(match, now)
    if text.__class__ is str and (match is None or match.group(3) is not None):
        if len(_PARSED) >= _PARSED_LIMIT:
            _PARSED.clear()
        _PARSED[text] = result
    return result


def _from_match(match: re.Match[str], now: datetime) -> datetime | None:
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        tz = _tz(zone)
        if month is None:
            base = _clamped(int(year), now.month, now.day)
        elif day is None:
            base = _clamped(int(year), int(month), now.day)
        else:
            base = date(int(year), int(month), int(day))
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        return datetime(
            base.year,
            base.month,
            base.day,
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            micro,
            tzinfo=tz,
        )
    except ValueError:
        return None


def parse_date_filter(value: object) -> DateFilter | None:
    """Compile a filter value, or return ``None`` when the server would reject it."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    relative = _RELATIVE_RE.fullmatch(text)
    if relative is not None:
        amount = int(relative.group(1))
        return None if amount >= 10000 else _relative(amount, relative.group(2))
    fixed = parse_iso(text, _REFERENCE_NOW)
    if fixed is None:
        return None
    if _needs_today(text):
        # Bare ``YYYY`` / ``YYYY-MM``: month/day default to today's, like dateutil.
        return lambda now: parse_iso(text, now) or fixed
    return lambda _now: fixed


def _needs_today(text: str) -> bool:
    match = _ISO_RE.fullmatch(text)
    return match is not None and match.group(3) is None


_REFERENCE_NOW = datetime(2000, 1, 1, tzinfo=timezone.utc)
