"""Found by the crash torture test: a terminal killed between sending a control command and
reading the reply must not take the acquirer's control channel down with it."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

from appliance.sim.acquirer.server import ReferenceAcquirer, control


def test_the_control_channel_survives_clients_that_die_before_reading_the_reply(
    tmp_path: Path,
) -> None:
    acq = ReferenceAcquirer("127.0.0.1", 0, "iso87", tmp_path / "ledger.db", {}, {}, control_port=0)
    acq.start()
    try:
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", acq.control_port))
            # Many commands, then a reset: the replies meet a dead socket.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.sendall(b"FAULTS\n" * 200)
            s.close()
        assert control("127.0.0.1", acq.control_port, "PING", timeout=5) == "PONG"
    finally:
        acq.stop()
