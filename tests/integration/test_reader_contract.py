"""The CardReader contract, run against the mock and against the nfcpy reader.

The nfcpy reader talks to a simulated ISO-DEP card through nfcpy's real ``udp`` device
(``appliance.sim.udp_card``), each test on its own port; both play the same JSON profiles.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from appliance.errors import (
    CardReadError,
    CardRemoved,
    MultipleCards,
    ReadCancelled,
    ReadTimeout,
)
from appliance.sim.udp_card import UdpCard
from drivers.reader.base import CardReader, ReadContext, ReaderStatus
from drivers.reader.mock import MockReader
from drivers.reader.nfc import NfcReader
from drivers.reader.profile import CardProfile, find_profile, parse_profile

CONTEXT = ReadContext(amount=2_500)


@dataclass
class Rig:
    """A reader under test and the hand that puts cards in front of it."""

    reader: CardReader
    present: Callable[[str | CardProfile], None]
    kind: str
    polling: threading.Event  # set once the reader is waiting for a card


@pytest.fixture(params=["mock", "nfcpy-udp"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    if request.param == "mock":
        mock = MockReader()
        yield Rig(mock, lambda name: mock.present(name), "mock", mock.waiting)
        return
    with UdpCard() as card:
        reader = NfcReader(card.device_path, targets=("106A",))
        try:

            def present(card_: str | CardProfile) -> None:
                card.present(card_ if isinstance(card_, CardProfile) else find_profile(card_))

            yield Rig(reader, present, "nfcpy", card.polled)
        finally:
            reader.close()


@pytest.mark.parametrize(
    ("card", "pan", "scheme", "apdus"),
    [
        ("visa", "4761739001010119", "VISA", 4),
        ("mastercard", "5413330089010434", "MASTERCARD", 6),
        ("unionpay", "6234567890123456780", "UNIONPAY", 5),
        ("decline", "4000000000000002", "VISA", 4),
        ("wrong-length", "4761739001010119", "VISA", 6),
    ],
)
def test_a_presented_card_is_read(rig: Rig, card, pan, scheme, apdus):
    rig.present(card)
    read = rig.reader.read_card(CONTEXT, timeout=5)
    assert (read.pan, read.scheme, read.apdu_count) == (pan, scheme, apdus)
    assert read.emv_data and read.expiry.isdigit()


def test_the_reader_is_ready(rig: Rig):
    assert rig.reader.status() is ReaderStatus.READY


def test_a_card_taken_away_mid_read_says_so(rig: Rig):
    rig.present("removed-mid-read")
    with pytest.raises(CardRemoved, match="removed too early"):
        rig.reader.read_card(CONTEXT, timeout=5)


def test_a_garbage_record_is_a_read_error(rig: Rig):
    rig.present("garbage-record")
    with pytest.raises(CardReadError, match="malformed"):
        rig.reader.read_card(CONTEXT, timeout=5)


def test_two_cards_at_once_are_refused(rig: Rig):
    if rig.kind != "mock":
        pytest.skip(
            "nfcpy's udp device carries one card only, and nfcpy's sense() hides Type A "
            "anticollision, so a collision cannot be simulated through it"
        )
    rig.present("collision")
    with pytest.raises(MultipleCards, match="more than one card"):
        rig.reader.read_card(CONTEXT, timeout=5)


def test_no_card_times_out(rig: Rig):
    with pytest.raises(ReadTimeout):
        rig.reader.read_card(CONTEXT, timeout=0.2)


def test_cancel_stops_a_waiting_read(rig: Rig):
    cancel = threading.Event()
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            rig.reader.read_card(CONTEXT, timeout=30, cancel=cancel)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=wait)
    worker.start()
    assert rig.polling.wait(10)
    cancel.set()
    worker.join(10)
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], ReadCancelled)


def test_a_card_presented_while_waiting_is_read(rig: Rig):
    result: list[object] = []
    worker = threading.Thread(
        target=lambda: result.append(rig.reader.read_card(CONTEXT, timeout=10))
    )
    worker.start()
    assert rig.polling.wait(10)
    rig.present("mastercard")
    worker.join(15)
    assert result and result[0].pan == "5413330089010434"


def test_one_tap_is_one_read(rig: Rig):
    rig.present("visa")
    rig.reader.read_card(CONTEXT, timeout=5)
    with pytest.raises(ReadTimeout):
        rig.reader.read_card(CONTEXT, timeout=0.2)


def test_a_long_record_arrives_whole(rig: Rig):
    # 9F46 (an ICC public key certificate) makes record 1 255 bytes: more than one
    # ISO-DEP frame, so the nfcpy path exercises response chaining.
    cert = "AB" * 242
    record = "7081FC" + "5F2403311231" + "9F4681F2" + cert + "9000"
    rules = [
        {"command": r.pattern, "response": r.responses[0].hex()} for r in find_profile("visa").rules
    ]
    rules[-1]["response"] = record
    rig.present(parse_profile({"name": "long-record", "apdus": rules}))
    read = rig.reader.read_card(CONTEXT, timeout=5)
    assert read.pan == "4761739001010119" and read.expiry == "3112"


# Every kernel path of the issue list, through the mock and through nfcpy's udp device.
# (card, amount, kernel, decision, cvm method, expired) for reads that complete.
KERNEL_PATHS = [
    ("visa", 2_500, "visa-qvsdc", "ARQC", "no_cvm", False),
    ("visa-expired", 2_500, "visa-qvsdc", "ARQC", "no_cvm", True),
    ("visa-not-effective", 2_500, "visa-qvsdc", "ARQC", "no_cvm", True),
    ("visa-aac", 2_500, "visa-qvsdc", "AAC", "no_cvm", False),
    ("visa-no-cid", 2_500, "visa-qvsdc", "ARQC", "no_cvm", False),
    ("visa-signature", 150_000, "visa-qvsdc", "ARQC", "signature", False),
    ("visa-cdcvm", 150_000, "visa-qvsdc", "ARQC", "cdcvm", False),
    ("visa-kernel-id", 2_500, "visa-qvsdc", "ARQC", "no_cvm", False),
    ("mastercard", 150_000, "mastercard", "ARQC", "signature", False),
    ("mastercard-format2", 2_500, "mastercard", "ARQC", "no_cvm", False),
    ("mastercard-aac", 2_500, "mastercard", "AAC", "no_cvm", False),
    ("mastercard-cdol-unusual", 2_500, "mastercard", "ARQC", "no_cvm", False),
    ("mastercard-oda-record-fails", 2_500, "mastercard", "ARQC", "no_cvm", False),
    ("mastercard-cdcvm", 150_000, "mastercard", "ARQC", "cdcvm", False),
    ("unionpay", 2_500, "unionpay-qpboc", "ARQC", "no_cvm", False),
]


@pytest.mark.parametrize(("card", "amount", "kernel", "decision", "cvm", "expired"), KERNEL_PATHS)
def test_each_kernel_path_reads_to_the_card_s_decision(
    rig: Rig, card, amount, kernel, decision, cvm, expired
):
    rig.present(card)
    read = rig.reader.read_card(ReadContext(amount=amount), timeout=5)
    assert (read.kernel, read.decision, read.cvm_method, read.expired) == (
        kernel,
        decision,
        cvm,
        expired,
    )
    assert read.field55_tags[:2] == ("9F26", "9F27") or decision == "AAC"


# (card, amount, message code) for reads the kernel must end with a clear reason.
KERNEL_REFUSALS = [
    ("visa-pin-required", 2_500, "card.pin_required"),
    ("visa", 150_000, "card.cvm_failed"),  # above the CVM limit, the card allows no CVM
    ("visa", 1_000_001, "card.over_contactless_limit"),
    ("visa-record-fails", 2_500, "card.unreadable"),
    ("mastercard-genac-fails", 2_500, "card.unreadable"),
    ("mastercard-pin-only", 150_000, "card.pin_required"),
    ("unsupported-amex", 2_500, "card.unsupported_kernel"),
]


@pytest.mark.parametrize(("card", "amount", "code"), KERNEL_REFUSALS)
def test_each_kernel_refusal_names_its_reason(rig: Rig, card, amount, code):
    rig.present(card)
    with pytest.raises(CardReadError) as info:
        rig.reader.read_card(ReadContext(amount=amount), timeout=5)
    assert info.value.code == code
