"""README screenshots: the main screens at every resolution and language, from the demo shop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ui import registry
from ui.app import RESOLUTIONS
from ui.i18n import LANGUAGES

#: A payment code of the WeChat Pay shape (18 digits starting 10-15), scanned in the demo.
WECHAT_CODE = "134567890123456789"
#: The size the QR screens are shown at in the README.
QR_SIZE = (800, 480)


def write_screenshots(out: Path) -> list[Path]:
    """Sign-in, amount, present card, results (sale, void, refund), an over-limit amount, an
    error, a QR refund (today's list, result), status and the idle screen, for each size ×
    language; the QR screens (choice, scan prompt, the shop's code, paid) at 800×480 in each
    language."""
    from appliance.sim.demo import Shift, open_demo_shop
    from ui.app import App

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for language in LANGUAGES:
        for width, height in RESOLUTIONS:
            shop = open_demo_shop()
            app = App(shop.backend, size=(width, height), language=language)
            shift = Shift(app, shop, None)
            prefix = f"{language}-{width}x{height}"

            def save(name: str, prefix: str = prefix, app: App = app) -> None:
                path = out / f"{prefix}-{name}.png"
                app.save(path)
                written.append(path)

            try:
                app.wait_idle()
                save("signin")
                shift.sign_in("01", "1234")
                shift.type("3850")
                save("amount")
                app.tap("charge")
                app.wait_for(lambda app=app: getattr(app.screen, "step", "") == "present_card")
                save("present-card")
                shop.present("unionpay")
                shift.wait_prefix("result")
                app.wait_idle()
                save("approved")
                app.tap("new")
                app.tap("statusbar")
                app.wait_idle()
                save("status")
                app.tap("back")
                shift.wait("home")
                # An amount over what any card may pay contactless: said plainly, no decline.
                shift.type("99999999")
                app.tap("charge")
                shift.wait("result_error")
                save("over-limit")
                app.tap("new")
                shift.wait("home")
                if (width, height) == QR_SIZE and shop.qr_gateway is not None:
                    qr_screens(app, shift, save)
                # A void and a refund, approved by the supervisor at the menu gate.
                shift.sale("5000", "unionpay", "refundable")
                app.tap("new")
                shift.menu()
                app.tap("void")
                app.tap("list")
                shift.wait("void_list")
                app.tap(next(b.id for b in app.screen.buttons if b.id.startswith("item:")))
                shift.wait("void_confirm")  # after the void rule answered on the worker
                app.tap("confirm")
                shift.wait_prefix("result")
                app.wait_idle()
                save("void-result")
                app.tap("new")
                shift.wait("menu")
                trace = next(
                    t.stan
                    for t in shop.backend.terminal.transactions(limit=10)
                    if t.type.value == "sale" and t.state.value == "approved"
                )
                app.tap("refund")
                app.tap("trace")
                shift.type(str(trace))
                app.tap(app.screen.actions[-1][0])
                app.wait_for(lambda app=app: app.screen.name == "refund_amount")
                shift.type("500")
                app.tap("refund")
                app.wait_for(lambda app=app: getattr(app.screen, "step", "") == "present_card")
                shop.present("unionpay")
                shift.wait_prefix("result")
                app.wait_idle()
                save("refund-result")
                app.tap("new")
                shift.wait("menu")
                # An error: a refund to another card than the sale's.
                app.tap("refund")
                app.tap("trace")
                shift.type(str(trace))
                app.tap(app.screen.actions[-1][0])
                app.wait_for(lambda app=app: app.screen.name == "refund_amount")
                shift.type("100")
                app.tap("refund")
                app.wait_for(lambda app=app: getattr(app.screen, "step", "") == "present_card")
                shop.present("mastercard")
                shift.wait("result_error")
                save("error")
                app.tap("new")
                shift.wait("menu")
                if shop.qr_gateway is not None:  # a QR refund 扫码退货 from the menu
                    qr_refund(app, shop, shift, save)
                app.tap("signout")
                shift.wait("signin")
                app.show(registry.make("idle", app))
                save("idle")
            finally:
                app.close()
                shop.close()
    return written


def qr_screens(app: Any, shift: Any, save: Callable[[str], None]) -> None:
    """The choice, the scan prompt, the shop's code (then cancelled) and a scanned code paid."""
    scanner = app.backend.terminal.scanner
    if hasattr(scanner, "plug"):
        scanner.plug()
    shift.type("3850")
    app.tap("qr")
    shift.wait("qr_mode")
    app.wait_idle()  # the scanner's state is known
    save("qr-choice")
    app.tap("scan")
    app.wait_for(scanner.waiting.is_set)
    save("qr-scan")
    app.tap("show")
    app.wait_for(lambda: getattr(app.screen, "image", None) is not None)
    save("qr-show")
    app.tap("cancel")
    shift.wait_prefix("qr_result")
    app.wait_idle()
    app.tap("new")
    shift.wait("home")
    shift.type("3850")
    app.tap("qr")
    shift.wait("qr_mode")
    app.wait_idle()
    app.tap("scan")
    app.wait_for(scanner.waiting.is_set)
    assert scanner.scan(WECHAT_CODE), "the scan prompt did not take the code"
    shift.wait("qr_result_approved")
    app.wait_idle()
    save("qr-paid")
    app.tap("new")
    shift.wait("home")


def qr_refund(app: Any, shop: Any, shift: Any, save: Callable[[str], None]) -> None:
    """From the menu: a WeChat Pay payment scanned at the counter, then part of it refunded
    from the menu (Refund → QR refund → the payment → amount → confirm); back on the menu."""
    app.tap("back")
    shift.wait("home")
    shift.type("3850")
    app.tap("qr")
    app.wait_for(lambda: app.screen.name == "qr_mode")
    app.wait_idle()
    app.tap("scan")
    scanner = shop.backend.terminal.scanner
    app.wait_for(scanner.waiting.is_set)
    scanner.scan("134567890123456789")  # the WeChat Pay payment-code shape
    shift.wait_prefix("qr_result")
    app.tap("new")
    shift.wait("home")
    shift.menu()
    app.tap("refund")
    app.tap("qr")
    shift.wait("qr_refund_list")
    save("qr-refund-list")
    app.tap(next(b.id for b in app.screen.buttons if b.id.startswith("item:")))
    shift.wait("qr_refund_amount")
    shift.type("1000")
    app.tap("refund")
    shift.wait("qr_refund_confirm")
    app.tap("confirm")
    shift.wait_prefix("qr_refund_approved")
    app.wait_idle()
    save("qr-refund")
    app.tap("new")
    shift.wait("menu")
