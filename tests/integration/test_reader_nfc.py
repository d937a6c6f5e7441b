"""NfcReader device handling: absent device, recovery, bad paths, non-payment tags."""

from __future__ import annotations

import errno
import os

import pytest

from appliance.errors import (
    CardReadError,
    ConfigError,
    ReaderOffline,
    ReadTimeout,
    UnsupportedCard,
)
from drivers.reader.base import ReadContext, ReaderStatus
from drivers.reader.nfc import NfcReader

CONTEXT = ReadContext(amount=100)


def test_an_absent_device_is_offline_and_the_read_names_the_device():
    reader = NfcReader("tty:NOSUCH9:pn532")
    assert reader.status() is ReaderStatus.OFFLINE
    with pytest.raises(ReaderOffline, match="tty:NOSUCH9:pn532"):
        reader.read_card(CONTEXT, timeout=0.1)


class FlakyFactory:
    """Absent for the first ``failures`` opens, then a frontend whose connect finds nothing."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.opens = 0

    def __call__(self, device: str) -> object:
        self.opens += 1
        if self.opens <= self.failures:
            raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
        return FakeFrontend()


class FakeFrontend:
    """A frontend that returns ``tag`` from connect (None: terminated)."""

    def __init__(self, tag: object = None) -> None:
        self.tag = tag
        self.closed = False

    def connect(self, rdwr: dict, terminate) -> object:
        return self.tag if self.tag is not None else (None if terminate() else False)

    def close(self) -> None:
        self.closed = True


def test_the_reader_recovers_once_the_device_is_back():
    factory = FlakyFactory(failures=2)
    reader = NfcReader("tty:AMA0:pn532", frontend_factory=factory, retry_interval=0)
    assert reader.status() is ReaderStatus.OFFLINE
    assert reader.status() is ReaderStatus.OFFLINE
    assert reader.status() is ReaderStatus.READY
    assert factory.opens == 3


def test_status_does_not_retry_an_absent_device_at_every_call_but_a_read_does():
    factory = FlakyFactory(failures=1)
    reader = NfcReader("tty:AMA0:pn532", frontend_factory=factory, retry_interval=3600)
    assert reader.status() is ReaderStatus.OFFLINE
    assert reader.status() is ReaderStatus.OFFLINE
    assert factory.opens == 1
    with pytest.raises(ReadTimeout):
        reader.read_card(CONTEXT, timeout=0)  # re-opens; FakeFrontend finds no card
    assert factory.opens == 2 and reader.status() is ReaderStatus.READY


def test_a_device_that_stops_answering_goes_offline_and_is_reopened():
    frontends: list[FakeFrontend] = []

    def factory(device: str) -> FakeFrontend:
        frontends.append(FakeFrontend())
        return frontends[-1]

    def broken_connect(rdwr: dict, terminate) -> bool:
        return False  # what nfcpy's connect() does when it swallows an IOError

    reader = NfcReader("usb:054c:06c3", frontend_factory=factory, retry_interval=0)
    assert reader.status() is ReaderStatus.READY
    frontends[0].connect = broken_connect  # type: ignore[method-assign]
    with pytest.raises(ReaderOffline, match="stopped responding"):
        reader.read_card(CONTEXT, timeout=5)
    assert frontends[0].closed
    assert reader.status() is ReaderStatus.READY and len(frontends) == 2


def test_a_tag_that_is_not_a_payment_card_is_unsupported():
    reader = NfcReader("tty:AMA0:pn532", frontend_factory=lambda d: FakeFrontend(object()))
    with pytest.raises(UnsupportedCard, match="not a contactless payment card"):
        reader.read_card(CONTEXT, timeout=1)


@pytest.mark.parametrize("device", ["", "/dev/ttyAMA0", "pn532"])
def test_a_device_path_nfcpy_cannot_use_is_a_config_error(device):
    with pytest.raises(ConfigError, match="not an nfcpy path"):
        NfcReader(device)


@pytest.mark.hardware
def test_a_real_pn532_is_ready():
    if os.environ.get("COUNTERTOP_HARDWARE") != "1":
        pytest.skip("needs a PN532 on /dev/ttyAMA0 (set COUNTERTOP_HARDWARE=1 on a Pi)")
    assert NfcReader("tty:AMA0:pn532").status() is ReaderStatus.READY


def test_a_card_that_breaks_activation_is_a_read_error_and_the_reader_stays_up():
    class BadCardFrontend(FakeFrontend):
        def connect(self, rdwr: dict, terminate) -> object:
            raise IndexError("bytearray index out of range")  # nfcpy on a short ATS

    reader = NfcReader("tty:AMA0:pn532", frontend_factory=lambda d: BadCardFrontend())
    with pytest.raises(CardReadError, match="answered badly"):
        reader.read_card(CONTEXT, timeout=1)
    assert reader.status() is ReaderStatus.READY
