"""MockReader helpers: auto card, unplug/plug, presenting from another thread."""

from __future__ import annotations

import threading

import pytest

from appliance.errors import ConfigError, ReaderOffline, ReadTimeout
from drivers.reader import make_reader
from drivers.reader.base import ReadContext, ReaderStatus
from drivers.reader.mock import MockReader
from drivers.reader.nfc import NfcReader

CONTEXT = ReadContext(amount=100)


def test_the_auto_card_is_read_at_every_read():
    reader = MockReader("unionpay")
    first = reader.read_card(CONTEXT, timeout=1)
    second = reader.read_card(CONTEXT, timeout=1)
    assert first.card_name == second.card_name == "unionpay"
    assert reader.reads == 2


def test_an_explicitly_presented_card_wins_over_the_auto_card():
    reader = MockReader("visa")
    reader.present("mastercard")
    assert reader.read_card(CONTEXT, timeout=1).scheme == "MASTERCARD"
    assert reader.read_card(CONTEXT, timeout=1).scheme == "VISA"


def test_a_removed_card_is_not_read():
    reader = MockReader()
    reader.present("visa")
    reader.remove()
    with pytest.raises(ReadTimeout):
        reader.read_card(CONTEXT, timeout=0.05)


def test_an_unplugged_reader_is_offline_until_plugged_back():
    reader = MockReader("visa")
    reader.unplug()
    assert reader.status() is ReaderStatus.OFFLINE
    with pytest.raises(ReaderOffline, match="unplugged"):
        reader.read_card(CONTEXT, timeout=1)
    reader.plug()
    assert reader.status() is ReaderStatus.READY
    assert reader.read_card(CONTEXT, timeout=1).pan == "4761739001010119"


def test_unplugging_during_a_wait_ends_the_wait_with_reader_offline():
    reader = MockReader()
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            reader.read_card(CONTEXT, timeout=30)
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=wait)
    worker.start()
    assert reader.waiting.wait(5)
    reader.unplug()
    worker.join(5)
    assert len(errors) == 1 and isinstance(errors[0], ReaderOffline)


def test_the_mock_reports_the_profile_name_but_never_the_pan_in_repr():
    read = MockReader("visa").read_card(CONTEXT, timeout=1)
    assert "4761739001010119" not in repr(read) and "476173******0119" in repr(read)


def test_make_reader_builds_each_backend_and_refuses_unknown_ones():
    assert isinstance(make_reader("mock", mock_card="visa"), MockReader)
    nfc = make_reader("nfcpy", device="udp:127.0.0.1:9")
    assert isinstance(nfc, NfcReader) and nfc.device == "udp:127.0.0.1:9"
    assert make_reader("nfcpy").device == "tty:AMA0:pn532"
    with pytest.raises(ConfigError, match="unknown reader backend 'pcsc'"):
        make_reader("pcsc")


def test_an_unknown_mock_card_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown card profile 'amex'"):
        make_reader("mock", mock_card="amex")
