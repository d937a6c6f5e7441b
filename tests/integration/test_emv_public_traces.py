"""Public contactless card sessions replayed through the mock and nfcpy's ``udp`` device.

Each fixture in ``tests/fixtures/emv_traces`` names where it was recorded and how it was
masked (its "source" key). The expected values below are read off the recorded bytes by hand
(decoded with the EMV tag tables), not produced by our kernel: the kernel must arrive at
the data the real card sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pyemv import tlv as pyemv_tlv

from appliance.errors import CardReadError, UnsupportedCard
from appliance.sim.udp_card import UdpCard
from drivers.reader.base import ReadContext
from drivers.reader.mock import MockReader
from drivers.reader.nfc import NfcReader
from drivers.reader.profile import CardProfile, load_profile

TRACES = Path(__file__).parents[1] / "fixtures" / "emv_traces"
RECORDED = date(2023, 4, 1)  # within every card's validity when it was recorded
TODAY = date(2026, 12, 2)


def trace(name: str) -> CardProfile:
    return load_profile(TRACES / f"{name}.json")


@pytest.fixture(params=["mock", "nfcpy-udp"])
def tap(request: pytest.FixtureRequest) -> Iterator:
    """A function that taps one trace on a reader of each kind and returns its read."""
    if request.param == "mock":
        mock = MockReader()

        def tap_mock(profile: CardProfile, context: ReadContext):
            mock.present(profile)
            return mock.read_card(context, timeout=5)

        yield tap_mock
        return
    with UdpCard() as card:
        reader = NfcReader(card.device_path, targets=("106A",))
        try:

            def tap_udp(profile: CardProfile, context: ReadContext):
                card.present(profile)
                return reader.read_card(context, timeout=5)

            yield tap_udp
        finally:
            reader.close()


def test_every_trace_names_its_source_and_holds_only_test_pans() -> None:
    files = sorted(TRACES.glob("*.json"))
    assert len(files) >= 4
    test_pans = {"4761739001010119", "4111111111111111", "5555555555554444", "5105105105105100"}
    for path in files:
        raw = json.loads(path.read_text(encoding="utf-8"))
        assert raw["source"].startswith("https://github.com/"), path.name
        for apdu in raw["apdus"]:
            body = bytes.fromhex(apdu["response"])[:-2]
            try:
                values = pyemv_tlv.decode(body, flatten=True)
            except pyemv_tlv.DecodeError:
                continue
            if "5A" in values:
                assert values["5A"].hex().upper().rstrip("F") in test_pans, path.name


@pytest.mark.parametrize(
    ("name", "pan", "expiry", "ac", "atc", "iad", "ctq"),
    [
        # Values as recorded in the GPO answers (9F26, 9F36, 9F10, 9F6C) and records (5F24).
        ("comdirect-visa-debit", "4761739001010119", "2507", "12542E554303B047", "00EC",
         "06011203A00000", "0400"),
        ("comdirect-visa-credit", "4111111111111111", "2506", "2F94A291FB5FA425", "002E",
         "060D1103A02000", "3800"),
    ],
)  # fmt: skip
def test_recorded_visa_cards_give_their_online_cryptogram(
    tap, name, pan, expiry, ac, atc, iad, ctq
):
    card = tap(trace(name), ReadContext(amount=1_000, txn_date=RECORDED))
    assert (card.kernel, card.pan, card.expiry, card.decision) == (
        "visa-qvsdc",
        pan,
        expiry,
        "ARQC",
    )
    tags = {k: v.hex().upper() for k, v in pyemv_tlv.decode(card.emv_data).items()}
    assert (tags["9F26"], tags["9F36"], tags["9F10"], tags["9F6C"], tags["9F27"]) == (
        ac,
        atc,
        iad,
        ctq,
        "80",
    )
    assert card.tvr == "8000000000" and not card.expired  # only "ODA not performed"
    assert card.apdu_count == 6  # PPSE, SELECT, GPO, three records of SFI 2


@pytest.mark.parametrize("name", ["comdirect-visa-debit", "comdirect-visa-credit"])
def test_recorded_visa_cards_are_expired_today(tap, name):
    card = tap(trace(name), ReadContext(amount=1_000, txn_date=TODAY))
    assert card.expired and card.tvr == "8040000000" and card.decision == "ARQC"


@pytest.mark.parametrize(
    ("name", "cdol1_length"),
    [
        # 8C of aab: 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 9F35 9F45 9F4C 9F34 9F21 9F7C = 66
        ("aab-mastercard-debit", 66),
        # 8C of db: 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 9F35 9F45 9F4C 9F34 = 43
        ("db-mastercard-credit", 43),
    ],
)
def test_recorded_mastercards_get_generate_ac_with_their_cdol1_and_no_answer_ends_clearly(
    tap, name, cdol1_length
):
    # The recordings stop after the records (the recording app never sent GENERATE AC), so
    # the replayed card answers it 6D00: the kernel needs that answer and says so.
    sent: list[str] = []
    profile = trace(name)
    real_session = profile.session

    def session():
        s = real_session()
        inner = s.transceive

        def transceive(apdu: bytes):
            sent.append(apdu.hex().upper())
            return inner(apdu)

        s.transceive = transceive  # type: ignore[method-assign]
        return s

    object.__setattr__(profile, "session", session)
    with pytest.raises(CardReadError) as info:
        tap(profile, ReadContext(amount=1_000, txn_date=RECORDED))
    assert info.value.code == "card.unreadable"
    genac = bytes.fromhex(sent[-1])
    assert genac[:4] == bytes.fromhex("80AE8000") and genac[4] == cdol1_length
    assert genac[5:11] == bytes.fromhex("000000001000")  # 9F02 first, as the card's 8C asks


def test_a_recorded_girocard_has_no_kernel_here(tap):
    with pytest.raises(UnsupportedCard) as info:
        tap(trace("voba-girocard"), ReadContext(amount=1_000, txn_date=RECORDED))
    assert info.value.code == "card.unsupported_kernel"
