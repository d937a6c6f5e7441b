"""A simulated ISO 14443-4 (ISO-DEP) payment card on nfcpy's ``udp`` device.

nfcpy's ``udp`` driver sends each RF frame as a datagram ``"106A <hex>"``. nfcpy cannot
emulate a Type 4 card itself, so this thread plays the card: Type A anticollision (4-byte
UID, SAK 0x20), RATS → ATS, then ISO-DEP I-blocks whose APDUs are answered by a card
profile's ``CardSession``. The reader under test is the real ``NfcReader`` with the device
path ``udp:127.0.0.1:<port>``. Not supported: a second card (collisions) and Type B.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from functools import reduce
from operator import xor

from drivers.reader.profile import CardProfile, CardSession

# ATS: TL, T0 (TA/TB/TC follow, FSCI 8 = 256 bytes), TA, TB (FWI 8 ≈ 77 ms, SFGI 0), TC.
ATS = bytes.fromhex("0578808002")
_CHUNK = 250  # INF bytes per I-block towards the reader (its FSD is 256 with PCB and CRC)


class UdpCard:
    """The card side of nfcpy's ``udp`` device, in its own thread (RATS allows 30 ms)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(0.05)
        self.host, self.port = self._sock.getsockname()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._profile: CardProfile | None = None
        self._session: CardSession | None = None
        self._active = False
        self._silent = False
        self._last: bytes | None = None
        self._pending = b""  # response bytes still to send in chained I-blocks
        self._chained_cmd = b""
        self.polled = threading.Event()  # set when the reader polls the field (for tests)

    @property
    def device_path(self) -> str:
        """The nfcpy device path for the reader under test."""
        return f"udp:{self.host}:{self.port}"

    def start(self) -> UdpCard:
        """Start answering in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name="udp-card", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close the socket."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._sock.close()

    def __enter__(self) -> UdpCard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def present(self, profile: CardProfile) -> None:
        """Put the card in the field (one tap: it leaves when the reader switches RF off)."""
        with self._lock:
            self._profile, self._session = profile, None
            self._active = self._silent = False

    def remove(self) -> None:
        """Take the card out of the field."""
        with self._lock:
            self._profile = self._session = None
            self._active = False

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                datagram, addr = self._sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                reply = self._handle(datagram)
            if reply is not None:
                with contextlib.suppress(OSError):
                    self._sock.sendto(b"106A " + reply.hex().encode(), addr)

    def _handle(self, datagram: bytes) -> bytes | None:
        if datagram.endswith(b" 26"):
            self.polled.set()
        if datagram.startswith(b"RFOFF"):
            if self._active:  # the tap is over: the card has been taken away
                self._profile = None
            self._session, self._active = None, False
            return None
        try:
            brty, hexdata = datagram.split()
            frame = bytes.fromhex(hexdata.decode())
        except ValueError:
            return None
        if brty != b"106A" or self._profile is None or self._silent or not frame:
            return None
        uid = self._profile.uid
        if frame in (b"\x26", b"\x52"):  # SENS_REQ / ALL_REQ
            self._session, self._active = None, False
            return bytes.fromhex("0400")
        if frame == b"\x93\x20":  # SDD_REQ cascade level 1
            return uid + bytes([reduce(xor, uid)])
        if frame[:2] == b"\x93\x70" and frame[2:6] == uid:  # SEL_REQ
            return b"\x20"  # SAK: ISO 14443-4 compliant
        if frame[0] == 0xE0:  # RATS
            self._session = self._profile.session()
            self._active, self._pending, self._chained_cmd = True, b"", b""
            return ATS
        if not self._active or self._session is None:
            return None
        return self._block(frame)

    def _block(self, frame: bytes) -> bytes | None:
        pcb = frame[0]
        bn = pcb & 0x01
        if pcb & 0xE2 == 0x02:  # I-block
            if pcb & 0x10:  # the reader chains a long command
                self._chained_cmd += frame[1:]
                self._last = bytes([0xA2 | bn])
                return self._last
            apdu, self._chained_cmd = self._chained_cmd + frame[1:], b""
            response = self._session.transceive(apdu) if self._session else None
            if response is None:
                self._silent = True  # the card has left the field mid-read
                return None
            self._pending = response
            return self._next_chunk(bn)
        if pcb & 0xF6 == 0xA2:  # R(ACK): send the next chained part
            return self._next_chunk(bn) if self._pending else self._last
        if pcb & 0xF6 == 0xB2:  # R(NAK): the reader missed our last block
            return self._last
        if pcb & 0xF7 == 0xC2:  # S(DESELECT)
            self._active = False
            return bytes([0xC2])
        return None

    def _next_chunk(self, bn: int) -> bytes:
        chunk, self._pending = self._pending[:_CHUNK], self._pending[_CHUNK:]
        more = 0x10 if self._pending else 0x00
        self._last = bytes([0x02 | more | bn]) + chunk
        return self._last
