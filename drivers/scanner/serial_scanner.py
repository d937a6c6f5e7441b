"""A serial scanner (UART or USB-CDC ``/dev/ttyACM0``) through pyserial; CR or LF ends a code.

Scanners in serial mode send each code followed by CR, LF or CR LF; an empty line between the
two is skipped. Bytes are decoded as UTF-8 (ASCII for every wallet code); anything else is an
unusable code, not a crash.
"""

from __future__ import annotations

import contextlib
import select
import termios
from typing import Any

from appliance.errors import ScanError, ScannerOffline
from drivers.scanner.base import MAX_CODE_LENGTH
from drivers.scanner.device import DeviceScanner


class SerialScanner(DeviceScanner):
    """``BarcodeScanner`` over a serial port."""

    def __init__(self, port: str, *, baudrate: int = 9600) -> None:
        super().__init__(f"serial scanner {port}")
        self.port = port
        self.baudrate = baudrate
        self._ser: Any = None
        self._buf = bytearray()

    def _connect(self) -> None:
        import serial

        try:
            self._ser = serial.Serial(self.port, self.baudrate, timeout=0)
        except (serial.SerialException, OSError) as exc:
            raise ScannerOffline(
                f"{self.label} cannot be opened ({_reason(exc)}): check the cable and "
                "[scanner] device, and that countertop's user is in the 'dialout' group"
            ) from exc
        self._buf.clear()

    def _disconnect(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            # pyserial raises SerialException or OSError closing a port that is gone
            with contextlib.suppress(Exception):
                ser.close()

    def _gone(self, exc: BaseException) -> ScannerOffline:
        return ScannerOffline(
            f"{self.label} stopped answering ({_reason(exc)}): check the cable and plug it "
            "back in; codes are read again once it returns"
        )

    def _discard_pending(self) -> None:
        import serial

        self._buf.clear()
        try:
            self._ser.reset_input_buffer()
        except (serial.SerialException, OSError, termios.error) as exc:
            raise self._gone(exc) from exc

    def _wait_code(self, seconds: float) -> str | None:
        import serial

        try:
            ready, _, _ = select.select([self._ser.fileno()], [], [], seconds)
            if not ready:
                return None
            data = self._ser.read(max(1, self._ser.in_waiting))
        except (serial.SerialException, OSError, termios.error, ValueError) as exc:
            raise self._gone(exc) from exc
        self._buf += data
        while True:
            ends = [i for i in (self._buf.find(b"\r"), self._buf.find(b"\n")) if i >= 0]
            if not ends:
                break
            end = min(ends)
            line, self._buf = bytes(self._buf[:end]), self._buf[end + 1 :]
            if not line:
                continue  # the LF of a CR LF, or a blank line
            self._buf.clear()  # one code per read; what follows is stale by the next read
            return _decode(line, self.label)
        if len(self._buf) > MAX_CODE_LENGTH:
            self._buf.clear()
            raise ScanError(
                f"{self.label}: more than {MAX_CODE_LENGTH} bytes without CR or LF: set the "
                "scanner to end each code with CR or LF",
                code="scan.too_long",
            )
        return None


def _decode(line: bytes, label: str) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScanError(
            f"{label}: the code is not text ({len(line)} bytes): check the scanner's "
            "serial settings (baud rate, 8N1)",
            code="scan.unreadable",
        ) from exc


def _reason(exc: BaseException) -> str:
    """The OS reason without the port's own wording (pyserial repeats the path)."""
    err = getattr(exc, "strerror", None)
    if err:
        return str(err)
    text = str(exc)
    return text.rsplit(": ", 1)[-1] if ": " in text else text or type(exc).__name__
