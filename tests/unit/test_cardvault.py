"""Stored card data is AES-GCM sealed to its transaction."""

import pytest

from appliance.cardvault import CardVault
from appliance.errors import JournalError
from appliance.host.messages import CardFields

CARD = CardFields(
    "4761739001010119", "2812", track2="4761739001010119D28122010000", emv_data=b"\x9f\x26\x01\x00"
)


def test_seal_and_open_round_trip() -> None:
    v = CardVault(b"\x01" * 32)
    assert v.open("t1", v.seal("t1", CARD)) == CARD


def test_the_pan_is_not_in_the_sealed_bytes() -> None:
    blob = CardVault(b"\x01" * 32).seal("t1", CARD)
    assert b"4761739001010119" not in blob and b"476173" not in blob


def test_a_blob_moved_to_another_transaction_does_not_open() -> None:
    v = CardVault(b"\x01" * 32)
    with pytest.raises(JournalError, match="does not decrypt"):
        v.open("t2", v.seal("t1", CARD))


def test_wrong_key_does_not_open() -> None:
    blob = CardVault(b"\x01" * 32).seal("t1", CARD)
    with pytest.raises(JournalError):
        CardVault(b"\x02" * 32).open("t1", blob)


def test_damaged_blob_is_reported() -> None:
    with pytest.raises(JournalError, match="damaged"):
        CardVault(b"\x01" * 32).open("t1", b"\x07garbage")
