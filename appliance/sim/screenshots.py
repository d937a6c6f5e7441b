"""README screenshots: the main screens at every resolution and language, from the demo shop."""

from __future__ import annotations

from pathlib import Path

from ui.app import RESOLUTIONS
from ui.i18n import LANGUAGES


def write_screenshots(out: Path) -> list[Path]:
    """Sign-in, amount, present card, result and status for each size × language."""
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
            finally:
                app.close()
                shop.close()
    return written
