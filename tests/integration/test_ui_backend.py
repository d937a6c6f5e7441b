"""The UI's backend adapter: worker thread, results as events, order, failures."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pygame
import pytest

from appliance.bootstrap import services_for
from appliance.errors import CountertopError
from ui.backend import Backend, IndicatorMirror

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")


class Recorder:
    """An indicators port that remembers what it was shown."""

    def __init__(self) -> None:
        self.states: list[str] = []

    def show(self, state: Any) -> None:
        self.states.append(str(state))

    def close(self) -> None:
        pass


@pytest.fixture
def display() -> Iterator[None]:
    pygame.display.init()
    yield
    pygame.display.quit()


def pump(backend: Backend, until: Any, timeout_ms: int = 5000) -> None:
    """Dispatch backend events until ``until()`` (waiting on the event queue, no sleeps)."""
    waited = 0
    while not until():
        event = pygame.event.wait(50)
        waited += 50
        if event.type == backend.event_type:
            backend.dispatch(event)
        assert waited < timeout_ms, "no result from the worker"


def test_jobs_run_off_the_ui_thread_in_order_and_report_back(display: None) -> None:
    ui_thread = threading.get_ident()
    terminal = SimpleNamespace(config=SimpleNamespace(), indicators=Recorder())
    backend = Backend(SimpleNamespace(terminal=terminal))
    seen: list[tuple[str, Any]] = []
    try:
        backend.start()
        for i in range(3):
            backend.submit(
                lambda _r, i=i: (i, threading.get_ident()), done=lambda v: seen.append(("done", v))
            )
        backend.submit(
            lambda r: [r(n) for n in (1, 2)], report=lambda v: seen.append(("report", v))
        )
        backend.submit(lambda _r: 1 / 0, failed=lambda e: seen.append(("failed", type(e).__name__)))
        pump(backend, lambda: backend.in_flight == 0)
    finally:
        backend.close()
    done = [v for k, v in seen if k == "done"]
    assert [i for i, _ in done] == [0, 1, 2]
    assert all(t != ui_thread for _, t in done)
    assert ("report", 1) in seen and ("report", 2) in seen
    assert ("failed", "ZeroDivisionError") in seen


def test_the_led_mirror_drives_the_real_port_and_records_the_state(display: None) -> None:
    inner = Recorder()
    terminal = SimpleNamespace(config=SimpleNamespace(), indicators=inner)
    backend = Backend(SimpleNamespace(terminal=terminal))
    assert isinstance(terminal.indicators, IndicatorMirror)
    terminal.indicators.show("ready")
    assert inner.states == ["ready"] and backend.indicator_state == "ready"


def test_the_led_mirror_never_raises_when_the_display_is_gone() -> None:
    pygame.display.quit()
    terminal = SimpleNamespace(config=SimpleNamespace(), indicators=Recorder())
    backend = Backend(SimpleNamespace(terminal=terminal))
    terminal.indicators.show("success")  # indicators must never fail a sale
    assert backend.indicator_state == "success"


def test_a_deferred_terminal_is_built_first_and_a_failed_build_is_reported(display: None) -> None:
    failures: list[BaseException] = []

    def build() -> Any:
        raise CountertopError("journal is on a read-only disk")

    backend = Backend(config=SimpleNamespace(), build=build)
    backend.on_start_failed = failures.append
    results: list[Any] = []
    try:
        backend.start()
        backend.call(lambda s: s.terminal.status(), done=results.append, failed=results.append)
        pump(backend, lambda: backend.in_flight == 0)
    finally:
        backend.close()
    assert str(failures[0]) == "journal is on a read-only disk"
    assert "the terminal did not start" in str(results[0])
    assert backend.services is None and backend.terminal is None


def test_the_technician_printer_test_prints_a_self_test_page(display: None, shop: Any) -> None:
    from ui.backend import Backend as RealBackend

    backend = RealBackend(services_for(shop.terminal))
    results: list[tuple[str, Any]] = []
    try:
        backend.start()
        backend.printer_test(
            done=lambda v: results.append(("done", v)),
            failed=lambda e: results.append(("failed", e)),
        )
        pump(backend, lambda: bool(results), timeout_ms=15000)
    finally:
        backend.close()
    # It used to fail with "'function' object has no attribute 'name'" (a method passed
    # where the merchant block belonged; receipts.merchant is a property now).
    assert results == [("done", "online")]
