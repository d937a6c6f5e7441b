"""Mutated card answers through the EMV read: only CardReadError may come out, never a bug."""

from __future__ import annotations

import random
from datetime import date

from appliance.domain.card import luhn_ok
from appliance.emv.kernel import INTERNAL_ERROR, read_emv
from appliance.errors import CardReadError
from drivers.reader.base import ReadContext
from drivers.reader.profile import find_profile

CARDS = ("visa", "mastercard", "unionpay", "wrong-length")
ROUNDS = 12_000
CONTEXT = ReadContext(amount=100, txn_date=date(2026, 1, 1))
STATUS_WORDS = [b"\x90\x00", b"\x61\x10", b"\x6c\x05", b"\x67\x00", b"\x6a\x82", b"\x62\x83"]


def mutate(rng: random.Random, answer: bytes) -> bytes:
    """One seeded corruption of a card answer (data and status word)."""
    data = bytearray(answer)
    kind = rng.randrange(7)
    if kind == 0 and data:  # flip a few bytes
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncate (possibly into the status word)
        del data[rng.randrange(len(data) + 1) :]
    elif kind == 2 and len(data) > 3:  # bogus length byte somewhere in the TLV
        data[rng.randrange(1, len(data) - 2)] = rng.choice([0x00, 0x7F, 0x80, 0x81, 0x83, 0xFF])
    elif kind == 3:  # random status word
        data[-2:] = rng.choice([*STATUS_WORDS, bytes(rng.randbytes(2))])
    elif kind == 4:  # garbage inserted
        pos = rng.randrange(len(data) + 1)
        data[pos:pos] = rng.randbytes(rng.randint(1, 40))
    elif kind == 5:  # pure noise
        data = bytearray(rng.randbytes(rng.randint(0, 300)))
    # kind 6: leave this answer intact (so later steps get reached)
    return bytes(data)


def test_ten_thousand_mutated_reads_raise_nothing_but_card_read_errors():
    rng = random.Random(20261122)
    profiles = [find_profile(name) for name in CARDS]
    outcomes = {"read": 0, "refused": 0}
    for _ in range(ROUNDS):
        session = rng.choice(profiles).session()
        rate = rng.choice([0.15, 0.35, 0.7])

        def transceive(apdu: bytes, session=session, rate=rate) -> bytes:
            answer = session.transceive(apdu) or b""
            return mutate(rng, answer) if rng.random() < rate else answer

        try:
            card = read_emv(transceive, CONTEXT, unpredictable_number=b"\x00\x00\x00\x01")
            # Whatever got through is still a well-formed card.
            assert luhn_ok(card.pan) and card.expiry.isdigit() and len(card.expiry) == 4
            outcomes["read"] += 1
        except CardReadError as exc:
            # The catch-all message means the kernel hit a bug a card could trigger.
            assert str(exc) != INTERNAL_ERROR, repr(exc.__cause__)
            outcomes["refused"] += 1
    assert sum(outcomes.values()) == ROUNDS
    assert outcomes["refused"] > ROUNDS // 4  # the mutations really did reach the parser
