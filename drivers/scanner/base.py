"""The barcode / QR scanner port.

Implementations must provide ``status()`` and ``read_code()``; they may override ``close()``.
``read_code`` returns one ``ScannedCode`` scanned *after* the call began: a code scanned while
no read was waiting is discarded, so a payment code shown to the scanner before the prompt can
never pay for a later sale. It raises ``ScanTimeout`` when no code came in time,
``ScanCancelled`` when ``cancel`` was set, ``ScannerOffline`` when the device is absent,
unplugged, not permitted or held by another program (the message names the device and what to
do), and ``ScanError`` for an unusable code (too long, not text). It never raises anything else.

Every implementation has ``waiting``, a ``threading.Event`` set while a read is listening for a
code (after stale input was discarded): a screen can say "ready" and a test can scan exactly then.

A scanned code is a payment credential: adapters never log it, and ``ScannedCode`` shows
itself masked in ``str``/``repr`` so an accidental log line does not leak it either.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

#: Longest code accepted (characters). Wallet codes are 18 digits and UnionPay QR payloads a
#: few hundred characters at most; anything longer is a stuck key or a wrong scanner mode.
MAX_CODE_LENGTH = 1024


class ScannerStatus(StrEnum):
    """Whether the scanner can read a code now."""

    READY = "ready"
    OFFLINE = "offline"
    NOT_CONFIGURED = "not_configured"  # backend "none": this terminal has no scanner


def mask_code(code: str) -> str:
    """``code`` with all but its first two and last four characters replaced by ``*``.

    Codes of eight characters or fewer are masked entirely (nothing useful would remain hidden).
    """
    if len(code) <= 8:
        return "*" * len(code)
    return code[:2] + "*" * (len(code) - 6) + code[-4:]


@dataclass(frozen=True)
class ScannedCode:
    """One code as the scanner delivered it; ``value`` is the content, for the request only."""

    value: str = field(repr=False)
    device: str = ""

    @property
    def masked(self) -> str:
        """The code with its middle hidden, safe for logs and screens."""
        return mask_code(self.value)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"ScannedCode({self.masked!r}, device={self.device!r})"


class BarcodeScanner(Protocol):
    """Wait for one scanned code (1D barcode or QR) and return its content."""

    waiting: threading.Event

    def status(self) -> ScannerStatus:
        """READY, OFFLINE or NOT_CONFIGURED (never raises); may open the device."""
        ...

    def read_code(self, timeout: float, cancel: threading.Event | None = None) -> ScannedCode:
        """Wait up to ``timeout`` seconds for a code scanned after this call began."""
        ...

    def close(self) -> None:
        """Release the device (and its exclusive grab)."""
        ...
