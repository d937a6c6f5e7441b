"""The reference acquirer's decisions and books, driven over a real link."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.cli import main as cli_main
from appliance.errors import MacError
from appliance.host.link import HostLink
from appliance.host.messages import (
    CardFields,
    HostRequest,
    HostResponse,
    MessageKind,
    OriginalRef,
    SettlementTotals,
)
from appliance.sim.acquirer.ledger import DECLINE_PAN, decide_payment
from appliance.sim.acquirer.server import ReferenceAcquirer, control
from tests.integration.test_host_link import (
    CARD,
    MID,
    TID,
    TMK,
    _stans,
    make_link,
    sale,
    sign_on,
    stamp,
)


@pytest.fixture(params=["iso87", "cup"])
def acquirer(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ReferenceAcquirer]:
    acq = ReferenceAcquirer(
        "127.0.0.1", 0, request.param, tmp_path / "acq.db", {TID: TMK}, {TID: MID}
    )
    acq.start()
    yield acq
    acq.stop()


@pytest.fixture
def link(acquirer: ReferenceAcquirer) -> Iterator[HostLink]:
    lk = make_link(acquirer)
    sign_on(lk)
    yield lk
    lk.close()


def ref(req: HostRequest, resp: HostResponse, kind: MessageKind = MessageKind.SALE) -> OriginalRef:
    assert req.amount is not None
    return OriginalRef(
        kind, req.stan, req.transmitted_at, req.amount, resp.rrn, resp.auth_code, req.batch
    )


def follow_up(kind: MessageKind, original: OriginalRef, amount: int, **kw: object) -> HostRequest:
    return HostRequest(
        kind,
        TID,
        MID,
        next(_stans),
        stamp(),
        amount=amount,
        card=CARD,
        batch=1,
        original=original,
        **kw,
    )  # type: ignore[arg-type]


def reversal_of(
    req: HostRequest,
    resp: HostResponse,
    kind: MessageKind = MessageKind.SALE,
    *,
    repeat: bool = False,
    at: datetime | None = None,
) -> HostRequest:
    assert req.amount is not None
    return HostRequest(
        MessageKind.REVERSAL,
        TID,
        MID,
        req.stan,
        at or stamp(),
        repeat=repeat,
        amount=req.amount,
        batch=req.batch,
        original=ref(req, resp, kind),
    )


def row(acq: ReferenceAcquirer, stan: int, typ: str = "sale") -> dict[str, object]:
    rows = [r for r in acq.ledger() if r["stan"] == stan and r["type"] == typ]
    assert len(rows) == 1, rows
    return rows[0]


@pytest.mark.parametrize(
    ("amount", "pan", "code"),
    [
        (1000, CARD.pan, "00"),
        (1051, CARD.pan, "51"),
        (99951, CARD.pan, "51"),
        (1054, CARD.pan, "54"),
        (1061, CARD.pan, "61"),
        (1000, DECLINE_PAN, "05"),
        (0, CARD.pan, "13"),
    ],
)
def test_the_decision_table(amount: int, pan: str, code: str) -> None:
    assert decide_payment(amount, pan) == code


def test_declines_are_recorded_as_declined_without_auth_code(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    req = sale(1051)
    resp = link.exchange(req)
    assert resp.response_code == "51" and resp.auth_code is None
    r = row(acquirer, req.stan)
    assert r["status"] == "declined" and r["response_code"] == "51"
    assert r["masked_pan"] == "621234******1232" and r["scheme"] == "UNIONPAY"


def test_a_request_sent_twice_is_charged_once_and_answered_the_same(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    req = sale(4321)
    first, second = link.exchange(req), link.exchange(req)
    assert (first.rrn, first.auth_code, first.response_code) == (
        second.rrn,
        second.auth_code,
        second.response_code,
    )
    assert row(acquirer, req.stan)["amount"] == 4321
    # Same STAN at another transmission time is a different message (STANs wrap daily).
    other = link.exchange(replace(req, transmitted_at=stamp()))
    assert other.rrn != first.rrn


def test_a_void_marks_the_original_voided_once(acquirer: ReferenceAcquirer, link: HostLink) -> None:
    s = sale(1500)
    sr = link.exchange(s)
    v = follow_up(MessageKind.VOID, ref(s, sr), 1500)
    assert link.exchange(v).approved
    assert row(acquirer, s.stan)["status"] == "voided"
    again = follow_up(MessageKind.VOID, ref(s, sr), 1500)
    assert link.exchange(again).response_code == "12"


def test_a_void_of_an_unknown_sale_is_25_and_of_a_wrong_amount_64(link: HostLink) -> None:
    ghost = OriginalRef(MessageKind.SALE, 999_999, stamp(), 100)
    assert link.exchange(follow_up(MessageKind.VOID, ghost, 100)).response_code == "25"
    s = sale(1500)
    sr = link.exchange(s)
    assert link.exchange(follow_up(MessageKind.VOID, ref(s, sr), 1400)).response_code == "64"


def test_refunds_may_not_exceed_what_is_left_of_the_original(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    s = sale(3000)
    sr = link.exchange(s)
    assert link.exchange(follow_up(MessageKind.REFUND, ref(s, sr), 2000)).approved
    assert link.exchange(follow_up(MessageKind.REFUND, ref(s, sr), 1001)).response_code == "13"
    assert link.exchange(follow_up(MessageKind.REFUND, ref(s, sr), 1000)).approved
    assert row(acquirer, s.stan)["refunded"] == 3000
    ghost = OriginalRef(MessageKind.SALE, 999_998, stamp(), 100)
    assert link.exchange(follow_up(MessageKind.REFUND, ghost, 100)).response_code == "25"


def test_a_reversal_marks_the_original_reversed_and_repeats_change_nothing(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    s = sale(2200)
    sr = link.exchange(s)
    rev = reversal_of(s, sr)
    assert link.exchange(rev).approved
    assert row(acquirer, s.stan)["status"] == "reversed"
    assert link.exchange(replace(rev, repeat=True)).approved
    assert [r["status"] for r in acquirer.ledger() if r["stan"] == s.stan] == ["reversed"]


def test_a_reversal_of_an_unknown_transaction_is_25(link: HostLink) -> None:
    ghost = HostRequest(MessageKind.SALE, TID, MID, 999_997, stamp(), amount=100, card=CARD)
    rev = reversal_of(ghost, HostResponse(MessageKind.SALE, TID, 999_997, "00"))
    assert link.exchange(rev).response_code == "25"


def test_reversing_a_void_restores_the_sale(acquirer: ReferenceAcquirer, link: HostLink) -> None:
    s = sale(1700)
    sr = link.exchange(s)
    v = follow_up(MessageKind.VOID, ref(s, sr), 1700)
    vr = link.exchange(v)
    assert link.exchange(reversal_of(v, vr, MessageKind.VOID)).approved
    assert row(acquirer, s.stan)["status"] == "approved"
    assert row(acquirer, v.stan, "void")["status"] == "reversed"


def test_an_advice_records_an_approved_charge_or_declines_by_the_same_rules(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    ok = replace(sale(800), kind=MessageKind.ADVICE)
    bad = replace(sale(854), kind=MessageKind.ADVICE)
    assert link.exchange(ok).approved
    assert link.exchange(bad).response_code == "54"
    assert row(acquirer, ok.stan, "advice")["status"] == "approved"
    assert link.exchange(replace(ok, repeat=True)).approved
    assert len([r for r in acquirer.ledger() if r["stan"] == ok.stan]) == 1


def _settle(lk: HostLink, totals: SettlementTotals, batch: int = 1) -> HostResponse:
    return lk.exchange(
        HostRequest(
            MessageKind.SETTLEMENT, TID, MID, next(_stans), stamp(), batch=batch, totals=totals
        )
    )


def test_settlement_balances_against_the_hosts_own_totals(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    s1, s2, s3 = sale(1000), sale(2000), sale(1051)  # the last is declined
    r1 = link.exchange(s1)
    for s in (s2, s3):
        link.exchange(s)
    link.exchange(follow_up(MessageKind.REFUND, ref(s1, r1), 300))
    balanced = _settle(link, SettlementTotals(2, 3000, 1, 300))
    assert balanced.response_code == "00" and balanced.settlement_balanced is True
    off = _settle(link, SettlementTotals(2, 3100, 1, 300))
    assert off.response_code == "95" and off.settlement_balanced is False
    assert [x["response_code"] for x in acquirer.books.settlements()] == ["00", "95"]


def test_after_a_batch_upload_the_final_settlement_uses_the_uploaded_lines(
    link: HostLink,
) -> None:
    s1 = sale(1000)
    r1 = link.exchange(s1)
    assert _settle(link, SettlementTotals(2, 1500, 0, 0), batch=1).response_code == "95"
    # The terminal uploads its view of the batch: the sale the host knows, one it does not.
    offline = HostRequest(MessageKind.SALE, TID, MID, 555, stamp(), amount=500)
    lines = [(s1, r1), (offline, HostResponse(MessageKind.SALE, TID, 555, "00"))]
    for req, resp in lines:
        up = follow_up(MessageKind.BATCH_UPLOAD, ref(req, resp), req.amount or 0)
        assert link.exchange(up).approved
    assert _settle(link, SettlementTotals(2, 1500, 0, 0), batch=1).response_code == "00"
    assert _settle(link, SettlementTotals(2, 1600, 0, 0), batch=1).response_code == "95"


def test_an_unknown_terminal_is_refused_03(acquirer: ReferenceAcquirer) -> None:
    with make_link(acquirer) as lk:
        resp = lk.exchange(HostRequest(MessageKind.SIGN_ON, "99999999", MID, 1, stamp()))
    assert resp.response_code == "03" and resp.working_keys is None


def test_a_request_with_a_bad_mac_is_not_acted_on(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    acquirer.set_fault("bad_mac", count=1)  # only the answer is damaged: the host did act
    req = sale()
    with pytest.raises(MacError):
        link.exchange(req)
    assert row(acquirer, req.stan)["status"] == "approved"


def test_statement_lists_the_days_approved_money_moves(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    s = sale(1234)
    link.exchange(s)
    link.exchange(sale(1051))
    today = datetime.now(UTC).date()
    rows = acquirer.books.statement(today)
    assert [(r["stan"], r["amount"], r["type"]) for r in rows] == [(s.stan, 1234, "sale")]
    assert "pan" not in rows[0] and rows[0]["masked_pan"].count("*") == 6


@pytest.fixture
def running(tmp_path: Path) -> Iterator[ReferenceAcquirer]:
    acq = ReferenceAcquirer(
        "127.0.0.1", 0, "iso87", tmp_path / "acq.db", {TID: TMK}, control_port=0
    )
    acq.start()
    yield acq
    acq.stop()


def test_the_control_channel_switches_faults(running: ReferenceAcquirer) -> None:
    assert running.control_port is not None
    assert control("127.0.0.1", running.control_port, "PING") == "PONG"
    control("127.0.0.1", running.control_port, "FAULT delay seconds=3 count=2")
    assert (
        json.loads(control("127.0.0.1", running.control_port, "FAULTS"))["delay"]["remaining"] == 2
    )
    control("127.0.0.1", running.control_port, "CLEAR")
    assert running.faults.describe() == {}


def test_the_cli_switches_faults_and_lists_the_ledger(
    running: ReferenceAcquirer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with make_link(running) as lk:
        sign_on(lk)
        lk.exchange(sale(777))
    port = str(running.port)
    cport = str(running.control_port)
    assert (
        cli_main(["acquirer", "fault", "latency", "ms=5", "--port", port, "--control-port", cport])
        == 0
    )
    assert running.faults.active("latency")
    assert cli_main(["acquirer", "fault", "--clear", "--port", port, "--control-port", cport]) == 0
    assert not running.faults.active("latency")
    assert cli_main(["acquirer", "fault", "bogus", "--control-port", cport]) == 2
    capsys.readouterr()
    assert cli_main(["acquirer", "ledger", "--json", "--ledger", str(tmp_path / "acq.db")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["amount"], r["status"]) for r in rows] == [(777, "approved")]
    assert {"tid", "stan", "rrn", "amount", "status"} <= set(rows[0])


def test_card_fields_never_reach_the_ledger_in_clear(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    card = CardFields(pan="4111111111111111", expiry="2812", track2="4111111111111111D2812")
    link.exchange(sale(100, card=card))
    raw = acquirer.ledger_path.read_bytes() + b"".join(
        p.read_bytes() for p in acquirer.ledger_path.parent.glob("*.db-wal")
    )
    assert b"4111111111111111" not in raw


def test_the_bench_command_measures_codec_and_link(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["acquirer", "bench", "-n", "5", "--window", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"encode_us", "decode_us", "exchange_ms_p50", "pipelined_per_s"} <= set(out)


def test_a_sale_overtaken_by_its_reversal_is_never_charged(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    s = sale(990)
    rev = reversal_of(s, HostResponse(MessageKind.SALE, TID, s.stan, "00"))
    assert link.exchange(rev).response_code == "25"  # the host has not seen the sale yet
    link.exchange(s)  # …which then arrives late
    assert row(acquirer, s.stan)["status"] == "reversed"
    assert acquirer.books.statement(datetime.now(UTC).date()) == []
