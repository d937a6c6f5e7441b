"""sd_notify against a fake service manager: a datagram socket at a path or an abstract name."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.sdnotify import Notifier, watchdog_interval


@pytest.fixture
def path_listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound to a filesystem path, as systemd uses /run/systemd/notify."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(5)
    yield sock, path
    sock.close()


@pytest.fixture
def abstract_listener() -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound to a Linux abstract address (``@name`` in $NOTIFY_SOCKET)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"countertop-test-{uuid.uuid4().hex}"
    sock.bind(b"\0" + name.encode())
    sock.settimeout(5)
    yield sock, "@" + name
    sock.close()


def test_ready_with_status_reaches_a_path_socket(path_listener: tuple[socket.socket, str]) -> None:
    sock, path = path_listener
    with Notifier({"NOTIFY_SOCKET": path}) as notifier:
        assert notifier.enabled
        assert notifier.ready("idle, 0 owed")
        assert sock.recv(4096) == b"READY=1\nSTATUS=idle, 0 owed"


def test_each_message_kind_reaches_an_abstract_socket(
    abstract_listener: tuple[socket.socket, str],
) -> None:
    sock, name = abstract_listener
    with Notifier({"NOTIFY_SOCKET": name}) as notifier:
        assert notifier.ready()
        assert notifier.status("settling")
        assert notifier.watchdog()
        assert notifier.stopping()
        received = [sock.recv(4096) for _ in range(4)]
    assert received == [b"READY=1", b"STATUS=settling", b"WATCHDOG=1", b"STOPPING=1"]


def test_a_newline_in_a_status_cannot_forge_another_assignment(
    path_listener: tuple[socket.socket, str],
) -> None:
    sock, path = path_listener
    with Notifier({"NOTIFY_SOCKET": path}) as notifier:
        notifier.status("paper out\nREADY=1")
    assert sock.recv(4096) == b"STATUS=paper out READY=1"


def test_without_notify_socket_every_call_is_a_quiet_no_op() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.ready("x") is False
    assert notifier.watchdog() is False
    assert notifier.stopping() is False


def test_a_dead_socket_is_logged_once_and_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
    with caplog.at_level(logging.WARNING, logger="appliance.sdnotify"):
        assert notifier.watchdog() is False
        assert notifier.watchdog() is False
        assert notifier.ready() is False
    assert len([r for r in caplog.records if "sd_notify" in r.getMessage()]) == 1


def test_watchdog_interval_is_half_the_timeout_for_our_pid() -> None:
    env = {"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval(env) == 10.0
    assert watchdog_interval({"WATCHDOG_USEC": "3000000"}) == 1.5


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"WATCHDOG_USEC": "0"},
        {"WATCHDOG_USEC": "soon"},
        {"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"},
        {"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "me"},
    ],
)
def test_no_watchdog_when_unset_invalid_or_meant_for_another_process(env: dict[str, str]) -> None:
    assert watchdog_interval(env) is None


def test_tick_pings_only_when_due_so_the_ui_loop_can_call_it_every_frame(
    path_listener: tuple[socket.socket, str],
) -> None:
    sock, path = path_listener
    sock.setblocking(False)
    now = [100.0]
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000"}  # 20 s: ping every 5 s
    with Notifier(env, monotonic=lambda: now[0]) as notifier:
        sent = []
        for step in range(0, 121):  # 12 s of frames at 10 Hz
            now[0] = 100.0 + step / 10
            sent.append(notifier.tick())
    assert [i / 10 for i, ok in enumerate(sent) if ok] == [0.0, 5.0, 10.0]
    assert [sock.recv(64) for _ in range(3)] == [b"WATCHDOG=1"] * 3
    with pytest.raises(BlockingIOError):
        sock.recv(64)


def test_tick_is_a_no_op_without_a_watchdog(path_listener: tuple[socket.socket, str]) -> None:
    _, path = path_listener
    assert Notifier({"NOTIFY_SOCKET": path}).tick() is False
    assert Notifier({"WATCHDOG_USEC": "20000000"}).tick() is False
