"""Frames on the byte stream: a length header, the dialect's prefix (TPDU), then the body."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from appliance.errors import ProtocolError
from appliance.host.dialects.profile import Profile

MAX_FRAME = 8192  # far above any message we send; a larger length header means a broken stream


class FrameReader:
    """Splits a byte stream into frame bodies (length header and prefix removed)."""

    def __init__(self, profile: Profile) -> None:
        self._p = profile
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return every complete frame body. ProtocolError on a bad header."""
        return list(self.split(data))

    def split(self, data: bytes) -> Iterator[bytes]:
        """Add received bytes; yield each complete frame body in turn.

        A bad header raises ProtocolError when reached, after the frames before it.
        """
        self._buf += data
        hl = self._p.length_header
        while len(self._buf) >= hl:
            n = int.from_bytes(self._buf[:hl], "big")
            if n == 0 or n > MAX_FRAME:
                raise ProtocolError(f"frame length {n} out of range")
            if len(self._buf) < hl + n:
                break
            frame = bytes(self._buf[hl : hl + n])
            del self._buf[: hl + n]
            yield self._strip(frame)

    def _strip(self, frame: bytes) -> bytes:
        plen = len(self._p.prefix)
        if plen == 0:
            return frame
        if len(frame) <= plen or frame[0] != self._p.prefix[0]:
            raise ProtocolError("frame does not start with the expected TPDU")
        return frame[plen:]


def add_header(profile: Profile, data: bytes) -> bytes:
    """``data`` (prefix + body) with the profile's length header in front."""
    if len(data) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(data)} bytes is too long")
    return len(data).to_bytes(profile.length_header, "big") + data


def read_frame(profile: Profile, recv: Callable[[int], bytes]) -> bytes | None:
    """Read one frame body with a blocking ``recv``; None on a clean EOF between frames.

    EOF inside a frame or a bad length header raises ProtocolError.
    """
    hl = profile.length_header
    head = _recv_exact(recv, hl, allow_eof=True)
    if head is None:
        return None
    n = int.from_bytes(head, "big")
    if n == 0 or n > MAX_FRAME:
        raise ProtocolError(f"frame length {n} out of range")
    data = _recv_exact(recv, n, allow_eof=False)
    assert data is not None
    return FrameReader(profile)._strip(data)


def _recv_exact(recv: Callable[[int], bytes], n: int, *, allow_eof: bool) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = recv(n - len(buf))
        if not chunk:
            if allow_eof and not buf:
                return None
            raise ProtocolError(f"connection closed inside a frame ({len(buf)}/{n} bytes)")
        buf += chunk
    return bytes(buf)
