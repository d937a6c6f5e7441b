"""The fast X9.19 MAC is byte-identical to pyemv's ``mac_iso9797_3`` (the reference)."""

from __future__ import annotations

import random
import warnings

from cryptography.utils import CryptographyDeprecationWarning
from pyemv import mac as pyemv_mac

from appliance.host import keys


def _reference(mak: bytes, data: bytes) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return pyemv_mac.mac_iso9797_3(mak[:8], mak[8:], data, padding=keys.MAC_PADDING)


def test_retail_mac_matches_pyemv_for_many_keys_and_lengths() -> None:
    rng = random.Random(8583)
    for i in range(600):
        # Random keys, parity-adjusted or not; every length 0..64 and some long messages.
        mak = rng.randbytes(16)
        if i % 2:
            mak = keys.generate_key()
        n = i % 65 if i < 400 else rng.randrange(65, 600)
        data = rng.randbytes(n)
        assert keys.retail_mac(mak, data) == _reference(mak, data), (mak.hex(), data.hex())


def test_retail_mac_same_key_many_messages_and_bytearray_input() -> None:
    rng = random.Random(7)
    mak = keys.generate_key()
    for n in (0, 1, 7, 8, 9, 15, 16, 17, 200):
        data = rng.randbytes(n)
        assert keys.retail_mac(bytearray(mak), bytearray(data)) == _reference(mak, data)


def test_retail_mac_distinguishes_k1_from_k2() -> None:
    # A cache keyed wrongly (by K1 alone) would give these two keys the same MAC.
    k = keys.generate_key()
    other = k[:8] + keys.generate_key()[8:]
    assert keys.retail_mac(k, b"abc" * 10) == _reference(k, b"abc" * 10)
    assert keys.retail_mac(other, b"abc" * 10) == _reference(other, b"abc" * 10)
    assert keys.retail_mac(k, b"abc" * 10) != keys.retail_mac(other, b"abc" * 10)
