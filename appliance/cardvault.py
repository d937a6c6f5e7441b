"""Card data at rest: AES-256-GCM under the device data key, only while a payment awaits forwarding.

The transaction uuid is the associated data, so a blob copied onto another row fails to open.
"""

from __future__ import annotations

import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from appliance.errors import JournalError
from appliance.host.messages import CardFields

VERSION = b"\x01"


class CardVault:
    """Seal and open stored card data with one AES-256 key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the card data key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def seal(self, txn_uuid: str, card: CardFields) -> bytes:
        """Encrypt ``card`` bound to ``txn_uuid``: version || nonce || ciphertext+tag."""
        plain = json.dumps(
            {
                "pan": card.pan,
                "expiry": card.expiry,
                "track2": card.track2,
                "emv": card.emv_data.hex(),
                "entry_mode": card.entry_mode,
                "pan_sequence": card.pan_sequence,
            }
        ).encode()
        nonce = os.urandom(12)
        return VERSION + nonce + self._aead.encrypt(nonce, plain, txn_uuid.encode())

    def open(self, txn_uuid: str, blob: bytes) -> CardFields:
        """Decrypt a blob sealed for ``txn_uuid``; JournalError if it was tampered with."""
        if not blob or blob[:1] != VERSION or len(blob) < 13 + 16:
            raise JournalError(f"stored card data of {txn_uuid} is damaged (unknown format)")
        try:
            plain = self._aead.decrypt(blob[1:13], blob[13:], txn_uuid.encode())
        except InvalidTag as exc:
            raise JournalError(
                f"stored card data of {txn_uuid} does not decrypt: wrong data key or tampered"
            ) from exc
        d = json.loads(plain)
        return CardFields(
            pan=d["pan"],
            expiry=d["expiry"],
            track2=d["track2"],
            emv_data=bytes.fromhex(d["emv"]),
            entry_mode=d["entry_mode"],
            pan_sequence=d["pan_sequence"],
        )
