"""The codec's fast paths decide exactly as the straightforward forms they replace."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from appliance.errors import ProtocolError
from appliance.host.dialects.wire_time import infer_year, transmission_stamp


def _reference_infer_year(mmddhhmmss: str, now: datetime) -> datetime:
    candidates = []
    for year in (now.year - 1, now.year, now.year + 1):
        try:
            candidates.append(datetime.strptime(f"{year}{mmddhhmmss}", "%Y%m%d%H%M%S"))
        except ValueError:
            continue
    if not candidates:
        raise ProtocolError(mmddhhmmss)
    naive_now = now.astimezone(UTC).replace(tzinfo=None)
    return min(candidates, key=lambda c: abs(c - naive_now)).replace(tzinfo=UTC)


def _same(stamp: str, now: datetime) -> None:
    try:
        want: datetime | None = _reference_infer_year(stamp, now)
    except ProtocolError:
        want = None
    if want is None:
        with pytest.raises(ProtocolError):
            infer_year(stamp, now)
    else:
        assert infer_year(stamp, now) == want, (stamp, now)


def test_infer_year_agrees_with_strptime_over_the_year_and_its_edges() -> None:
    rng = random.Random(87)
    base = datetime(2024, 1, 1, tzinfo=UTC)  # a leap year, then ordinary ones
    for _ in range(3000):
        now = base + timedelta(seconds=rng.randrange(3 * 366 * 86400))
        when = now + timedelta(seconds=rng.randrange(-200 * 86400, 200 * 86400))
        _same(transmission_stamp(when), now)


def test_infer_year_agrees_on_odd_and_invalid_stamps() -> None:
    rng = random.Random(9)
    nows = [
        datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC),
        datetime(2025, 6, 30, 12, tzinfo=UTC),
        datetime(2023, 3, 1, tzinfo=UTC),
    ]
    stamps = ["0229120000", "1231235959", "0101000000", "1301120000", "0230000000", "0000000000"]
    stamps += [f"{rng.randrange(10**10):010d}" for _ in range(400)]
    for now in nows:
        for stamp in stamps:
            _same(stamp, now)
