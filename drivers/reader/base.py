"""The card reader port.

Implementations must provide ``status()`` and ``read_card()``; they may override ``close()``.
They raise ``ReadTimeout`` when no card came in time, ``ReadCancelled`` when ``cancel`` was set,
``ReaderOffline`` when the device is absent, and ``CardReadError`` (with a reason a person
understands) for every other failure. They never raise anything else.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from appliance.domain.card import CardRead
from appliance.emv.risk import KernelParams


class ReaderStatus(StrEnum):
    """Whether the reader can read a card now."""

    READY = "ready"
    OFFLINE = "offline"


@dataclass(frozen=True)
class ReadContext:
    """Transaction data the card asks for in its PDOL (amount, currency, country, date)."""

    amount: int
    currency_numeric: str = "156"
    country_numeric: str = "156"
    txn_date: date | None = None
    txn_type: str = "00"  # 9C: 00 purchase, 20 refund
    online: bool = True  # the host is believed reachable (else the card may be asked for a TC)
    params: KernelParams | None = None  # limits and capabilities (None: the defaults)
    ifd_serial: str = ""  # 9F1E interface device serial number (the TID)
    txn_time: datetime | None = None  # 9F21, local time of the transaction


class CardReader(Protocol):
    """Wait for one card and read it with the EMV contactless flow."""

    def status(self) -> ReaderStatus:
        """READY or OFFLINE (never raises)."""
        ...

    def read_card(
        self, context: ReadContext, timeout: float, cancel: threading.Event | None = None
    ) -> CardRead:
        """Wait up to ``timeout`` seconds for a card, read it, and return what was read."""
        ...

    def close(self) -> None:
        """Release the device."""
        ...
