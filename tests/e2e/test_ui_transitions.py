"""Every screen change a tap makes, at every resolution and language: the next screen's
Cancel/New/Back/OK never sits where the tapped button was, and a double tap does one thing.

The input guard ignores taps for 0.35 s after a screen change; the placement rule is the
second line: a finger that taps twice on a main button must not find a way out (or back) under
it on the screen that follows. The walk below drives the real loop with injected finger
events through every flow a shop uses (sale, decline, card cancel, void, refund, QR, QR
refund, reprint, X report, settlement, forwarding, reconciliation, the operator and supervisor
menus, status, the technician's screens, sign-in, sign-out and the idle screen). Each tap
that changes the screen is recorded with the screens it leads to (also those shown when the
worker answers); screens that follow a card, a scanned code or a timer are not counted as the
tap's.

Main buttons are double-tapped: each double tap must reach its screen exactly once (one
``on_button`` call, the second tap swallowed by the guard or the one-action-at-a-time rule).
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass

import pygame
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from appliance.sim.demo import DemoShop, Shift, open_demo_shop
from ui import registry
from ui.app import RESOLUTIONS, App
from ui.screen import Screen
from ui.screens.common import KEY_LABELS
from ui.widgets import Button

#: Buttons that cancel or leave a screen (Cancel, New sale/Done, OK, Back, Sign out).
LEAVING = frozenset({"cancel", "new", "ok", "back", "done", "signout"})
#: Buttons that go back rather than on: not a screen's main button (New and OK, which finish
#: a result and start what comes next, are).
BACKWARD = frozenset({"cancel", "back", "signout"})
#: Screens that wait for the customer (a card, a code): the worker is busy while they show.
WAITING = frozenset({"present_card", "scan_code", "qr_show", "qr_user_paying"})
WECHAT = "134567890123456789"  # the WeChat Pay payment-code shape (18 digits, 10-15 first)


def leaves(button: Button) -> bool:
    """Whether ``button`` cancels or leaves its screen (the keypad's ← only deletes a digit)."""
    return button.id in LEAVING and button.label != KEY_LABELS["back"]


@dataclass(frozen=True)
class Transition:
    """A tap on ``button`` of screen ``before`` led to screen ``after``."""

    before: str
    button: str
    rect: pygame.Rect
    after: str
    leaving: tuple[tuple[str, pygame.Rect], ...]

    def overlaps(self) -> list[str]:
        """The leaving buttons of ``after`` that lie (partly) where ``button`` was."""
        return [
            f"{self.before}:{self.button} {tuple(self.rect)} → {self.after}:{bid} {tuple(rect)}"
            for bid, rect in self.leaving
            if rect.colliderect(self.rect)
        ]


class Recorder:
    """Watches an App: which tap caused which screens, and how many actions each tap did."""

    def __init__(self, app: App, shop: DemoShop) -> None:
        self.app, self.shop = app, shop
        self.transitions: list[Transition] = []
        self.shown: list[Screen] = []
        self.actions = 0
        self.cause: tuple[str, str, pygame.Rect] | None = None
        self._watch(app.screen)
        show = app.show

        def recording_show(screen: Screen) -> None:
            show(screen)
            self._watch(screen)
            self.shown.append(screen)
            if self.cause is not None and self.cause[1] not in BACKWARD:
                before, bid, rect = self.cause
                leaving = tuple((b.id, b.rect.copy()) for b in screen.buttons if leaves(b))
                self.transitions.append(Transition(before, bid, rect, screen.name, leaving))

        app.show = recording_show  # type: ignore[method-assign]

    def _watch(self, screen: Screen) -> None:
        """Count every button the screen acts on (once per screen object)."""
        if getattr(screen, "_counted", False):
            return
        on_button = screen.on_button

        def counted(bid: str) -> None:
            self.actions += 1

            on_button(bid)

        screen.on_button = counted  # type: ignore[method-assign]
        screen._counted = True  # type: ignore[attr-defined]

    def _aim(self, bid: str) -> None:
        app = self.app
        rect = app._status_button().rect if bid == "statusbar" else app.screen.button(bid).rect
        self.cause = (app.screen.name, bid, rect.copy())

    def tap(self, bid: str) -> None:
        """One tap on ``bid`` (keypad digits, fields, buttons that stay on their screen)."""
        self._aim(bid)
        self.app.tap(bid)

    def type(self, digits: str) -> None:
        """Digits on the keypad."""
        for d in digits:
            self.tap("k" + d)

    def go(self, bid: str, then: str | tuple[str, ...] | None = None) -> None:
        """Double-tap main button ``bid``: exactly one action; wait for ``then`` if given."""
        self._aim(bid)
        before, shown = self.actions, len(self.shown)
        self.app.double_tap(bid)
        # The status bar is the app's own button: it acts by showing the status screen.
        acted = len(self.shown) - shown if bid == "statusbar" else self.actions - before
        assert acted == 1, f"a double tap on {self.cause} acted {acted} times"
        if then is not None:
            self.wait(then)

    def wait(self, names: str | tuple[str, ...], timeout: float = 20.0) -> None:
        """Run the loop until one of ``names`` is current (and nothing is in flight, unless
        the screen waits for the customer)."""
        wanted = (names,) if isinstance(names, str) else names
        self.app.wait_for(lambda: self.app.screen.name in wanted, timeout)
        if self.app.screen.name not in WAITING:
            self.app.wait_idle(timeout)

    def outside(self) -> None:
        """What comes next is caused by the world (a card, a code, a timer), not by a tap."""
        self.cause = None

    def card(self, name: str, then: str) -> None:
        """A card is tapped on the reader once it waits for one."""
        self.app.wait_for(lambda: getattr(self.app.screen, "step", "") == "present_card")
        self.outside()
        self.shop.present(name)
        self.wait(then)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoShop]:
    s = open_demo_shop(tmp_path_factory.mktemp("transitions"))
    s.backend.wait_ready()
    yield s
    s.close()


def walk(r: Recorder) -> None:
    """Every flow of a shift, tapping as an operator, a supervisor and a technician do."""
    app, shop = r.app, r.shop
    Shift(app, shop, None)  # the app's own helpers are not used: every tap is recorded
    app.wait_idle()
    # Sign-in, a sale with its customer copy, a decline, a sale cancelled at the reader.
    r.tap("field0")
    r.type("01")
    r.tap("field1")
    r.type("1234")
    r.go("signin", "home")
    r.type("1250")
    r.go("charge")
    r.card("visa", "result_approved")
    sale = app.last_txn
    r.tap("print")
    app.wait_idle()
    r.go("new", "home")
    r.type("8800")
    r.go("charge")
    r.card("decline", "result_declined")
    r.go("new", "home")
    r.type("500")
    r.go("charge")
    app.wait_for(lambda: getattr(app.screen, "step", "") == "present_card")
    r.go("cancel", "result_cancelled")
    r.go("new", "home")
    r.type("3000")
    r.go("charge")
    r.card("unionpay", "result_approved")
    to_void = app.last_txn
    r.go("new", "home")
    # QR: the choice and back, a scanned code paid, a scan cancelled, a code the customer
    # confirms on the phone cancelled, the shop's code cancelled.
    r.type("1500")
    r.go("qr", "qr_mode")
    r.go("back", "home")  # the amount is typed again
    r.type("1500")
    r.go("qr", "qr_mode")
    r.go("scan", "scan_code")
    scanner = shop.backend.terminal.scanner
    app.wait_for(scanner.waiting.is_set)
    r.outside()
    assert scanner.scan(WECHAT)
    r.wait("qr_result_approved")
    details: list[tuple[str, str]] = app.screen.details  # type: ignore[attr-defined]
    paid = next(v for _label, v in details if v.startswith("QR"))  # its order number
    r.go("new", "home")
    r.type("1600")
    r.go("qr", "qr_mode")
    r.go("scan", "scan_code")
    r.go("cancel", "qr_result_error")
    r.go("new", "home")
    r.type("1700")
    r.go("qr", "qr_mode")
    r.go("scan", "scan_code")
    r.go("show")
    app.wait_for(lambda: getattr(app.screen, "image", None) is not None)
    r.go("cancel", "qr_result_cancelled")
    r.go("new", "home")
    r.type("1750")
    r.go("qr", "qr_mode")
    r.go("show", "qr_show")
    app.wait_for(lambda: getattr(app.screen, "image", None) is not None)
    r.go("cancel", "qr_result_cancelled")
    r.go("new", "home")
    shop.qr_gateway.gateway.set_fault("userpaying", after=None, times=1)
    r.type("1800")
    r.go("qr", "qr_mode")
    r.go("scan", "scan_code")
    app.wait_for(scanner.waiting.is_set)
    r.outside()
    assert scanner.scan(WECHAT)
    app.wait_for(lambda: app.screen.name == "qr_user_paying")
    r.go("cancel", "qr_result_cancelled")
    r.go("new", "home")
    # The status screen from the bar; the supervisor gate: cancel, then the menu.
    r.go("statusbar", "status")
    r.go("back", "home")
    r.go("menu", "supervisor")
    r.go("cancel", "home")
    r.go("menu", "supervisor")
    r.type("02123456")
    r.go("next", "menu")
    # Void: from today's list (the rule asked on the worker), cancelled, then done.
    r.go("void", "void_choose")
    r.go("back", "menu")
    r.go("void", "void_choose")
    r.go("list", "void_list")
    r.go("back", "menu")
    r.go("void", "void_choose")
    r.go("list", "void_list")
    r.go(next(b.id for b in app.screen.buttons if b.id.startswith("item:")), "void_confirm")
    r.go("cancel", "menu")
    r.go("void", "void_choose")
    r.go("trace", "void_trace")
    r.go("cancel", "menu")
    r.go("void", "void_choose")
    r.go("trace", "void_trace")
    r.type(str(to_void.stan))
    r.go("find", "void_confirm")
    r.go("confirm", "result_approved")
    r.go("new", "menu")
    # Refund by trace (cancelled at the amount, then refunded) and by RRN.
    r.go("refund", "refund_choose")
    r.go("back", "menu")
    r.go("refund", "refund_choose")
    r.go("trace", "refund_trace")
    r.go("cancel", "menu")
    r.go("refund", "refund_choose")
    r.go("trace", "refund_trace")
    r.type(str(sale.stan))
    r.go("find", "refund_amount")
    r.go("cancel", "menu")
    r.go("refund", "refund_choose")
    r.go("rrn", "refund_rrn")
    r.type(str(sale.rrn))
    r.go("find", "refund_amount")
    r.type("250")
    r.go("refund")
    r.card("visa", "result_approved")
    r.go("new", "menu")
    # QR refund of the scanned payment (¥15.00): from the list (back, cancelled at the amount
    # and at the confirmation, then ¥5.00 the wallet has not finished yet), by its order
    # number (cancelled, then the ¥10.00 left after an amount over it is refused on the
    # screen), then refused in full.
    r.go("refund", "refund_choose")
    r.go("qr", "qr_refund_list")
    r.go("back", "menu")
    r.go("refund", "refund_choose")
    r.go("qr", "qr_refund_list")
    r.go(f"item:{paid}", "qr_refund_amount")
    r.go("cancel", "menu")
    r.go("refund", "refund_choose")
    r.go("qr", "qr_refund_list")
    r.go(f"item:{paid}", "qr_refund_amount")
    r.type("500")
    r.go("refund", "qr_refund_confirm")
    r.go("cancel", "menu")
    r.go("refund", "refund_choose")
    r.go("qr", "qr_refund_list")
    r.go(f"item:{paid}", "qr_refund_amount")
    r.type("500")
    r.go("refund", "qr_refund_confirm")
    shop.qr_gateway.gateway.set_fault("refund_pending", times=1)  # the wallet answers later
    r.go("confirm", "qr_refund_failed")  # titled Refund pending (qr.refund_owed)
    r.go("new", "menu")
    r.go("refund", "refund_choose")
    r.go("qr", "qr_refund_list")
    r.go("order", "qr_refund_order")
    r.go("cancel", "menu")
    r.go("refund", "refund_choose")
    r.go("qr", "qr_refund_list")
    r.go("order", "qr_refund_order")
    r.type(paid[-6:])
    r.go("find", "qr_refund_amount")
    r.type("1001")
    r.tap("refund")  # over what is left: said on the screen, which stays
    assert app.screen.name == "qr_refund_amount"
    r.tap("clear")
    r.type("1000")
    r.go("refund", "qr_refund_confirm")
    r.go("confirm", "qr_refund_approved")
    r.go("new", "menu")
    r.go("refund", "refund_choose")
    r.go("qr", "qr_refund_list")
    assert f"item:{paid}" not in {b.id for b in app.screen.buttons}  # refunded in full
    r.go("order", "qr_refund_order")
    r.type(paid[-6:])
    r.go("find", "qr_refund_refused")
    r.go("back", "menu")
    # Reprint: the last, by trace, from today's list.
    r.go("reprint", "reprint_choose")
    r.go("back", "menu")
    r.go("reprint", "reprint_choose")
    r.go("last", "reprint")
    r.tap("print_merchant")
    app.wait_idle()
    r.go("back", "menu")
    r.go("reprint", "reprint_choose")
    r.go("trace", "reprint_trace")
    r.go("cancel", "menu")
    r.go("reprint", "reprint_choose")
    r.go("trace", "reprint_trace")
    r.type(str(sale.stan))
    r.go("find", "reprint")
    r.go("back", "menu")
    r.go("reprint", "reprint_choose")
    r.go("list", "reprint_list")
    r.go(next(b.id for b in app.screen.buttons if b.id.startswith("item:")), "reprint")
    r.go("back", "menu")
    # Reports, forwarding, reconciliation, status, the technician's screens, the language.
    r.go("xreport", "xreport")
    r.tap("print")
    app.wait_idle()
    r.go("back", "menu")
    r.go("forward", "forward_result")
    r.go("back", "menu")
    r.go("recon", ("recon", "recon_empty"))
    r.go("back", "menu")
    r.go("status", "status")
    r.go("back", "menu")
    r.go("tech", "technician")
    r.go("about", "about")
    r.go("back", "technician")
    r.go("calibrate", "calibration")
    r.go("back", "technician")
    r.go("language", "language")
    r.go("back", "technician")
    r.go("back", "menu")
    # Settlement: looked at and cancelled, then settled.
    r.go("settle", "settle_preview")
    r.go("cancel", "menu")
    r.go("settle", "settle_preview")
    r.go("confirm", ("settle_result", "result_error"))
    r.go("back", "menu")
    # Back to the sale; signed out from the gate and from the menu; the idle screen.
    r.go("back", "home")
    r.go("menu", "supervisor")
    r.go("signout", "signin")
    r.tap("field0")
    r.type("02")
    r.tap("field1")
    r.type("123456")
    r.go("signin", "home")
    r.go("menu", "menu")
    r.go("signout", "signin")
    r.tap("field0")
    r.type("01")
    r.tap("field1")
    r.type("1234")
    r.go("signin", "home")
    r.outside()
    app.last_input -= app.signout_idle_s  # nobody touched the screen for a while
    app.step()
    assert app.screen.name == "idle"
    r.go("start", "signin")


def screen_classes() -> set[type[Screen]]:
    """Every concrete screen class of the ``ui.screens`` package (each module imported here,
    so the answer does not depend on which tests ran before)."""
    import ui.screens

    registry.load()
    for module in pkgutil.iter_modules(ui.screens.__path__, "ui.screens."):
        importlib.import_module(module.name)
    found: set[type[Screen]] = set()
    todo = list(Screen.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.__module__.startswith("ui.screens.") and not inspect.isabstract(cls):
            found.add(cls)
    return found


@pytest.mark.parametrize("language", ["zh_CN", "en"])
@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_way_out_sits_where_the_tapped_button_was_and_double_taps_act_once(
    shop: DemoShop, size: tuple[int, int], language: str
) -> None:
    app = App(shop.backend, size=size, language=language)
    r = Recorder(app, shop)
    try:
        walk(r)
    finally:
        shop.qr_gateway.gateway.clear_faults()
        app.wait_idle(timeout=20)
        app.close(stop_backend=False)
    overlaps = sorted({o for t in r.transitions for o in t.overlaps()})
    assert overlaps == [], "\n".join(overlaps)
    pairs = {(t.before, t.button.partition(":")[0], t.after) for t in r.transitions}
    assert len(pairs) >= 66, sorted(pairs)  # what the walk reaches: it must not shrink
    # Every screen the package defines, and every one the app opens by name, was reached.
    shown = {type(s) for s in r.shown}
    assert screen_classes() <= shown, screen_classes() - shown
    registered = set(registry.factories().values())
    assert registered <= shown | {Screen}, registered - shown
