"""``countertop bench card``: CPU time of the EMV kernel per card read, transport excluded.

Each card's APDU answers are recorded once from its profile; the timed reads then replay
them from a list, so the transport costs next to nothing and the figure is the kernel's own
work (TLV parsing, PDOL, field 55). Target: p99 ≤ 5 ms per read on a Raspberry Pi 4.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path

from appliance.bench.stats import percentile
from appliance.emv.kernel import read_emv
from appliance.errors import ConfigError

TARGET_MS = 5.0
DEFAULT_CARDS = ("visa", "mastercard", "unionpay")


class _Terminal:
    amount = 12_345
    currency_numeric = "156"
    country_numeric = "156"
    txn_date = date(2026, 1, 1)
    txn_type = "00"


def _recorded(card: str, cards_dir: Path | None) -> list[bytes]:
    from drivers.reader.profile import find_profile

    session = find_profile(card, cards_dir).session()
    answers: list[bytes] = []

    def transceive(apdu: bytes) -> bytes:
        response = session.transceive(apdu)
        if response is None:
            raise ConfigError(f"bench card {card!r} leaves the field mid-read; pick another")
        answers.append(response)
        return response

    read_emv(transceive, _Terminal(), unpredictable_number=bytes(4))
    return answers


def bench_card(
    n: int = 1000, cards: Sequence[str] = DEFAULT_CARDS, cards_dir: Path | None = None
) -> dict[str, object]:
    """Read ``n`` cards (round-robin over ``cards``) and report CPU ms per read.

    Returns ``{"reads", "p50_ms", "p99_ms", "max_ms", "apdus": {card: count},
    "target_ms", "ok"}`` where ``ok`` is ``p99_ms <= target_ms``.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    tapes = {card: _recorded(card, cards_dir) for card in cards}
    terminal = _Terminal()
    un = bytes.fromhex("12345678")
    samples: list[float] = []
    names = list(tapes)
    for i in range(n):
        tape = tapes[names[i % len(names)]]
        replay = iter(tape)

        def transceive(apdu: bytes, _replay: Iterator[bytes] = replay) -> bytes:
            return next(_replay)

        start = time.process_time()
        read_emv(transceive, terminal, unpredictable_number=un)
        samples.append((time.process_time() - start) * 1000)
    samples.sort()
    p99 = percentile(samples, 99)
    return {
        "reads": n,
        "p50_ms": round(percentile(samples, 50), 4),
        "p99_ms": round(p99, 4),
        "max_ms": round(samples[-1], 4),
        "apdus": {card: len(tape) for card, tape in tapes.items()},
        "target_ms": TARGET_MS,
        "ok": p99 <= TARGET_MS,
    }
