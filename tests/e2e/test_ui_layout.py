"""Screenshot sanity at every resolution × language: nothing cut, nothing overlapping.

The painter records every text it draws with the box it had to fit in; each frame of a tour
through the screens is checked: text inside its box, boxes on the surface, no two texts or
two buttons overlapping, every button at least 64 px in both directions, no text below 20 px
and a status bar at least 56 px high.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from appliance.sim.demo import DemoShop, Shift, open_demo_shop
from ui.app import RESOLUTIONS, App
from ui.widgets import MIN_TEXT, MIN_TOUCH


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoShop]:
    s = open_demo_shop(tmp_path_factory.mktemp("layout"))
    yield s
    s.close()


def problems(app: App) -> list[str]:
    """Everything wrong with the current frame's layout."""
    app.draw()
    name = app.screen.name
    surface = app.surface.get_rect()
    out: list[str] = []
    texts = app.painter.texts
    if app.metrics.bar_h < 56:
        out.append(f"{name}: the status bar is {app.metrics.bar_h} px high (at least 56)")
    for t in texts:
        if t.size < MIN_TEXT:
            out.append(f"{name}: {t.text!r} is drawn at {t.size} px (at least {MIN_TEXT})")
        if not surface.contains(t.box):
            out.append(f"{name}: box of {t.text!r} {t.box} leaves the screen")
        if not t.box.contains(t.rect):
            out.append(f"{name}: {t.text!r} {t.rect} is cut by its box {t.box}")
    for i, a in enumerate(texts):
        for b in texts[i + 1 :]:
            if a.rect.clip(b.rect).w * a.rect.clip(b.rect).h > 0:
                out.append(f"{name}: {a.text!r} {a.rect} overlaps {b.text!r} {b.rect}")
    buttons = app.painter.buttons
    for i, a in enumerate(buttons):
        if a.id != "statusbar" and (a.rect.w < MIN_TOUCH or a.rect.h < MIN_TOUCH):
            out.append(f"{name}: button {a.id} {a.rect} is smaller than {MIN_TOUCH} px")
        if not surface.contains(a.rect):
            out.append(f"{name}: button {a.id} {a.rect} leaves the screen")
        for b in buttons[i + 1 :]:
            if a.rect.colliderect(b.rect):
                out.append(f"{name}: button {a.id} overlaps {b.id}")
    return out


def tour(app: App, shop: DemoShop) -> Iterator[str]:
    """Visit the screens an operator, a supervisor and a technician see."""
    s = Shift(app, shop, None)
    app.wait_idle()
    yield "signin"
    app.tap("field1")
    s.type("12345678")
    app.tap("signin")
    app.wait_idle()
    yield "signin with an error"
    app.tap("field0")
    s.type("01")
    app.tap("field1")
    app.tap("clear")
    s.type("1234")
    app.tap("signin")
    s.wait("home")
    s.type("123456789")
    yield "home with the largest amount"
    app.tap("clear")
    s.type("2500")
    app.tap("charge")
    app.wait_for(lambda: getattr(app.screen, "step", "") == "present_card")
    yield "present card"
    shop.present("visa")
    s.wait_prefix("result")
    app.wait_idle()
    yield "approved"
    app.tap("print")
    app.wait_idle()
    yield "approved, copy printed"
    s.new_sale()
    s.sale("8800", "decline", "d")
    yield "declined"
    s.new_sale()
    shop.cut_link()
    shop.printer.paper_out()
    s.sale("1200", "mastercard", "o")
    yield "stored offline"
    app.refresh_status()
    app.step()
    app.wait_for(lambda: app.status is not None and app.status.printer == "paper_out")
    yield "status bar with every warning"
    app.tap("statusbar")
    yield "status screen with advice"
    app.tap("back")
    shop.restore_link()
    shop.printer.restore()
    s.new_sale()
    app.tap("menu")
    yield "supervisor gate"
    s.type("02")
    app.tap("next")
    s.type("123456")
    app.tap("next")
    s.wait("menu")
    yield "menu"
    app.tap("void")
    yield "void: choose"
    app.tap("list")
    s.wait("void_list")
    yield "void: today's list"
    app.tap(app.screen.buttons[0].id)
    s.wait("void_confirm")  # after the void rule answered
    yield "void: confirm"
    app.tap("cancel")
    app.tap("refund")
    app.tap("rrn")
    s.type("123456789012")
    yield "refund: RRN entry"
    app.tap("cancel")
    app.tap("settle")
    app.wait_idle()
    yield "settlement"
    app.tap(app.screen.buttons[0].id)
    s.wait("menu")
    app.tap("xreport")
    app.wait_idle()
    yield "x report"
    app.tap("back")
    app.tap("recon")
    app.wait_idle()
    yield "reconciliation"
    app.tap("back")
    s.wait("menu")
    app.tap("tech")
    yield "technician"
    app.tap("echo")
    app.wait_idle()
    yield "technician: echo result"
    app.tap("about")
    yield "about"
    app.tap("back")
    app.tap("calibrate")
    for target in ("tl", "tr", "c", "bl", "br"):
        app.tap(target)
    yield "touch check result"
    app.tap("back")
    app.tap("language")
    yield "language"
    app.tap("back")


@pytest.mark.parametrize("language", ["zh_CN", "en"])
@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_screen_fits_without_overlap(
    shop: DemoShop, size: tuple[int, int], language: str
) -> None:
    app = App(shop.backend, size=size, language=language)
    found: list[str] = []
    visited = 0
    try:
        for _step in tour(app, shop):
            found += problems(app)
            visited += 1
    finally:
        shop.restore_link()
        shop.printer.restore()
        app.wait_idle()
        app.close(stop_backend=False)
    assert visited == 24
    assert found == []


def test_calibration_reports_an_accurate_touch(shop: DemoShop) -> None:
    from ui.screens.system import CalibrationScreen

    app = App(
        shop.backend,
        size=(800, 480),
        language="en",
        first_screen=lambda a: CalibrationScreen(a, back=a.screen),
    )
    try:
        for target in ("tl", "tr", "c", "bl", "br"):
            app.tap(target)
        assert max(app.screen.offsets.values()) <= 1
        app.draw()
        assert any(t.text.startswith("Touch is accurate") for t in app.painter.texts)
        x, y = app.button_center("tl")
        app.inject_tap((x + 20, y + 20))
        assert app.screen.offsets["tl"] > 16
        app.draw()
        assert any("recalibrate" in t.text for t in app.painter.texts)
    finally:
        app.wait_idle()
        app.close(stop_backend=False)
