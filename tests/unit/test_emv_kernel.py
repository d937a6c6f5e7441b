"""The EMV contactless kernel over in-memory cards (no reader, no threads)."""

from __future__ import annotations

from datetime import date

import pytest
from pyemv import tlv as pyemv_tlv

from appliance.emv.kernel import INTERNAL_ERROR, build_dol_data, read_emv
from appliance.errors import CardReadError, CardRemoved, UnsupportedCard
from drivers.reader.base import ReadContext
from drivers.reader.profile import CardProfile, find_profile, parse_profile

CONTEXT = ReadContext(amount=12_345, txn_date=date(2026, 11, 22))
UN = bytes.fromhex("CAFEBABE")
PPSE = "00A404000E325041592E5359532E444446303100"


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


def read(profile: CardProfile) -> tuple:
    rec = Recorder(profile)
    return read_emv(rec, CONTEXT, unpredictable_number=UN), rec


def with_rule(base: str, command: str, response: str | list[str]) -> CardProfile:
    """The shipped profile ``base`` with one rule put first (it wins the match)."""
    raw = {
        "name": f"{base}-variant",
        "apdus": [{"command": command, "response": response}]
        + [
            {"command": r.pattern, "response": [x.hex().upper() for x in r.responses]}
            for r in find_profile(base).rules
        ],
    }
    return parse_profile(raw)


def tlv(tag: str, value: str) -> str:
    n = len(value) // 2
    return tag + (f"{n:02X}" if n < 128 else f"81{n:02X}") + value


def test_a_visa_card_reads_in_four_apdus_with_pan_expiry_and_track2():
    card, rec = read(find_profile("visa"))
    assert card.pan == "4761739001010119"
    assert card.expiry == "3112"
    assert card.track2.startswith("4761739001010119D3112")
    assert (card.scheme, card.aid, card.label) == ("VISA", "A0000000031010", "VISA CREDIT")
    assert card.pan_sequence == "01"
    assert card.apdu_count == 4 == len(rec.sent)
    assert rec.sent[0] == PPSE


def test_the_gpo_carries_pdol_data_in_the_card_s_order_and_lengths():
    _, rec = read(find_profile("visa"))
    gpo = bytes.fromhex(rec.sent[2])
    # PDOL: 9F66(4) 9F02(6) 9F03(6) 9F1A(2) 95(5) 5F2A(2) 9A(3) 9C(1) 9F37(4) = 33 bytes
    assert gpo[:4].hex().upper() == "80A80000"
    assert gpo[4] == 35 and gpo[5:7] == bytes([0x83, 33]) and gpo[-1] == 0
    data = gpo[7:-1].hex().upper()
    assert data == (
        "22804000" + "000000012345" + "000000000000" + "0156" + "0000000000" + "0156"
        "261122" + "00" + "CAFEBABE"
    )


def test_field_55_holds_card_cryptogram_and_terminal_data():
    card, _ = read(find_profile("visa"))
    f55 = pyemv_tlv.decode(card.emv_data)
    assert f55["9F26"] == bytes.fromhex("1A2B3C4D5E6F7081")
    assert f55["9F27"] == b"\x80"
    assert f55["9F02"] == bytes.fromhex("000000012345")
    assert f55["9F37"] == UN
    assert f55["5F2A"] == f55["9F1A"] == bytes.fromhex("0156")
    assert f55["9A"] == bytes.fromhex("261122")
    assert f55["84"] == bytes.fromhex("A0000000031010")
    assert "57" not in f55 and "5A" not in f55  # the PAN travels in field 2/35, not 55


def test_a_mastercard_reads_pan_from_records_after_a_format_1_gpo():
    card, rec = read(find_profile("mastercard"))
    assert (card.pan, card.expiry, card.scheme) == ("5413330089010434", "3012", "MASTERCARD")
    assert card.pan_sequence == "00"
    assert rec.sent[3:5] == ["00B2010C00", "00B2011400"]
    assert rec.sent[5].startswith("80AE8000")  # GENERATE AC asking for an ARQC


def test_unionpay_picks_the_application_with_the_best_priority():
    card, rec = read(find_profile("unionpay"))
    assert card.aid == "A000000333010101" and card.label == "UICC DEBIT"
    assert card.pan == "6234567890123456780" and card.scheme == "UNIONPAY"
    assert rec.sent[1] == "00A4040008A00000033301010100"


def test_a_blocked_first_application_falls_back_to_the_next():
    profile = with_rule("unionpay", "00A4040008A00000033301010100", "6283")
    extra = find_profile("unionpay").rules[1]
    raw_rules = [{"command": r.pattern, "response": r.responses[0].hex()} for r in profile.rules]
    raw_rules.insert(
        1, {"command": "00A4040008A00000033301010200", "response": extra.responses[0].hex()}
    )
    card, rec = read(parse_profile({"name": "x", "apdus": raw_rules}))
    assert rec.sent[1:3] == ["00A4040008A00000033301010100", "00A4040008A00000033301010200"]
    assert card.pan == "6234567890123456780"


def test_a_card_without_ppse_is_unsupported():
    with pytest.raises(UnsupportedCard, match="no contactless payment application"):
        read(with_rule("visa", PPSE, "6A82"))


def test_a_card_of_an_unknown_scheme_is_unsupported():
    ppse = tlv("6F", tlv("84", "325041592E5359532E4444463031") + tlv("A5", tlv(
        "BF0C", tlv("61", tlv("4F", "A0000009990101") + tlv("87", "01"))
    ))) + "9000"  # fmt: skip
    with pytest.raises(UnsupportedCard, match="not supported here") as info:
        read(with_rule("visa", PPSE, ppse))
    assert info.value.code == "card.unsupported_kernel"


def test_wrong_length_answers_are_retried_with_the_right_le():
    card, rec = read(find_profile("wrong-length"))
    assert card.pan == "4761739001010119" and card.apdu_count == 6
    gpo_with_le, gpo_without_le = rec.sent[2], rec.sent[3]
    assert gpo_with_le.endswith("00") and gpo_without_le == gpo_with_le[:-2]
    assert rec.sent[4:] == ["00B2010C00", "00B2010C12"]  # 6C12: resend with Le=0x12


def test_61xx_answers_are_completed_with_get_response():
    full = find_profile("visa").rules[4].responses[0]
    body = full[:-2].hex().upper()
    profile = find_profile("visa")
    raw = {
        "name": "chained",
        "apdus": [
            {"command": "00B2010C*", "response": body[:10] + "6100"},
            {"command": "00C0000000", "response": body[10:] + "9000"},
        ]
        + [{"command": r.pattern, "response": r.responses[0].hex()} for r in profile.rules[:4]],
    }
    card, rec = read(parse_profile(raw))
    assert card.expiry == "3112" and rec.sent[-1] == "00C0000000"


@pytest.mark.parametrize(
    ("command", "response", "reason"),
    [
        ("00B2010C*", "6A83", "reading record 1 of file 1 failed"),
        ("80A80000*", "6A80", "starting the payment"),
        ("00B2010C*", "70035F2403311231" + "9000", "malformed"),  # length too short
        ("00B2010C*", "7005" + "5F2403311231" + "9000", "malformed"),  # trailing bytes
        ("00B2010C*", "7006" + "5F2403311231" + "00FF" + "9000", "malformed"),
        ("00B2010C*", "7006" + "5F2403311231" + "7000" + "9000", "malformed record"),
        ("00B2010C*", "7103" + "010203" + "9000", "malformed record"),  # not a 70 template
        ("80A80000*", "7703" + "9F2700" + "9000", "AIP"),  # no 82
        ("80A80000*", "9000", "empty processing options"),
        ("80A80000*", "8003" + "200008" + "9000", "file locator"),  # AFL not 4-byte entries
        ("80A80000*", "8006" + "2000" + "00010100" + "9000", "file locator"),  # SFI 0
        ("00A4040007A000000003101000", "6F05" + "9F38039F02" + "9000", "malformed"),
        (PPSE, "6F04" + "A502" + "BF0C" + "9000", "malformed"),
    ],
)
def test_bad_card_answers_become_read_errors(command, response, reason):
    with pytest.raises(CardReadError, match=reason):
        read(with_rule("visa", command, response))


def test_an_answer_without_status_word_is_a_read_error():
    with pytest.raises(CardReadError, match="no status"):
        read_emv(lambda apdu: b"\x90", CONTEXT)


def test_a_pan_failing_luhn_is_refused():
    gpo = tlv("77", tlv("82", "2000") + tlv("94", "08010100") + tlv(
        "57", "4761739001010118D31122010000000000"
    )) + "9000"  # fmt: skip
    with pytest.raises(CardReadError, match="check digit"):
        read(with_rule("visa", "80A80000*", gpo))


def test_disagreeing_pan_and_track2_are_refused():
    rec = tlv("70", tlv("5F24", "311231") + tlv("5A", "5413330089010434")) + "9000"
    with pytest.raises(CardReadError, match="disagree"):
        read(with_rule("visa", "00B2010C*", rec))


def test_a_card_without_expiry_is_refused():
    gpo = tlv("77", tlv("82", "2000") + tlv("5A", "4761739001010119")) + "9000"
    with pytest.raises(CardReadError, match="expiry"):
        read(with_rule("visa", "80A80000*", gpo))


def test_a_card_without_pan_is_refused():
    gpo = tlv("77", tlv("82", "2000") + tlv("5F24", "311231")) + "9000"
    with pytest.raises(CardReadError, match="card number"):
        read(with_rule("visa", "80A80000*", gpo))


def test_endless_get_response_chains_are_cut_off():
    rule = {"command": "00C0*", "response": "00" * 200 + "61C8"}
    raw = {"name": "loop", "apdus": [{"command": PPSE, "response": "61C8"}, rule]}
    with pytest.raises(CardReadError, match="more data than expected"):
        read(parse_profile(raw))


def test_a_removed_card_surfaces_as_card_removed():
    with pytest.raises(CardRemoved):
        read(find_profile("removed-mid-read"))


def test_a_bug_in_transport_is_still_a_card_read_error():
    def broken(apdu: bytes) -> bytes:
        raise ValueError("boom")

    with pytest.raises(CardReadError) as info:
        read_emv(broken, CONTEXT)
    assert str(info.value) == INTERNAL_ERROR


def test_pdol_values_are_fitted_to_the_lengths_the_card_asks_for():
    values = {"9F02": bytes.fromhex("000000012345"), "9F66": bytes.fromhex("20804000")}
    # 9F02 asked as 4 bytes keeps its low digits; 9F66 asked as 2 keeps its first bytes;
    # unknown 9F4E (3) is zeros.
    data = build_dol_data(bytes.fromhex("9F02049F66029F4E03"), values)
    assert data.hex().upper() == "00012345" + "2080" + "000000"
