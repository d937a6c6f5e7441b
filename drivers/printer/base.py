"""The receipt printer port.

Implementations must provide ``status()`` and ``print_job()``; they may override ``close()``.
``print_job`` raises ``PrinterNotReady`` when nothing was sent (the printer could not print or
be reached before the job) and ``PrinterError`` (with ``.status``) when the job was sent, or
partly sent, but may not have printed in full (connection cut, fault mid-job, no answer after
the time the job needs): the caller prints it once more, marked DUPLICATE.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol


class PrinterStatus(StrEnum):
    """What the printer reports (DLE EOT where the connection can read)."""

    ONLINE = "online"
    PAPER_LOW = "paper_low"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    OFFLINE = "offline"
    #: A job is being sent or printed: the printer is there, just not free (a slow printer
    #: taking a long job is busy, not offline).
    BUSY = "busy"

    @property
    def can_print(self) -> bool:
        """True for ONLINE and PAPER_LOW (a BUSY printer takes no new job until done)."""
        return self in (PrinterStatus.ONLINE, PrinterStatus.PAPER_LOW)


@dataclass(frozen=True)
class PrinterProfile:
    """Paper and firmware facts the receipt renderer needs.

    ``chinese``: "fs" = GB18030 text wrapped in FS & … FS . (Chinese firmware);
    "image" = Chinese lines rendered with a CJK font and printed as raster images.
    """

    columns: Literal[32, 48] = 32
    width_mm: Literal[58, 80] = 58
    dots: int = 384
    chinese: Literal["fs", "image"] = "fs"
    cutter: bool = False
    drawer: bool = False


class ReceiptPrinter(Protocol):
    """Print whole ESC/POS jobs and report status."""

    profile: PrinterProfile

    def status(self) -> PrinterStatus:
        """Current status; OFFLINE when the printer cannot be reached (never raises)."""
        ...

    def print_job(self, job_id: str, data: bytes) -> None:
        """Send one complete job; raise PrinterError if it did not print in full."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
