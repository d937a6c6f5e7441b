"""QR screens on the real terminal (demo config, mock scanner): scan prompt, merchant code.

The scan prompt reads the real ``MockScanner`` port through the backend's scanner thread; the
merchant-presented screen is driven with the steps the QR service reports. The on-screen code
is decoded from the saved frame by zxing-cpp, a reader we did not write.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pygame
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from appliance.sim.demo import DemoShop, Shift, open_demo_shop
from drivers.scanner.mock import MockScanner, NoScanner
from tests.e2e.test_ui_layout import problems
from ui.app import RESOLUTIONS, App
from ui.qr_flow import QrStep
from ui.qr_render import MIN_MODULE_PX, PITCH_MM_7IN, CodeTooDense, qr_surface
from ui.screens.qr import QrModeScreen, QrPayingScreen, ShowCodeScreen, start_scan

CONTENT = "https://qr.alipay.com/bax08123456789012345678"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoShop]:
    s = open_demo_shop(tmp_path_factory.mktemp("qrshop"))
    s.backend.wait_ready()
    yield s
    s.close()


@pytest.fixture
def app(shop: DemoShop) -> Iterator[App]:
    a = App(shop.backend, size=(800, 480), language="en")
    a.wait_idle()
    Shift(a, shop, None).sign_in("01", "1234")
    a.wait_idle()
    yield a
    a.wait_idle()
    a.close(stop_backend=False)


@pytest.fixture
def scanner(shop: DemoShop) -> MockScanner:
    scanner = shop.backend.terminal.scanner
    assert isinstance(scanner, MockScanner)
    scanner.plug()
    return scanner


def drawn(app: App) -> list[str]:
    """Every text drawn in a fresh frame."""
    app.draw()
    return [t.text for t in app.painter.texts]


def test_the_amount_screen_offers_qr_next_to_the_card(app: App) -> None:
    assert app.screen.name == "home"
    ids = [b.id for b in app.screen.buttons]
    assert ids.index("qr") == ids.index("charge") - 1
    assert {"QR", "Charge"} <= set(drawn(app))


def test_the_scan_prompt_waits_on_the_scanner_thread_not_the_ui_or_the_worker(
    app: App, scanner: MockScanner
) -> None:
    start_scan(app, 1250, timeout=30)
    assert scanner.waiting.wait(5), "the scanner read never started"
    assert app.screen.name == "scan_code"
    frames = app.frames
    answered = threading.Event()
    app.backend.call(lambda s: s.terminal.status(), done=lambda _s: answered.set())
    app.wait_for(answered.is_set, timeout=10)  # the services' worker is free during the scan
    assert app.frames > frames  # and the UI kept drawing
    assert "Hold the customer's payment code under the scanner" in drawn(app)
    app.tap("cancel")
    app.wait_for(lambda: app.screen.name == "qr_result_error")
    assert not scanner.waiting.is_set()
    assert "The scan was cancelled." in drawn(app)


def test_no_code_in_time_says_so(app: App, scanner: MockScanner) -> None:
    start_scan(app, 1250, timeout=0.3)
    app.wait_for(lambda: app.screen.name == "qr_result_error")
    assert {"No code", "No payment code was scanned in time."} <= set(drawn(app))


def test_a_scanner_unplugged_during_the_prompt_is_reported_offline(
    app: App, scanner: MockScanner
) -> None:
    start_scan(app, 1250, timeout=30)
    assert scanner.waiting.wait(5)
    scanner.unplug()
    app.wait_for(lambda: app.screen.name == "qr_result_error")
    assert {"Scanner offline", "Check the scanner's cable, then try again."} <= set(drawn(app))


def test_a_code_scanned_before_the_prompt_is_never_charged(app: App, scanner: MockScanner) -> None:
    before = scanner.discarded
    assert scanner.scan("134567890123456789") is False  # nobody is reading yet
    start_scan(app, 1250, timeout=0.5)
    app.wait_for(lambda: app.screen.name == "qr_result_error")
    assert scanner.discarded == before + 1
    assert "No code" in drawn(app)


def test_the_choice_shows_the_scanners_state_and_disables_scanning_without_one(
    app: App, shop: DemoShop
) -> None:
    app.show(QrModeScreen(app, 1250))
    app.wait_idle()
    assert app.screen.button("scan").enabled
    assert "Scanner ready" in drawn(app)
    terminal = shop.backend.terminal
    real, terminal.scanner = terminal.scanner, NoScanner()
    try:
        app.show(QrModeScreen(app, 1250))
        app.wait_idle()
        assert not app.screen.button("scan").enabled
        assert app.screen.button("show").enabled
        assert "No scanner fitted" in drawn(app)
    finally:
        terminal.scanner = real


def test_the_user_paying_countdown_runs_and_cancel_is_offered_only_then(app: App) -> None:
    cancel = threading.Event()
    screen = QrPayingScreen(app, 1250, cancel)
    app.show(screen)
    assert not screen.button("cancel").enabled
    screen.on_step(QrStep("user_paying", seconds_left=42))
    assert app.screen.name == "qr_user_paying"
    assert screen.button("cancel").enabled
    assert "42 s left" in drawn(app)
    app.tap("cancel")
    assert cancel.is_set() and not screen.button("cancel").enabled
    assert "Closing the order with the wallet…" in drawn(app)


def test_no_definite_answer_yet_is_said_as_checking_not_as_user_paying(app: App) -> None:
    screen = QrPayingScreen(app, 1250, threading.Event())
    app.show(screen)
    screen.on_step(QrStep("querying", seconds_left=30))
    assert screen.button("cancel").enabled
    assert {"Checking the payment with the wallet…", "30 s left"} <= set(drawn(app))


def test_the_shop_code_decodes_from_the_screen_and_is_big_enough_at_30_cm(
    app: App, tmp_path: Path
) -> None:
    zxingcpp = pytest.importorskip("zxingcpp", reason="decoding needs zxing-cpp (dev extra)")
    from PIL import Image

    screen = ShowCodeScreen(app, 8800, threading.Event())
    app.show(screen)
    screen.on_step(QrStep("show_code", content=CONTENT, seconds_left=120, order="QR1"))
    path = tmp_path / "qr_show.png"
    app.save(path)
    found = zxingcpp.read_barcodes(Image.open(path))
    assert [r.text for r in found] == [CONTENT]
    image = screen.image
    assert image is not None and image.module_px >= MIN_MODULE_PX
    # Rule of thumb for a phone camera: the code's side at least a tenth of the distance.
    assert image.side * PITCH_MM_7IN >= 300 / 10
    assert "Code expires in 120 s" in drawn(app)


def test_the_shop_code_expires_into_a_cancel_when_the_customer_walks_away(app: App) -> None:
    cancel = threading.Event()
    screen = ShowCodeScreen(app, 8800, cancel)
    app.show(screen)
    screen.on_step(QrStep("show_code", content=CONTENT, seconds_left=0.3, order="QR2"))
    app.wait_for(cancel.is_set, timeout=5)
    assert not screen.button("cancel").enabled
    assert screen.image is None  # the code of a closing order is not shown any more
    assert "Closing the order with the wallet…" in drawn(app)


def test_cancel_on_the_shop_code_closes_the_order(app: App) -> None:
    cancel = threading.Event()
    screen = ShowCodeScreen(app, 8800, cancel)
    app.show(screen)
    screen.on_step(QrStep("show_code", content=CONTENT, seconds_left=120, order="QR3"))
    app.tap("cancel")
    assert cancel.is_set()


def test_a_code_too_dense_for_the_space_is_refused_not_drawn_blurred() -> None:
    pygame.init()
    with pytest.raises(CodeTooDense, match="needs"):
        qr_surface("x" * 600, 120)


@pytest.mark.parametrize("language", ["en", "zh_CN"])
@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_qr_screens_fit_at_every_size_and_language(
    shop: DemoShop, size: tuple[int, int], language: str
) -> None:
    app = App(shop.backend, size=size, language=language)
    try:
        app.wait_idle()
        found: list[str] = []
        mode = QrModeScreen(app, 123456)
        app.show(mode)
        app.wait_idle()
        found += problems(app)
        app.show(QrModeScreen(app, 123456))
        app.screen.scanner = "offline"  # the longest scanner line
        found += problems(app)
        paying = QrPayingScreen(app, 123456, threading.Event())
        app.show(paying)
        paying.on_step(QrStep("user_paying", seconds_left=60))
        found += problems(app)
        paying.on_step(QrStep("cancelling"))
        found += problems(app)
        show = ShowCodeScreen(app, 123456, threading.Event())
        app.show(show)
        found += problems(app)  # before the code arrives (spinner)
        show.on_step(QrStep("show_code", content=CONTENT, seconds_left=120, order="QR" + "9" * 22))
        found += problems(app)
        assert show.image is not None
        assert show.code_box.contains(show.image.surface.get_rect(center=show.code_box.center))
        assert not found, "\n".join(found)
    finally:
        app.wait_idle()
        app.close(stop_backend=False)
