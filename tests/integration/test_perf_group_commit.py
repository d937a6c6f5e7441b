"""Group commit in the reference acquirer and ``HostLink.submit_many``: same answers, same books."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.errors import CountertopError, NotSent, ProtocolError
from appliance.host import keys
from appliance.host.link import HostLink
from appliance.host.messages import CardFields, HostRequest, HostResponse, MessageKind
from appliance.sim.acquirer.ledger import Ledger
from appliance.sim.acquirer.server import ReferenceAcquirer

TID, MID = "10000001", "898310048160001"
TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
CARD = CardFields(pan="6212345678901232", expiry="2812")
_stans = itertools.count(500)
_clock = itertools.count()


def stamp() -> datetime:
    return datetime(2026, 11, 22, 11, 0, 0, tzinfo=UTC) + timedelta(seconds=next(_clock))


def sale(amount: int = 1000, *, stan: int | None = None, at: datetime | None = None) -> HostRequest:
    return HostRequest(
        MessageKind.SALE,
        TID,
        MID,
        next(_stans) if stan is None else stan,
        at or stamp(),
        amount=amount,
        card=CARD,
        batch=1,
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    books = Ledger(tmp_path / "acq.db")
    yield books
    books.close()


def test_answer_many_repeats_and_failures_inside_one_group(ledger: Ledger) -> None:
    first = sale(1000)
    naive = HostRequest(
        MessageKind.SALE, TID, MID, 9, datetime(2026, 1, 1), amount=500, card=CARD, batch=1
    )
    second = sale(2000)
    out = ledger.answer_many(
        [
            (first, "0200", TMK, True),
            (naive, "0200", TMK, True),  # no timezone: cannot be keyed, fails alone
            (first, "0200", TMK, True),  # the same request again in the same group
            (second, "0200", TMK, True),
            (sale(3000), "0200", TMK, False),  # bad MAC: A0, not recorded
        ]
    )
    assert isinstance(out[0], HostResponse) and out[0].response_code == "00"
    assert isinstance(out[1], ProtocolError)
    assert isinstance(out[2], HostResponse) and out[2].rrn == out[0].rrn  # replayed
    assert isinstance(out[3], HostResponse) and out[3].response_code == "00"
    assert isinstance(out[4], HostResponse) and out[4].response_code == "A0"
    rows = ledger.transactions()
    assert sorted(r["amount"] for r in rows) == [1000, 2000]  # charged once each, durably
    repeats = ledger._db.execute("SELECT SUM(repeats) FROM messages").fetchone()[0]
    assert repeats == 1


def test_a_sign_on_in_a_group_replaces_the_cached_mak_only_when_committed(ledger: Ledger) -> None:
    assert ledger.mak(TID) is None  # cached as "none yet"
    req = HostRequest(MessageKind.SIGN_ON, TID, MID, next(_stans), stamp())
    (resp,) = ledger.answer_many([(req, "0800", TMK, True)])
    assert isinstance(resp, HostResponse) and resp.working_keys is not None
    _pik, mak = keys.unwrap_working_keys(TMK, resp.working_keys)
    assert ledger.mak(TID) == mak
    stored = ledger._db.execute("SELECT mak FROM keys WHERE tid=?", (TID,)).fetchone()[0]
    assert bytes(stored) == mak

    # A sign-on whose transaction rolls back leaves the committed key in force.
    class Boom(CountertopError):
        pass

    again = HostRequest(MessageKind.SIGN_ON, TID, MID, next(_stans), stamp())
    with pytest.raises(Boom), ledger._lock, ledger._tx() as db:
        ledger._answer(db, again, "0800", TMK, True)
        raise Boom("crash before commit")
    assert ledger.mak(TID) == mak


@pytest.fixture
def acquirer(tmp_path: Path) -> Iterator[ReferenceAcquirer]:
    acq = ReferenceAcquirer(
        "127.0.0.1", 0, "iso87", tmp_path / "acq.db", {TID: TMK}, {TID: MID}, control_port=0
    )
    acq.start()
    yield acq
    acq.stop()


def _signed_on_link(acq: ReferenceAcquirer) -> HostLink:
    link = HostLink("127.0.0.1", acq.port, acq.dialect, connect_timeout=1.0, response_timeout=5.0)
    resp = link.exchange(HostRequest(MessageKind.SIGN_ON, TID, MID, next(_stans), stamp()))
    assert resp.working_keys is not None
    link.set_mak(keys.unwrap_working_keys(TMK, resp.working_keys)[1])
    return link


def test_submit_many_pipelined_answers_match_and_are_booked_once(
    acquirer: ReferenceAcquirer,
) -> None:
    with _signed_on_link(acquirer) as link:
        reqs = [sale(1000 + 100 * i) for i in range(200)]
        answers = [f.result() for f in link.submit_many(reqs)]
        assert [a.stan for a in answers] == [r.stan for r in reqs]
        assert all(a.response_code == "00" for a in answers)
        # the same 200 again (a resend after a lost window): replayed, nothing booked twice
        again = [f.result() for f in link.submit_many(reqs)]
        assert [a.rrn for a in again] == [a.rrn for a in answers]
    payments = [r for r in acquirer.ledger() if r["type"] == "sale"]
    assert len(payments) == 200


def test_submit_many_refuses_a_duplicate_stan_alone(acquirer: ReferenceAcquirer) -> None:
    with _signed_on_link(acquirer) as link:
        a = sale(1000)
        b = sale(1100, stan=a.stan, at=a.transmitted_at)
        c = sale(1200)
        fa, fb, fc = link.submit_many([a, b, c])
        with pytest.raises(NotSent, match="already outstanding"):
            fb.result()
        assert fa.result().response_code == "00" and fc.result().response_code == "00"


def test_drop_response_in_a_group_is_committed_and_never_answered(
    acquirer: ReferenceAcquirer,
) -> None:
    with _signed_on_link(acquirer) as link:
        acquirer.set_fault("drop_response", count=1)
        link.response_timeout = 0.5
        futs = link.submit_many([sale(1000 + 100 * i) for i in range(5)])
        outcomes = [f.exception() for f in futs]
    assert sum(e is not None for e in outcomes) == 1  # one answer dropped…
    assert len([r for r in acquirer.ledger() if r["type"] == "sale"]) == 5  # …all five booked
