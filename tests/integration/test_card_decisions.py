"""The card's decision and the kernel's checks, end to end against the reference acquirer.

Expired cards go online with the TVR bit set and the issuer declines them (54); offline they
are refused. A card that declines (AAC) is final: nothing goes to the host. Limits apply
before the tap and to the card's CVM. The stub's signature line follows 9F34.
"""

from __future__ import annotations

from typing import Any

import pytest
from pyemv import tlv as pyemv_tlv

from appliance.domain.receipts import MerchantInfo, Signature, build_receipt
from appliance.domain.transactions import TxnState
from appliance.errors import Refused
from drivers.reader.mock import MockReader
from tests.shop import Shop, agreement


def use_card(shop: Shop, card: str) -> MockReader:
    reader = MockReader(card)
    shop.restart(reader=reader)
    return reader


def capture_requests(shop: Shop) -> list[Any]:
    sent: list[Any] = []
    link = shop.terminal.link
    real = link.exchange

    def exchange(req: Any, timeout: float | None = None) -> Any:
        sent.append(req)
        return real(req, timeout)

    link.exchange = exchange  # type: ignore[method-assign]
    return sent


def test_an_expired_card_goes_online_with_its_tvr_bit_and_is_declined_54(shop: Shop) -> None:
    use_card(shop, "visa-expired")
    sent = capture_requests(shop)
    out = shop.terminal.sale(2_000)
    assert (out.result, out.response_code) == ("declined", "54")
    sale = [r for r in sent if r.card is not None][-1]
    tvr = pyemv_tlv.decode(sale.card.emv_data)["95"]
    assert tvr[1] & 0x40  # byte 2 bit 7: expired application
    t = shop.terminal.journal.get(out.txn.uuid)
    assert (t.decision, t.tvr, t.state) == ("ARQC", "8040000000", TxnState.DECLINED)
    assert agreement(shop) == []


def test_an_expired_card_is_refused_offline(shop: Shop) -> None:
    use_card(shop, "visa-expired")
    shop.acquirer.set_fault("refuse")
    out = shop.terminal.sale(2_000)
    assert (out.result, out.code) == ("refused", "card.offline_expired")
    assert out.txn.state == TxnState.NOT_SENT and shop.terminal.status().stored_count == 0
    assert "过期" in out.message_zh
    shop.acquirer.clear_faults()
    assert agreement(shop) == []


def test_a_card_declining_with_aac_sends_nothing_to_the_host(shop: Shop) -> None:
    for card in ("visa-aac", "mastercard-aac"):
        use_card(shop, card)
        before = len(shop.acquirer.ledger())
        out = shop.terminal.sale(2_000)
        assert (out.result, out.code, out.response_code) == (
            "declined",
            "card.declined_by_card",
            "Z1",
        )
        assert out.txn.decision == "AAC" and out.txn.state == TxnState.DECLINED
        assert len(shop.acquirer.ledger()) == before
    assert agreement(shop) == []


def test_a_mastercard_sale_carries_the_cryptogram_from_generate_ac(shop: Shop) -> None:
    use_card(shop, "mastercard")
    sent = capture_requests(shop)
    out = shop.terminal.sale(2_000)
    assert out.result == "approved"
    f55 = pyemv_tlv.decode([r for r in sent if r.card is not None][-1].card.emv_data)
    assert f55["9F26"].hex().upper() == "8E19BF6A2C1C1D7B" and f55["9F27"] == b"\x80"
    assert f55["9F41"].hex() == f"{out.txn.stan:08d}"


def test_above_the_contactless_limit_the_sale_is_refused_before_the_tap(shop: Shop) -> None:
    reader = use_card(shop, "visa")
    with pytest.raises(Refused, match="contactless limit"):
        shop.terminal.sale(1_000_001)
    assert reader.reads == 0


def test_above_the_cvm_limit_a_card_without_cvm_is_refused_and_nothing_is_journaled(
    shop: Shop,
) -> None:
    use_card(shop, "visa")
    out = shop.terminal.sale(100_001)
    assert (out.result, out.code) == ("failed", "card.cvm_failed")
    assert out.txn is None and "1,000.00" in out.message_zh


def has_signature_line(txn: Any) -> bool:
    doc = build_receipt(None, txn, MerchantInfo(name="Shop", mid="1" * 15, tid="1" * 8))
    return any(isinstance(block, Signature) for block in doc.blocks)


@pytest.mark.parametrize(
    ("card", "amount", "cvm", "signature"),
    [
        ("visa-signature", 2_000, "1E0000", True),  # below the CVM limit, the card asks one
        ("visa-signature", 150_000, "1E0000", True),
        ("visa-cdcvm", 150_000, "010002", False),  # above the limit, verified on the phone
        ("visa", 2_000, "1F0002", False),
        ("mastercard", 150_000, "1E0300", True),  # its CVM list: signature
    ],
)
def test_the_stub_signature_line_follows_the_card_s_cvm_result(
    shop: Shop, card: str, amount: int, cvm: str, signature: bool
) -> None:
    use_card(shop, card)
    out = shop.terminal.sale(amount)
    assert out.result == "approved", out.message_en
    txn = shop.terminal.journal.get(out.txn.uuid)
    assert txn.cvm == cvm
    assert has_signature_line(txn) is signature
