"""A simulated ESC/POS printer for tests and for running the appliance on a laptop.

``SimulatedEscpos`` is a python-escpos ``Dummy`` that behaves like a thermal printer: it answers
DLE EOT status queries from its paper/cover/power state, can run out of paper (or be unplugged)
part way through a job, and keeps the bytes that reached the paper. ``MockPrinter`` is the
ordinary ``EscposPrinter`` adapter wired to it, so the mock exercises the same status decoding
and error handling as a real USB, serial or network printer.
"""

from __future__ import annotations

import errno
import threading
from pathlib import Path

from escpos.exceptions import DeviceNotFoundError
from escpos.printer import Dummy
from PIL import Image

from drivers.printer.base import PrinterProfile, PrinterStatus
from drivers.printer.escpos_printer import EscposPrinter
from drivers.printer.escpos_render import render_png, render_text


class SimulatedEscpos(Dummy):
    """python-escpos ``Dummy`` that answers DLE EOT and can fail like a real printer.

    Bytes written while the printer can print are appended to ``output`` (the paper); status
    queries are answered and not printed; bytes sent while it cannot print are lost, as on a
    printer whose buffer is discarded when it goes offline.
    """

    def __init__(self) -> None:
        super().__init__()
        self.paper = "ok"  # "ok" | "low" | "out"
        self.cover_open = False
        self.plugged = True
        self._query: int | None = None
        self._budget: int | None = None
        self._then = PrinterStatus.PAPER_OUT
        #: When set to an Event, job writes wait for it (a printer busy printing a long job);
        #: ``writing`` is set while a write waits.
        self.gate: threading.Event | None = None
        self.writing = threading.Event()

    # -- state ---------------------------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        """True when the printer would not print (offline for DLE EOT 1)."""
        return self.paper == "out" or self.cover_open

    def fail_after_bytes(self, n: int, then: PrinterStatus = PrinterStatus.PAPER_OUT) -> None:
        """Print ``n`` more bytes, then enter ``then`` (PAPER_OUT, COVER_OPEN or OFFLINE)."""
        if then not in (PrinterStatus.PAPER_OUT, PrinterStatus.COVER_OPEN, PrinterStatus.OFFLINE):
            raise ValueError(f"a printer cannot fail into {then}")
        self._budget, self._then = n, then

    def _fail(self) -> None:
        self._budget = None
        if self._then is PrinterStatus.PAPER_OUT:
            self.paper = "out"
        elif self._then is PrinterStatus.COVER_OPEN:
            self.cover_open = True
        else:
            self.plugged = False

    # -- python-escpos connection ----------------------------------------------------------

    def open(self, raise_not_found: bool = True) -> None:
        """Succeed while plugged in, like ``File.open`` on /dev/usb/lp0."""
        if not self.plugged:
            raise DeviceNotFoundError("simulated printer is unplugged")

    def _raw(self, msg: bytes) -> None:
        if not self.plugged:
            raise OSError(errno.ENODEV, "No such device (simulated printer unplugged)")
        if len(msg) == 3 and msg[:2] == b"\x10\x04":
            self._query = msg[2]
            return
        if self.stopped:
            return
        if self.gate is not None:
            self.writing.set()
            self.gate.wait()
            self.writing.clear()
        if self._budget is not None and len(msg) >= self._budget:
            printed, self._budget = msg[: self._budget], None
            super()._raw(printed)
            self._fail()
            if not self.plugged:
                raise OSError(errno.EIO, "Input/output error (simulated printer unplugged)")
            return
        if self._budget is not None:
            self._budget -= len(msg)
        super()._raw(msg)

    def _read(self) -> bytes:
        if not self.plugged:
            raise OSError(errno.ENODEV, "No such device (simulated printer unplugged)")
        query, self._query = self._query, None
        if query == 1:
            return bytes((0x12 | (0x08 if self.stopped else 0),))
        if query == 2:
            return bytes(
                (0x12 | (0x04 if self.cover_open else 0) | (0x20 if self.paper == "out" else 0),)
            )
        if query == 4:
            sensor = {"ok": 0x00, "low": 0x0C, "out": 0x6C}[self.paper]
            return bytes((0x12 | sensor,))
        return b""


class MockPrinter(EscposPrinter):
    """The printer adapter over a ``SimulatedEscpos``, with helpers to drive and inspect it.

    ``jobs`` lists every job that printed in full as ``(job_id, bytes)``; ``received`` is every
    byte that reached the paper, including the printed part of failed jobs.
    """

    def __init__(self, profile: PrinterProfile | None = None) -> None:
        self.sim = SimulatedEscpos()
        super().__init__(
            lambda: self.sim,
            profile=profile or PrinterProfile(),
            device="mock printer",
            hint="check that it is plugged in (simulated: call restore())",
        )
        self.jobs: list[tuple[str, bytes]] = []

    # -- simulation helpers --------------------------------------------------------------

    def paper_out(self) -> None:
        """The roll ran out."""
        self.sim.paper = "out"

    def paper_low(self) -> None:
        """The roll reached the near-end sensor (printing still works)."""
        self.sim.paper = "low"

    def cover_open(self) -> None:
        """Someone opened the paper cover."""
        self.sim.cover_open = True

    def unplug(self) -> None:
        """Cable pulled or power off: the device disappears."""
        self.sim.plugged = False

    def restore(self) -> None:
        """New roll, cover closed, plugged in: back to ONLINE."""
        self.sim.paper = "ok"
        self.sim.cover_open = False
        self.sim.plugged = True

    def fail_after_bytes(self, n: int, then: PrinterStatus = PrinterStatus.PAPER_OUT) -> None:
        """The next job stops after ``n`` bytes with ``then`` (PAPER_OUT, COVER_OPEN, OFFLINE)."""
        self.sim.fail_after_bytes(n, then)

    # -- the port, recording completed jobs -----------------------------------------------

    def print_job(self, job_id: str, data: bytes) -> None:
        """Print like the real adapter; record the job when it printed in full."""
        super().print_job(job_id, data)
        self.jobs.append((job_id, data))

    # -- inspection ----------------------------------------------------------------------

    @property
    def received(self) -> bytes:
        """Every byte that reached the paper (status queries excluded)."""
        return self.sim.output

    def text(self) -> str:
        """The last completed job rendered as text ("" when nothing printed yet)."""
        if not self.jobs:
            return ""
        return render_text(self.jobs[-1][1], dots=self.profile.dots)

    def texts(self) -> list[str]:
        """Every completed job rendered as text, oldest first."""
        return [render_text(data, dots=self.profile.dots) for _, data in self.jobs]

    def png(self, path: str | Path) -> Image.Image:
        """Draw the last completed job as the paper would look and save it at ``path``."""
        if not self.jobs:
            raise ValueError("the mock printer has printed no job yet")
        return render_png(self.jobs[-1][1], path, self.profile.dots)
