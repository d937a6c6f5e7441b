"""The kernel's pure decisions against EMV Book 3 / C-2 / C-3, with hand-built card data.

Expected values come from the specifications, not from the code: TVR bit positions from
Book 3 Annex C5, CVM results from Annex A4/C3, CID coding from §6.5.5.4, CVR from VIS 1.5.
"""

from __future__ import annotations

from datetime import date

import pytest

from appliance.emv import risk

TODAY = date(2026, 12, 2)


def restrictions(card: dict[str, str], *, scheme: str = "MASTERCARD", t2: str | None = None,
                 usage: bool = True) -> set[str]:  # fmt: skip
    return risk.processing_restrictions(
        {k: bytes.fromhex(v) for k, v in card.items()},
        today=TODAY,
        scheme=scheme,
        track2_expiry=t2,
        country_numeric="156",
        txn_type="00",
        usage_checks=usage,
    )


@pytest.mark.parametrize(
    ("name", "hex_tvr"),
    [
        ("oda_not_performed", "8000000000"),  # byte 1 bit 8
        ("icc_data_missing", "2000000000"),  # byte 1 bit 6
        ("different_app_versions", "0080000000"),  # byte 2 bit 8
        ("expired", "0040000000"),  # byte 2 bit 7
        ("not_yet_effective", "0020000000"),  # byte 2 bit 6
        ("service_not_allowed", "0010000000"),  # byte 2 bit 5
        ("cvm_not_successful", "0000800000"),  # byte 3 bit 8
        ("pin_pad_absent", "0000100000"),  # byte 3 bit 5
        ("floor_limit_exceeded", "0000008000"),  # byte 4 bit 8
    ],
)
def test_each_tvr_bit_sits_where_book_3_annex_c5_puts_it(name: str, hex_tvr: str) -> None:
    assert risk.tvr_bytes([name]).hex().upper() == hex_tvr
    assert risk.tvr_names(bytes.fromhex(hex_tvr)) == [name]


def test_a_card_past_its_expiry_date_is_expired_and_one_on_it_is_not() -> None:
    assert "expired" in restrictions({"5F24": "261201"})
    assert "expired" not in restrictions({"5F24": "261202"})


def test_a_track_2_expiry_counts_to_the_end_of_its_month() -> None:
    assert "expired" not in restrictions({}, t2="2612")
    assert "expired" in restrictions({}, t2="2611")


def test_a_card_before_its_effective_date_is_not_yet_effective() -> None:
    assert "not_yet_effective" in restrictions({"5F25": "261203", "5F24": "301231"})
    assert restrictions({"5F25": "261202", "5F24": "301231"}) == set()


def test_years_below_50_are_in_this_century() -> None:
    assert "expired" in restrictions({"5F24": "991231"})  # 1999
    assert "expired" not in restrictions({"5F24": "491231"})  # 2049


def test_a_different_application_version_sets_its_bit_for_mastercard_only() -> None:
    assert "different_app_versions" in restrictions({"9F08": "0001"})
    assert "different_app_versions" not in restrictions({"9F08": "0002"})
    assert restrictions({"9F08": "0001"}, scheme="VISA", usage=False) == set()


def test_usage_control_without_international_goods_refuses_a_foreign_card() -> None:
    # 5F28 0840 (USA) at a Chinese terminal; AUC byte 1 = 2B: domestic goods+services only.
    assert "service_not_allowed" in restrictions({"9F07": "2B00", "5F28": "0840"})
    assert "service_not_allowed" not in restrictions({"9F07": "2B00", "5F28": "0156"})
    assert "service_not_allowed" not in restrictions({"9F07": "FF00", "5F28": "0840"})


def test_visa_ctq_online_pin_is_refused_without_a_pin_pad() -> None:
    cvm = risk.cvm_visa(bytes.fromhex("8000"), cvm_required=False, signature=True)
    assert (cvm.method, cvm.refusal) == ("failed", "card.pin_required")
    assert {"cvm_not_successful", "pin_pad_absent"} <= cvm.tvr


def test_visa_ctq_signature_gives_cvm_results_1e() -> None:
    cvm = risk.cvm_visa(bytes.fromhex("4000"), cvm_required=True, signature=True)
    assert (cvm.method, cvm.results.hex().upper()) == ("signature", "1E0000")
    no_line = risk.cvm_visa(bytes.fromhex("4000"), cvm_required=True, signature=False)
    assert no_line.refusal == "card.cvm_failed"


def test_visa_consumer_device_cvm_is_accepted_above_the_limit() -> None:
    cvm = risk.cvm_visa(bytes.fromhex("0080"), cvm_required=True, signature=False)
    assert (cvm.method, cvm.refusal) == ("cdcvm", None)


def test_visa_above_the_cvm_limit_without_a_card_cvm_is_refused() -> None:
    cvm = risk.cvm_visa(bytes.fromhex("0000"), cvm_required=True, signature=True)
    assert cvm.refusal == "card.cvm_failed"
    # Without a CTQ at all, C-3 lets a reader that supports signature take one.
    assert risk.cvm_visa(None, cvm_required=True, signature=True).method == "signature"


def test_below_the_cvm_limit_no_cvm_is_required() -> None:
    cvm = risk.cvm_visa(bytes.fromhex("0000"), cvm_required=False, signature=True)
    assert (cvm.method, cvm.results.hex().upper()) == ("no_cvm", "1F0002")


def mc_cvm(cvm_list: str, amount: int = 150_000, aip: str = "1980", signature: bool = True):
    return risk.cvm_mastercard(
        bytes.fromhex(cvm_list),
        bytes.fromhex(aip),
        amount=amount,
        cvm_required=True,
        signature=signature,
        card_currency=bytes.fromhex("0156"),
        terminal_currency="156",
    )


def test_mastercard_cvm_list_skips_pin_it_cannot_do_and_takes_signature() -> None:
    # 42 03: online PIN if supported (not here, next rule); 1E 03 signature; 1F 03 no CVM.
    cvm = mc_cvm("0000000000000000" + "4203" + "1E03" + "1F03")
    assert (cvm.method, cvm.results.hex().upper()) == ("signature", "1E0300")


def test_mastercard_pin_only_cvm_list_is_refused() -> None:
    cvm = mc_cvm("0000000000000000" + "0200")  # online PIN always, no next rule
    assert (cvm.method, cvm.refusal) == ("failed", "card.pin_required")
    assert "pin_pad_absent" in cvm.tvr and "cvm_not_successful" in cvm.tvr


def test_mastercard_amount_conditions_use_x_and_y_in_the_card_currency() -> None:
    # X = 2000.00: rule 1 "signature if amount > X", rule 2 "no CVM always".
    rules = "00030D40" + "00000000" + "1E07" + "1F00"
    assert mc_cvm(rules, amount=150_000).method == "no_cvm"
    assert mc_cvm(rules, amount=250_000).method == "signature"


def test_mastercard_on_device_verification_wins_when_the_aip_allows_it() -> None:
    assert mc_cvm("0000000000000000" + "0200", aip="1B80").method == "cdcvm"


def test_mastercard_without_a_cvm_list_above_the_limit_is_refused() -> None:
    cvm = risk.cvm_mastercard(
        None,
        bytes.fromhex("1980"),
        amount=150_000,
        cvm_required=True,
        signature=True,
        card_currency=None,
        terminal_currency="156",
    )
    assert cvm.refusal == "card.cvm_failed" and "icc_data_missing" in cvm.tvr


@pytest.mark.parametrize(
    ("cid", "kind"), [(0x00, "AAC"), (0x40, "TC"), (0x80, "ARQC"), (0x41, "TC")]
)
def test_cryptogram_type_comes_from_cid_bits_8_and_7(cid: int, kind: str) -> None:
    assert risk.cryptogram_type(cid) == kind


def test_a_visa_cvr_names_the_cryptogram_when_9f27_is_missing() -> None:
    assert risk.visa_cid_from_iad(bytes.fromhex("06011203A00000")) == 0x80  # ARQC
    assert risk.visa_cid_from_iad(bytes.fromhex("06011203900000")) == 0x40  # TC
    assert risk.visa_cid_from_iad(bytes.fromhex("06011203800000")) == 0x00  # AAC


PARAMS = risk.KernelParams(accept_offline_tc=True, deferred_arqc=True)


def refusal(decision: str, requested: str, *bits: str, params: risk.KernelParams = PARAMS):
    found = risk.offline_refusal(
        decision=decision, requested=requested, tvr=risk.tvr_bytes(bits), params=params
    )
    return found.code if found else None


def test_an_expired_card_is_never_stored_offline() -> None:
    assert refusal("TC", "TC", "oda_not_performed", "expired") == "card.offline_expired"
    assert refusal("ARQC", "ARQC", "not_yet_effective") == "card.offline_expired"


def test_a_card_that_asked_for_online_is_not_stored() -> None:
    assert refusal("ARQC", "TC") == "card.offline_online_required"
    assert refusal("AAC", "TC") == "card.offline_online_required"


def test_a_tc_is_stored_only_when_configured() -> None:
    assert refusal("TC", "TC", "oda_not_performed") is None
    strict = risk.KernelParams()
    assert refusal("TC", "TC", params=strict) == "card.offline_online_required"
    assert refusal("ARQC", "ARQC", params=strict) == "card.offline_online_required"


def test_a_deny_offline_tvr_bit_refuses_storing() -> None:
    assert refusal("TC", "TC", "floor_limit_exceeded") == "card.offline_tvr"
    lenient = risk.KernelParams(accept_offline_tc=True, deny_offline=frozenset())
    assert refusal("TC", "TC", "floor_limit_exceeded", params=lenient) is None


def test_terminal_type_is_online_only_unless_offline_storing_is_configured() -> None:
    # Book 4 Annex A1: 21 = attended, online only, merchant; 22 = offline with online capability.
    assert risk.KernelParams().terminal_type.hex() == "21"
    assert risk.KernelParams(accept_offline_tc=True).terminal_type.hex() == "22"


def test_terminal_capabilities_say_signature_only_when_the_stub_has_a_line() -> None:
    # Book 4 Annex A2 byte 2: b6 signature (20), b4 no CVM required (08).
    assert risk.KernelParams().capabilities.hex().upper() == "002800"
    assert risk.KernelParams(signature=False).capabilities.hex().upper() == "000800"
