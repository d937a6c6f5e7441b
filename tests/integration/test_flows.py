"""Sale, void and refund over loopback against the reference acquirer, with every fault.

Each test ends with the terminal journal and the acquirer ledger agreeing: nothing charged
that the terminal does not know as approved (or owe as a reversal).
"""

from __future__ import annotations

import pytest

from appliance.domain.transactions import TxnState
from appliance.errors import Refused, ReversalOwed
from tests.shop import SUPERVISOR, Shop, agreement


def test_sale_is_approved_and_journaled(shop: Shop) -> None:
    out = shop.terminal.sale(1250, operator="01")
    assert out.result == "approved"
    t = out.txn
    assert t.state == TxnState.APPROVED and t.rrn and t.auth_code and t.response_code == "00"
    assert t.masked_pan == "476173******0119"
    assert agreement(shop) == []


def test_amount_ending_51_is_declined_for_insufficient_funds(shop: Shop) -> None:
    out = shop.terminal.sale(1251)
    assert (out.result, out.response_code) == ("declined", "51")
    assert "Insufficient funds" in out.message_en and "余额不足" in out.message_zh
    assert out.txn.state == TxnState.DECLINED
    assert agreement(shop) == []


def test_decline_card_is_declined_05(shop: Shop) -> None:
    from drivers.reader import make_reader

    shop.restart(reader=make_reader("mock", mock_card="decline"))
    out = shop.terminal.sale(1000)
    assert (out.result, out.response_code) == ("declined", "05")
    assert agreement(shop) == []


def test_void_marks_the_sale_voided_on_both_sides(shop: Shop) -> None:
    sale = shop.terminal.sale(3000).txn
    out = shop.terminal.void(sale.stan, approver=SUPERVISOR)
    assert out.result == "approved", out.message_en
    assert shop.terminal.journal.get(sale.uuid).state == TxnState.VOIDED
    with pytest.raises(Refused, match="already voided"):
        shop.terminal.void(sale.stan, approver=SUPERVISOR)
    assert agreement(shop) == []


def test_refund_up_to_the_sale_amount_and_no_more(shop: Shop) -> None:
    sale = shop.terminal.sale(5000).txn
    assert shop.terminal.refund(2000, trace=sale.stan, approver=SUPERVISOR).result == "approved"
    assert shop.terminal.refund(3000, rrn=sale.rrn, approver=SUPERVISOR).result == "approved"
    with pytest.raises(Refused, match="refunded in full"):
        shop.terminal.refund(1, trace=sale.stan, approver=SUPERVISOR)
    assert agreement(shop) == []


def test_refund_to_another_card_is_refused(shop: Shop) -> None:
    from drivers.reader import make_reader

    sale = shop.terminal.sale(5000).txn
    shop.restart(reader=make_reader("mock", mock_card="mastercard"))
    with pytest.raises(Refused, match="refunds go to the original card"):
        shop.terminal.refund(100, trace=sale.stan, approver=SUPERVISOR)


@pytest.mark.parametrize("fault", ["drop_request", "drop_response", "delay", "reset", "garbage"])
def test_a_sale_without_a_valid_answer_is_reversed_and_never_charged(
    shop: Shop, fault: str
) -> None:
    shop.acquirer.set_fault(fault, count=1, **({"seconds": 3} if fault == "delay" else {}))
    out = shop.terminal.sale(1800)
    assert out.result == "failed"
    t = shop.terminal.journal.get(out.txn.uuid)
    assert t.state == TxnState.REVERSED, (t.state, shop.terminal.journal.owed())
    assert shop.terminal.journal.owed() == []
    assert agreement(shop) == []
    assert shop.terminal.sale(1900).result == "approved"  # the link recovers
    assert agreement(shop) == []


def test_a_sale_whose_answer_fails_its_mac_is_reversed_then_sent_again_under_fresh_keys(
    shop: Shop,
) -> None:
    shop.acquirer.set_fault("bad_mac", count=1)
    out = shop.terminal.sale(1800)
    assert out.result == "approved", out.message_en
    first = [t for t in shop.terminal.transactions() if t.uuid != out.txn.uuid]
    assert [t.state for t in first] == [TxnState.REVERSED]  # the attempt whose MAC failed
    assert shop.terminal.journal.owed() == []
    assert shop.terminal.status().keys == "ok"
    assert agreement(shop) == []


def test_latency_below_the_timeout_still_approves(shop: Shop) -> None:
    shop.acquirer.set_fault("latency", ms=200)
    assert shop.terminal.sale(700).result == "approved"
    assert agreement(shop) == []


def test_refused_connection_stores_the_sale_offline_within_limits(shop: Shop) -> None:
    shop.acquirer.set_fault("refuse")
    # The terminal connects before the tap, finds the host unreachable and asks the card for
    # an offline approval (TC), which the demo acquirer accepts for store-and-forward.
    out = shop.terminal.sale(2000)
    assert out.result == "stored", out.message_en
    assert out.txn.decision == "TC"
    assert out.txn.state == TxnState.STORED and out.txn.offline
    assert shop.terminal.status().stored_count == 1
    shop.acquirer.clear_faults()
    report = shop.terminal.send_owed()
    assert (report.acknowledged, report.still_owed) == (1, 0)
    t = shop.terminal.journal.get(out.txn.uuid)
    assert t.state == TxnState.APPROVED and t.rrn
    assert shop.terminal.journal.card_blob(t.uuid) is None
    assert agreement(shop) == []


def test_offline_over_the_limit_is_refused_and_says_which_limit(shop: Shop) -> None:
    shop.acquirer.set_fault("refuse")
    out = shop.terminal.sale(50_001)
    assert (out.result, out.limit) == ("refused", "offline_max_amount")
    assert out.code == "offline.refused.offline_max_amount"
    assert "¥500.01 is ¥0.01 above the offline limit of ¥500.00" in out.message_en
    assert out.txn.state == TxnState.NOT_SENT
    shop.acquirer.clear_faults()
    assert agreement(shop) == []


def test_an_undeliverable_reversal_blocks_new_online_payments(shop: Shop) -> None:
    shop.acquirer.set_fault("drop_request", count=2)  # the sale and its first reversal
    out = shop.terminal.sale(1800)
    assert out.result == "failed"
    assert shop.terminal.status().pending_reversals == 1
    shop.acquirer.set_fault("bad_mac")  # reachable, but no valid acknowledgement
    with pytest.raises(ReversalOwed, match="reversal"):
        shop.terminal.sale(100)
    shop.acquirer.clear_faults()
    assert shop.terminal.sale(100).result == "approved"  # reversal delivered first
    assert shop.terminal.status().pending_reversals == 0
    assert agreement(shop) == []


def test_crash_between_send_and_answer_is_reversed_at_restart(shop: Shop) -> None:
    from appliance.domain.transactions import TxnType
    from appliance.host.messages import CardFields, HostRequest, MessageKind

    journal = shop.terminal.journal
    txn = journal.begin(TxnType.SALE, 4200, "CNY", masked_pan="476173******0119")
    req = HostRequest(
        MessageKind.SALE,
        shop.cfg.merchant.tid,
        shop.cfg.merchant.mid,
        txn.stan,
        txn.transmitted_at,
        amount=4200,
        currency="156",
        card=CardFields("4761739001010119", "2812"),
        batch=txn.batch,
    )
    shop.terminal.link.exchange(req)  # the host approves, then the terminal "crashes"
    shop.restart()  # recovery queues the reversal for the PENDING row
    assert shop.terminal.status().pending_reversals == 1
    assert shop.terminal.send_owed().still_owed == 0
    assert journal_state(shop, txn.uuid) == TxnState.REVERSED
    assert agreement(shop) == []


def journal_state(shop: Shop, uuid: str) -> TxnState:
    return shop.terminal.journal.get(uuid).state


def test_repeated_reversal_is_answered_once_not_applied_twice(shop: Shop) -> None:
    shop.acquirer.set_fault("drop_response", count=2)  # sale answer and reversal answer lost
    out = shop.terminal.sale(990)
    assert shop.terminal.status().pending_reversals == 1
    shop.terminal.send_owed()  # 0401 repeat
    assert journal_state(shop, out.txn.uuid) == TxnState.REVERSED
    assert agreement(shop) == []


def test_sign_on_with_a_wrong_tmk_is_refused_by_the_key_check(shop: Shop, tmp_path) -> None:
    from appliance.errors import KeyCheckError

    (shop.cfg.resolve(shop.cfg.keys.tmk_file)).write_text("11" * 16)
    t = shop.restart()
    with pytest.raises(KeyCheckError):
        t.sign_on()
