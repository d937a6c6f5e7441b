"""Date-times on the wire: field 7 (MMDDhhmmss, UTC, no year) written and read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from appliance.errors import ProtocolError

_HALF_YEAR = timedelta(days=182)


def _in_year(year: int, mmddhhmmss: str) -> datetime:
    # The common case without strptime (which dominated decoding): ten ASCII digits split
    # two by two. When that split is not a valid date, strptime decides exactly as before.
    s = mmddhhmmss
    if len(s) == 10 and s.isascii() and s.isdigit():
        try:
            return datetime(year, int(s[0:2]), int(s[2:4]), int(s[4:6]), int(s[6:8]), int(s[8:]))
        except ValueError:
            pass
    return datetime.strptime(f"{year}{s}", "%Y%m%d%H%M%S")


def infer_year(mmddhhmmss: str, now: datetime) -> datetime:
    """A transmission date-time (no year on the wire) placed in the year nearest to ``now``."""
    naive_now = now.astimezone(UTC).replace(tzinfo=None)
    try:
        # Within 182 days of now in now's year, no other year can be nearer (they are 365+
        # days from it): the usual case, without trying the neighbouring years.
        same = _in_year(now.year, mmddhhmmss)
        if abs(same - naive_now) < _HALF_YEAR:
            return same.replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        candidates = []
        for year in (now.year - 1, now.year, now.year + 1):
            try:
                candidates.append(_in_year(year, mmddhhmmss))
            except ValueError:
                continue
        if not candidates:
            raise ValueError(mmddhhmmss)
    except ValueError as exc:
        raise ProtocolError(f"invalid date-time {mmddhhmmss!r}") from exc
    best = min(candidates, key=lambda c: abs(c - naive_now))
    return best.replace(tzinfo=UTC)


def transmission_stamp(when: datetime) -> str:
    """Field 7 of ``when``: MMDDhhmmss in UTC."""
    if when.tzinfo is None:
        raise ProtocolError("transmission time must be timezone-aware")
    t = when.astimezone(UTC)
    return f"{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}"
