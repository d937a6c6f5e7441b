"""A LAN printer played by a local TCP server, for contract tests and demos.

``FakeNetworkPrinter`` listens on 127.0.0.1 (port 0 picks a free one), accepts raw ESC/POS like a
printer's port 9100, answers DLE EOT queries from a configurable status, and can be told to
drop the connection part way through a job or to vanish (``unplug``) and come back
(``restore``) on the same port. Like a real printer, it treats ``DLE EOT n`` as a real-time
command wherever it appears in the stream and does not print it.

Two behaviours of real printers that make a job's outcome hard to judge:

- ``rate``: the printer takes data only as fast as it prints (bytes per second), so a status
  query sent after a long job is answered only once the job's bytes are in;
- ``fault`` / ``fault_after_bytes``: paper out, cover open or offline part way through a job;
  the printer keeps (``held``) what it received meanwhile, answers status queries with the
  fault, and prints the held data when the fault is cleared (``restore``).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from types import TracebackType

from drivers.printer.base import PrinterStatus

#: DLE EOT reply bytes (1 printer, 2 offline cause, 4 paper sensor) for each status.
STATUS_REPLIES: dict[PrinterStatus, dict[int, int]] = {
    PrinterStatus.ONLINE: {1: 0x12, 2: 0x12, 4: 0x12},
    PrinterStatus.PAPER_LOW: {1: 0x12, 2: 0x12, 4: 0x1E},
    PrinterStatus.PAPER_OUT: {1: 0x1A, 2: 0x32, 4: 0x7E},
    PrinterStatus.COVER_OPEN: {1: 0x1A, 2: 0x16, 4: 0x12},
    PrinterStatus.OFFLINE: {1: 0x1A, 2: 0x52, 4: 0x12},  # offline with an error (bit 6)
}


class FakeNetworkPrinter:
    """A printer on a local TCP port; use as a context manager or call start()/stop()."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, rate: float | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.rate = rate
        self.status = PrinterStatus.ONLINE
        self._held = bytearray()
        self._holding = False
        self._fault_after: tuple[int, PrinterStatus] | None = None
        self.answer = True  # False: a printer that never replies to DLE EOT
        self._close_after: int | None = None
        self._received = bytearray()
        self._cond = threading.Condition()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.connections = 0
        self._reading = threading.Event()
        self._reading.set()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeNetworkPrinter:
        """Listen (on the same port again after ``unplug``) and serve in background threads."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(4)
        self.port = listener.getsockname()[1]
        self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop listening and drop every connection; waits for the server threads."""
        self._reading.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._cond:
            conns, self._conns = self._conns, []
        for conn in conns:
            _hard_close(conn)
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = [t for t in self._threads if t.is_alive()]

    def __enter__(self) -> FakeNetworkPrinter:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- simulation ------------------------------------------------------------------------

    def unplug(self) -> None:
        """The printer disappears: connections drop and new ones are refused."""
        self.stop()

    def restore(self) -> None:
        """Back on the same port, ONLINE and answering; data held through a fault prints now."""
        with self._cond:
            self.status = PrinterStatus.ONLINE
            self.answer = True
            if self._holding:
                self._received += self._held
                self._held.clear()
                self._holding = False
                self._cond.notify_all()
        if self._listener is None:
            self.start()

    def fault(self, status: PrinterStatus) -> None:
        """Paper out, cover open or offline now: job bytes are held until ``restore``."""
        with self._cond:
            self.status = status
            self._holding = True

    def fault_after_bytes(self, n: int, status: PrinterStatus = PrinterStatus.PAPER_OUT) -> None:
        """Print ``n`` more job bytes, then ``fault(status)`` (holding the rest)."""
        with self._cond:
            self._fault_after = (len(self._received) + n, status)

    @property
    def held(self) -> bytes:
        """Job bytes received during a fault, not printed yet."""
        with self._cond:
            return bytes(self._held)

    def close_after_bytes(self, n: int) -> None:
        """Drop the connection once ``n`` more job bytes have arrived (a mid-job failure)."""
        with self._cond:
            self._close_after = len(self._received) + n

    def stall(self) -> None:
        """Stop taking data, like a printer with a full buffer busy printing."""
        self._reading.clear()

    def resume(self) -> None:
        """Take data again after ``stall``."""
        self._reading.set()

    @property
    def received(self) -> bytes:
        """Every job byte received so far (status queries excluded)."""
        with self._cond:
            return bytes(self._received)

    def wait_for_bytes(self, n: int, timeout: float = 5.0) -> bytes:
        """Block until at least ``n`` job bytes have arrived; returns what was received."""
        with self._cond:
            self._cond.wait_for(lambda: len(self._received) >= n, timeout)
            return bytes(self._received)

    # -- server ----------------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # listener closed by stop()
            with self._cond:
                self._conns.append(conn)
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        pending = b""
        with conn:
            while True:
                self._reading.wait()
                try:
                    chunk = conn.recv(
                        max(1, min(512, int(self.rate // 10))) if self.rate else 65536
                    )
                except OSError:
                    return
                if not chunk:
                    return
                if self.rate:
                    time.sleep(len(chunk) / self.rate)  # the printer takes data as it prints
                data, pending = pending + chunk, b""
                while data:
                    i = data.find(b"\x10")
                    if i < 0 or (len(data) - i >= 2 and data[i + 1] != 0x04):
                        # no query here: everything up to the next possible DLE is job data
                        cut = len(data) if i < 0 else i + 1
                        job, data = data[:cut], data[cut:]
                    elif len(data) - i < 3:
                        job, pending, data = data[:i], data[i:], b""  # query split across reads
                    else:
                        # bytes before the query are stored first: the reply confirms them
                        job, query, data = data[:i], data[i + 2], data[i + 3 :]
                        if self._take(job):
                            _hard_close(conn)
                            return
                        self._reply(conn, query)
                        continue
                    if self._take(job):
                        _hard_close(conn)
                        return

    def _take(self, job: bytes) -> bool:
        """Store job bytes; True when the connection must now drop."""
        with self._cond:
            if self._fault_after is not None and not self._holding:
                limit, status = self._fault_after
                room = max(0, limit - len(self._received))
                if len(job) >= room:
                    self._received += job[:room]
                    job = job[room:]
                    self._fault_after = None
                    self.status, self._holding = status, True
            if self._holding:
                self._held += job
                self._cond.notify_all()
                return False
            if self._close_after is not None:
                room = max(0, self._close_after - len(self._received))
                self._received += job[:room]
                drop = len(job) >= room
                if drop:
                    self._close_after = None
            else:
                self._received += job
                drop = False
            self._cond.notify_all()
            return drop

    def _reply(self, conn: socket.socket, n: int) -> None:
        if not self.answer:
            return
        byte = STATUS_REPLIES[self.status].get(n)
        if byte is not None:
            with contextlib.suppress(OSError):
                conn.sendall(bytes((byte,)))


def _hard_close(conn: socket.socket) -> None:
    """Close so the peer sees a reset, as when a printer loses power."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        conn.close()
