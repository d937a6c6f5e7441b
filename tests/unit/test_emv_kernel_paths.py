"""Each kernel path over the shipped mock card profiles (in memory, no reader).

Expected bytes are written from the specifications (TTQ C-3 Table 4-5, CDOL1 layout from
the card's own 8C, GENERATE AC P1 coding Book 3 Table 12) rather than read back from code.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from pyemv import tlv as pyemv_tlv

from appliance.emv.kernel import read_emv, with_sequence_counter
from appliance.emv.risk import KernelParams
from appliance.errors import CardReadError, CardRemoved, UnsupportedCard
from drivers.reader.base import ReadContext
from drivers.reader.profile import CardProfile, find_profile, parse_profile

CONTEXT = ReadContext(amount=12_345, txn_date=date(2026, 11, 22))
UN = bytes.fromhex("CAFEBABE")


class Recorder:
    """A transceive over a card session that keeps every command sent."""

    def __init__(self, profile: CardProfile) -> None:
        self.session = profile.session()
        self.sent: list[str] = []

    def __call__(self, apdu: bytes) -> bytes:
        self.sent.append(apdu.hex().upper())
        response = self.session.transceive(apdu)
        if response is None:
            raise CardRemoved("card removed too early")
        return response


def read(card: str | CardProfile, context: ReadContext = CONTEXT):
    profile = card if isinstance(card, CardProfile) else find_profile(card)
    rec = Recorder(profile)
    return read_emv(rec, context, unpredictable_number=UN), rec


def f55(card) -> dict[str, str]:
    return {k: v.hex().upper() for k, v in pyemv_tlv.decode(card.emv_data).items()}


def test_visa_ttq_says_qvsdc_signature_online_cryptogram_and_cdcvm() -> None:
    card, rec = read("visa")
    # PDOL starts with 9F66: GPO data = 83 21 <TTQ> …
    assert rec.sent[2][14:22] == "22804000"
    assert card.kernel == "visa-qvsdc" and card.decision == "ARQC" and card.requested == "ARQC"


def test_visa_ttq_asks_for_cvm_above_the_cvm_limit() -> None:
    _, rec = read("visa-signature", replace(CONTEXT, amount=100_001))
    assert rec.sent[2][14:22] == "22C04000"  # byte 2 b7: CVM required


def test_visa_ttq_drops_the_online_cryptogram_bit_when_it_may_approve_offline() -> None:
    offline = replace(CONTEXT, online=False, params=KernelParams(accept_offline_tc=True))
    card, rec = read("visa", offline)
    assert rec.sent[2][14:22] == "22004000"
    assert (card.decision, card.requested) == ("TC", "TC")


def test_visa_field_55_carries_the_required_tags_from_the_data_used() -> None:
    card, rec = read("visa")
    tags = f55(card)
    for tag in ("9F26", "9F27", "9F10", "9F37", "9F36", "95", "9A", "9C", "9F02", "5F2A",
                "82", "9F1A", "9F03", "9F33", "9F34", "9F35", "9F1E", "84", "9F09", "9F66",
                "9F6C"):  # fmt: skip
        assert tag in tags, tag
    assert tags["9F26"] == "1A2B3C4D5E6F7081" and tags["9F27"] == "80"  # the card's
    assert tags["9F37"] == "CAFEBABE" and tags["9F02"] == "000000012345"  # what it was sent
    assert tags["9F66"] == rec.sent[2][14:22]  # the TTQ actually sent
    assert tags["95"] == card.tvr == "8000000000"  # ODA not performed, nothing else
    assert tags["9F35"] == "21" and tags["9F33"] == "002800" and tags["9F09"] == "0096"
    assert list(card.field55_tags) == list(tags)


def test_the_sequence_counter_is_added_to_field_55_from_the_stan() -> None:
    card, _ = read("visa")
    tags = pyemv_tlv.decode(with_sequence_counter(card.emv_data, 42))
    assert tags["9F41"].hex() == "00000042"


def test_a_card_without_9f27_gets_its_decision_from_the_cvr() -> None:
    card, _ = read("visa-no-cid")
    assert card.decision == "ARQC" and f55(card)["9F27"] == "80"


def test_visa_aac_from_gpo_is_the_card_declining() -> None:
    card, _ = read("visa-aac")
    assert card.decision == "AAC"


def test_an_expired_card_sets_the_expired_tvr_bit_and_is_still_read() -> None:
    card, _ = read("visa-expired")
    assert card.expired and card.tvr == "8040000000" and card.decision == "ARQC"


def test_a_card_not_yet_effective_sets_its_bit() -> None:
    card, _ = read("visa-not-effective")
    assert card.expired and card.tvr == "8020000000"


def test_ctq_online_pin_ends_the_read_with_a_clear_reason() -> None:
    with pytest.raises(CardReadError) as info:
        read("visa-pin-required")
    assert info.value.code == "card.pin_required"


def test_above_the_cvm_limit_a_card_without_cvm_is_refused() -> None:
    with pytest.raises(CardReadError) as info:
        read("visa", replace(CONTEXT, amount=100_001))
    assert info.value.code == "card.cvm_failed" and info.value.params["limit"] == "1,000.00"


def test_above_the_cvm_limit_signature_and_device_cvm_are_accepted() -> None:
    over = replace(CONTEXT, amount=100_001)
    assert read("visa-signature", over)[0].cvm == "1E0000"
    assert read("visa-cdcvm", over)[0].cvm == "010002"


def test_above_the_contactless_limit_the_kernel_refuses_before_gpo() -> None:
    with pytest.raises(CardReadError) as info:
        read("visa", replace(CONTEXT, amount=1_000_001))
    assert info.value.code == "card.over_contactless_limit"


def test_a_needed_record_failing_says_use_another_card() -> None:
    with pytest.raises(CardReadError) as info:
        read("visa-record-fails")
    assert info.value.code == "card.unreadable"


def test_an_oda_only_record_failing_is_skipped_and_noted() -> None:
    card, rec = read("mastercard-oda-record-fails")
    assert "00B2011C00" in rec.sent and card.decision == "ARQC"
    assert any("record 1 of file 3" in note for note in card.notes)


def test_mastercard_sends_generate_ac_with_cdol1_after_the_records() -> None:
    card, rec = read("mastercard")
    genac = rec.sent[5]
    # P1 80 = ARQC, no CDA. CDOL1: 9F02(6) 9F03(6) 9F1A(2) 95(5) 5F2A(2) 9A(3) 9C(1) 9F37(4).
    assert genac[:10] == "80AE80001D" and genac.endswith("00")
    data = genac[10:-2]
    assert data == (
        "000000012345" + "000000000000" + "0156" + card.tvr + "0156" + "261122" + "00" + "CAFEBABE"
    )
    assert (card.kernel, card.decision) == ("mastercard", "ARQC")
    tags = f55(card)
    assert tags["9F26"] == "8E19BF6A2C1C1D7B" and tags["9F36"] == "0017"
    assert tags["9F10"] == "0110A00003220000000000000000000000FF" and "9F66" not in tags


def test_mastercard_format_2_answer_is_read() -> None:
    card, _ = read("mastercard-format2")
    assert card.decision == "ARQC" and f55(card)["9F26"] == "1122334455667788"


def test_mastercard_aac_from_generate_ac_is_the_card_declining() -> None:
    assert read("mastercard-aac")[0].decision == "AAC"


def test_mastercard_asks_for_a_tc_when_it_may_approve_offline() -> None:
    offline = replace(CONTEXT, online=False, params=KernelParams(accept_offline_tc=True))
    card, rec = read("mastercard", offline)
    assert rec.sent[5].startswith("80AE4000") and card.decision == "TC"


def test_mastercard_over_the_floor_limit_asks_online_even_when_offline() -> None:
    offline = replace(
        CONTEXT, amount=60_000, online=False, params=KernelParams(accept_offline_tc=True)
    )
    card, rec = read("mastercard", offline)
    assert rec.sent[5].startswith("80AE8000") and "floor_limit_exceeded" not in card.notes
    assert card.tvr == "8000008000"


def test_unusual_cdol1_tags_get_their_values_or_zeros() -> None:
    card, rec = read("mastercard-cdol-unusual")
    data = rec.sent[5][10:-2]
    # 9F02(4) 9F03(6) 9F1A(2) 95(5) 5F2A(2) 9A(3) 9C(1) 9F37(4) 9F35(1) 9F45(2) 9F4C(8)
    # 9F34(3) 9F21(3) 9F7C(20) DF8130(1)
    expected = (
        "00012345" + "00" * 6 + "0156" + card.tvr + "0156" + "261122" + "00" + "CAFEBABE"
        + "21" + "0000" + "00" * 8 + card.cvm + "000000" + "00" * 20 + "00"
    )  # fmt: skip
    assert data == expected


def test_mastercard_generate_ac_failing_says_use_another_card() -> None:
    with pytest.raises(CardReadError) as info:
        read("mastercard-genac-fails")
    assert info.value.code == "card.unreadable"


def test_mastercard_above_the_cvm_limit_follows_its_cvm_list() -> None:
    card, _ = read("mastercard", replace(CONTEXT, amount=150_000))
    assert (card.cvm_method, card.cvm) == ("signature", "1E0300")
    assert read("mastercard-cdcvm", replace(CONTEXT, amount=150_000))[0].cvm == "010002"
    with pytest.raises(CardReadError) as info:
        read("mastercard-pin-only", replace(CONTEXT, amount=150_000))
    assert info.value.code == "card.pin_required"


def test_a_card_answering_a_higher_cryptogram_than_asked_is_refused() -> None:
    raw = {
        "name": "mc-tc-to-arqc",
        "apdus": [{"command": "80AE80*", "response": "800F40001701020304050607080110A0009000"}]
        + [
            {"command": r.pattern, "response": r.responses[0].hex()}
            for r in find_profile("mastercard").rules
        ],
    }
    with pytest.raises(CardReadError, match="TC to a request for ARQC"):
        read(parse_profile(raw))


def test_unionpay_runs_the_visa_like_path() -> None:
    card, rec = read("unionpay")
    assert card.kernel == "unionpay-qpboc" and card.decision == "ARQC"
    assert f55(card)["9F09"] == "0030" and not any(s.startswith("80AE") for s in rec.sent)


def test_the_kernel_identifier_chooses_over_the_rid() -> None:
    card, rec = read("visa-kernel-id")
    # The first entry is a Visa AID marked kernel 4 (not run here); the second kernel 3.
    assert rec.sent[1] == "00A4040007A000000999101000"
    assert card.kernel == "visa-qvsdc" and card.scheme == "VISA"


def test_an_unsupported_kernel_says_use_another_card_or_payment_method() -> None:
    with pytest.raises(UnsupportedCard) as info:
        read("unsupported-amex")
    assert info.value.code == "card.unsupported_kernel"
    assert "another card or payment method" in str(info.value)


@pytest.mark.parametrize(
    ("sw", "code"),
    [
        ("6985", "card.gpo_conditions"),
        ("6984", "card.gpo_blocked"),
        ("6986", "card.gpo_not_allowed"),
        ("6A81", "card.gpo_unsupported"),
    ],
)
def test_gpo_refusals_are_explained_in_words(sw: str, code: str) -> None:
    raw = {
        "name": "gpo-refuses",
        "apdus": [{"command": "80A80000*", "response": sw}]
        + [
            {"command": r.pattern, "response": r.responses[0].hex()}
            for r in find_profile("visa").rules
        ],
    }
    with pytest.raises(CardReadError) as info:
        read(parse_profile(raw))
    assert info.value.code == code and info.value.params["sw"] == sw
    assert "present it again" not in str(info.value)
