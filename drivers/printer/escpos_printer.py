"""``ReceiptPrinter`` over any python-escpos connection (USB, serial, network, file, mock).

The adapter owns one connection object and rebuilds it after any failure, so a printer that was
unplugged, switched off or out of reach is picked up again on the next ``status()`` or
``print_job()`` without restarting the appliance.

Status comes from real DLE EOT queries where the connection can read (USB, serial, network):

- ``DLE EOT 1`` printer status: bit 3 = offline
- ``DLE EOT 2`` offline cause: bit 2 = cover open, bit 5 = stopped by paper end
- ``DLE EOT 4`` roll paper sensor: bits 2-3 = near end, bits 5-6 = paper end

A connection that cannot read (``file``) reports ONLINE whenever the device opens.

After a job is written the printer is given the time the job needs before it is judged: a
printer takes data only as fast as it prints once its buffer is full, so the status query
sent after the job is answered only when the printer has taken every byte before it. The
adapter waits for that answer up to ``len(job) / rate + margin`` seconds (``rate`` = the
slowest bytes per second the printer takes, from config). Meanwhile ``status()`` says BUSY;
only no answer within that time makes the outcome uncertain.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError
from escpos.exceptions import Error as EscposLibraryError
from escpos.printer import File, Network, Serial

from appliance.errors import PrinterError, PrinterNotReady
from drivers.printer.base import PrinterProfile, PrinterStatus

log = logging.getLogger(__name__)

DLE_EOT = b"\x10\x04"

#: Seconds a job may take to be accepted. A printer takes data only as fast as it prints once
#: its buffer is full, and a job that times out half-sent is printed again whole by the caller,
#: so this is generous; status queries use the short connection timeout instead.
WRITE_TIMEOUT = 60.0

#: Slowest data rate (bytes per second) a printer is assumed to take a job at, and the margin
#: (seconds) added to the time a job needs before an unanswered printer is judged.
DEFAULT_RATE = 2000.0
DEFAULT_MARGIN = 5.0

#: What python-escpos connections raise when the device is absent or fails. pyusb's USBError
#: and pyserial's SerialException are OSErrors; ``assert self.device`` fires when an open
#: silently failed; the usb/serial modules raise RuntimeError when their library is missing.
IO_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EscposLibraryError,
    AssertionError,
    RuntimeError,
    ValueError,
)

_STATUS_WORDS: dict[PrinterStatus, str] = {
    PrinterStatus.ONLINE: "online",
    PrinterStatus.PAPER_LOW: "paper is running low",
    PrinterStatus.PAPER_OUT: "out of paper: load a new roll",
    PrinterStatus.COVER_OPEN: "the cover is open: close it",
    PrinterStatus.OFFLINE: "offline",
    PrinterStatus.BUSY: "busy printing",
}


def decode_status(printer: int, offline_cause: int | None, paper: int | None) -> PrinterStatus:
    """Combine the DLE EOT 1, 2 and 4 reply bytes into one status (most urgent first)."""
    if printer & 0x08:
        if offline_cause is not None and offline_cause & 0x04:
            return PrinterStatus.COVER_OPEN
        if (offline_cause is not None and offline_cause & 0x20) or (
            paper is not None and paper & 0x60
        ):
            return PrinterStatus.PAPER_OUT
        return PrinterStatus.OFFLINE
    if paper is not None and paper & 0x60:
        return PrinterStatus.PAPER_OUT
    if paper is not None and paper & 0x0C:
        return PrinterStatus.PAPER_LOW
    return PrinterStatus.ONLINE


class EscposPrinter:
    """A receipt printer reached through a python-escpos connection.

    ``connect`` builds a fresh, unopened python-escpos printer object; it is called again after
    every failure. ``device`` names the printer in messages ("USB printer 0416:5011") and
    ``hint`` says what a person should check when it cannot be reached. ``rate`` (bytes per
    second) and ``margin`` (seconds) bound the wait for a job to drain.
    """

    def __init__(
        self,
        connect: Callable[[], Escpos],
        *,
        profile: PrinterProfile,
        device: str,
        hint: str,
        rate: float = DEFAULT_RATE,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        self.profile = profile
        self.device = device
        self.hint = hint
        self.rate = rate
        self.margin = margin
        self._connect = connect
        self._conn: Escpos | None = None
        self._lock = threading.Lock()
        self._last = PrinterStatus.OFFLINE  # until the first query says otherwise
        self._sending = False  # a job holds the connection (status() answers BUSY at once)

    # -- connection ------------------------------------------------------------------------

    def _open(self) -> Escpos:
        if self._conn is None:
            try:
                conn = self._connect()
                conn.open()
            except IO_ERRORS as exc:
                raise PrinterError(
                    f"{self.device} is not reachable ({_one_line(exc)}): {self.hint}",
                    PrinterStatus.OFFLINE,
                ) from exc
            self._conn = conn
        return self._conn

    def _drop(self) -> None:
        """Forget the connection after a failure; the next call reconnects."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except IO_ERRORS:
                log.debug("closing %s after a failure also failed", self.device, exc_info=True)

    def _ask(self, conn: Escpos, n: int) -> int | None:
        """One DLE EOT query; the reply byte, or None when the printer did not answer."""
        conn._raw(DLE_EOT + bytes((n,)))
        reply = conn._read()
        # A late answer to an earlier query can precede ours; the newest byte is the answer.
        return reply[-1] if reply else None

    def _query(self, conn: Escpos) -> PrinterStatus:
        if type(conn)._read is Escpos._read:
            # Write-only connection (File): it opened, that is all we know. Sending the query
            # anyway would leave DLE EOT bytes in the device's stream.
            return PrinterStatus.ONLINE
        try:
            printer = self._ask(conn, 1)
        except IO_ERRORS:
            log.info("%s: status query failed", self.device, exc_info=True)
            self._drop()
            return PrinterStatus.OFFLINE
        if printer is None:
            self._drop()
            return PrinterStatus.OFFLINE
        try:
            cause = self._ask(conn, 2) if printer & 0x08 else None
            paper = self._ask(conn, 4)
        except IO_ERRORS:
            self._drop()
            return PrinterStatus.OFFLINE
        return decode_status(printer, cause, paper)

    # -- the port ----------------------------------------------------------------------------

    def status(self) -> PrinterStatus:
        """Current status from DLE EOT queries; OFFLINE when unreachable (never raises).

        While a job is being sent or drains the connection is busy: BUSY is returned at once
        (or the fault that job ran into) instead of waiting for the job.
        """
        # Another status query takes milliseconds: wait for it, but not for a job.
        while not self._lock.acquire(timeout=0.05):
            if self._sending:
                return PrinterStatus.BUSY if self._last.can_print else self._last
        try:
            self._last = self._status()
            return self._last
        finally:
            self._lock.release()

    def _status(self) -> PrinterStatus:
        try:
            return self._query(self._open())
        except PrinterError:
            return PrinterStatus.OFFLINE
        except Exception:
            # The port promises status() never raises; a library surprise is logged.
            log.exception("%s: unexpected error while reading status", self.device)
            self._drop()
            return PrinterStatus.OFFLINE

    @property
    def last_status(self) -> PrinterStatus:
        """The status last seen (BUSY while a job is being sent), without asking the printer."""
        if self._sending and self._last.can_print:
            return PrinterStatus.BUSY
        return self._last

    def drain_seconds(self, size: int) -> float:
        """How long a job of ``size`` bytes may take before an unanswered printer is judged."""
        return size / self.rate + self.margin

    def print_job(self, job_id: str, data: bytes) -> None:
        """Send one complete job and wait until the printer has taken it.

        Raises ``PrinterNotReady`` when the status before the job says it cannot print
        (nothing is sent), ``PrinterError`` (with ``.status``) when the job may be incomplete:
        the connection failed while sending, the printer reported a fault once it had taken
        the job (paper ran out, cover opened), or it did not answer within
        ``drain_seconds(len(data))``.
        """
        with self._lock:
            try:
                conn = self._open()
            except PrinterError as exc:
                self._last = PrinterStatus.OFFLINE
                raise PrinterNotReady(str(exc), PrinterStatus.OFFLINE) from exc
            before = self._last = self._query(conn)
            if not before.can_print:
                raise PrinterNotReady(self._message(job_id, before, "was not printed"), before)
            budget = self.drain_seconds(len(data))
            deadline = time.monotonic() + budget
            if hasattr(conn, "write_timeout"):
                conn.write_timeout = max(WRITE_TIMEOUT, budget)  # type: ignore[attr-defined]
            self._sending = True
            try:
                try:
                    conn._raw(data)
                except IO_ERRORS as exc:
                    self._drop()
                    self._last = PrinterStatus.OFFLINE
                    raise PrinterError(
                        f"{self.device} failed during job {job_id} ({_one_line(exc)}); "
                        f"the job may be partly printed: {self.hint}",
                        PrinterStatus.OFFLINE,
                    ) from exc
                after = self._last = self._drained(conn, deadline)
            finally:
                self._sending = False
            if not after.can_print:
                outcome = "may be incomplete"
                if after is PrinterStatus.OFFLINE:
                    outcome += f" (no answer within {budget:.0f} s of sending it)"
                raise PrinterError(self._message(job_id, after, outcome), after)

    def _drained(self, conn: Escpos, deadline: float) -> PrinterStatus:
        """The status once the printer has taken the job: the answer to a DLE EOT sent after
        it, waited for until ``deadline`` (the printer reads it only after the job's bytes)."""
        if type(conn)._read is Escpos._read:
            return PrinterStatus.ONLINE
        try:
            conn._raw(DLE_EOT + b"\x01")
            printer = None
            while printer is None:
                try:
                    reply = conn._read()
                except (TimeoutError, *IO_ERRORS) as exc:
                    timed_out = isinstance(exc, TimeoutError) or (
                        type(exc).__name__ == "USBTimeoutError"
                    )
                    if not timed_out:
                        raise
                    if time.monotonic() >= deadline:
                        break
                    continue  # still taking the job: ask the connection again
                if reply:
                    printer = reply[-1]
                elif time.monotonic() >= deadline or not isinstance(conn, Serial):
                    # Only a serial read returns b"" for "nothing yet" (after its timeout);
                    # elsewhere b"" is a closed connection or a printer that will not answer.
                    break
            if printer is None:
                self._drop()
                return PrinterStatus.OFFLINE
            cause = self._ask(conn, 2) if printer & 0x08 else None
            paper = self._ask(conn, 4)
        except IO_ERRORS:
            log.info("%s: no status after a job", self.device, exc_info=True)
            self._drop()
            return PrinterStatus.OFFLINE
        return decode_status(printer, cause, paper)

    def _message(self, job_id: str, status: PrinterStatus, outcome: str) -> str:
        why = _STATUS_WORDS[status]
        if status is PrinterStatus.OFFLINE:
            why = f"offline: {self.hint}"
        return f"job {job_id} {outcome}: {self.device} is {why}"

    def close(self) -> None:
        """Release the connection (reopened by the next call)."""
        with self._lock:
            self._drop()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class ExistingFile(File):
    """python-escpos ``File`` that will not create its device file.

    ``File.open`` uses mode "wb", which would quietly create a plain file where the device node
    is missing because the printer is off (/dev/usb/lp0 exists only while it is on).
    """

    def open(self, raise_not_found: bool = True) -> None:
        """Open the device, or raise DeviceNotFoundError when it does not exist."""
        if not os.path.exists(self.devfile):
            raise DeviceNotFoundError(f"{self.devfile} does not exist")
        super().open(raise_not_found)


class PromptSerial(Serial):
    """python-escpos ``Serial`` with prompt status reads and a bounded write time.

    ``Serial._read`` asks pyserial for 16 bytes, which waits out the whole timeout for a
    one-byte DLE EOT reply: every status query would cost ``timeout`` seconds. And python-escpos
    leaves pyserial's write timeout unset, so with DSR/DTR flow control a switched-off printer
    would block a write forever.
    """

    write_timeout: float = WRITE_TIMEOUT

    def open(self, raise_not_found: bool = True) -> None:
        """Open the port and bound its writes by ``write_timeout``."""
        super().open(raise_not_found)
        if self._device:
            self._device.write_timeout = self.write_timeout

    def _raw(self, msg: bytes) -> None:
        """Write with the current ``write_timeout`` (a long job gets the time it needs)."""
        if self._device:
            self._device.write_timeout = self.write_timeout
        super()._raw(msg)

    def _read(self) -> bytes:
        """The reply byte (b"" after the timeout), plus anything already queued behind it."""
        assert self.device
        first = self.device.read(1)
        return first + self.device.read(self.device.in_waiting) if first else first


class PatientNetwork(Network):
    """python-escpos ``Network`` whose job writes may take ``write_timeout`` seconds.

    Since Python 3.5 a socket timeout bounds a whole ``sendall``: the short timeout that keeps
    connects and status queries snappy would cut off a long job to a printer that is busy
    printing the start of it.
    """

    write_timeout: float = WRITE_TIMEOUT

    def open(self, raise_not_found: bool = True) -> None:
        """Connect with Nagle off: a 3-byte status query sent right after a job would
        otherwise wait for the printer's delayed ACK (40 ms per query on Linux)."""
        super().open(raise_not_found)
        if self._device:
            self._device.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _raw(self, msg: bytes) -> None:
        """Send ``msg`` with the long write timeout, then restore the short one."""
        assert self.device
        self.device.settimeout(self.write_timeout)
        try:
            self.device.sendall(msg)
        finally:
            self.device.settimeout(self.timeout)
