"""QR payments through the touchscreen against the reference QR gateway on loopback.

The path a cashier takes: QR beside Charge, the choice, the mock scanner port read on its own
thread, the terminal's QR service (journal first, query loop, cancel) over httpx, and the
gateway's books checked afterwards. The shop's code is decoded from the saved frame by
zxing-cpp (a reader we did not write) and paid by the gateway's "customer's phone".
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from appliance.config import load_config
from appliance.domain.qr import QrState
from appliance.journal import qr as qrj
from appliance.sim.demo import DemoShop, Shift, demo_backend, prepare_demo
from appliance.sim.shop import acquirer_for, qr_gateway_for
from ui.app import App

WECHAT = "134567890123456789"  # 18 digits starting 10-15: the WeChat Pay payment-code shape
FAST = {"query_interval": "0.2", "query_limit": "3.0", "show_expiry": "4.0"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoShop]:
    path = prepare_demo(tmp_path_factory.mktemp("qrflow"))
    text = path.read_text(encoding="utf-8")
    for key, value in FAST.items():  # the loop in seconds, not minutes
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    path.write_text(text, encoding="utf-8")
    cfg = load_config(path)
    acquirer = acquirer_for(cfg)
    acquirer.start()
    s = DemoShop(cfg, acquirer, demo_backend(cfg), qr_gateway=qr_gateway_for(cfg).start())
    yield s
    s.close()


@pytest.fixture
def app(shop: DemoShop) -> Iterator[App]:
    a = App(shop.backend, size=(800, 480), language="en")
    a.wait_idle()
    Shift(a, shop, None).sign_in("01", "1234")
    a.wait_idle()
    yield a
    gateway(shop).clear_faults()
    a.wait_idle(timeout=20)
    a.close(stop_backend=False)


def gateway(shop: DemoShop) -> Any:
    return shop.qr_gateway.gateway


def drawn(app: App) -> list[str]:
    app.draw()
    return [t.text for t in app.painter.texts]


def choose(app: App, shop: DemoShop, amount: str, way: str) -> None:
    Shift(app, shop, None).type(amount)
    app.tap("qr")
    app.wait_for(lambda: app.screen.name == "qr_mode")
    app.wait_idle()
    app.tap(way)


def scan(app: App, shop: DemoShop, code: str) -> None:
    scanner = shop.backend.terminal.scanner
    app.wait_for(scanner.waiting.is_set)
    assert scanner.scan(code)


def result(app: App) -> str:
    app.wait_for(lambda: app.screen.name.startswith("qr_result"), timeout=20)
    return app.screen.name


def trade(shop: DemoShop, order: str) -> dict[str, Any]:
    return next(t for t in gateway(shop).book.trades() if t["out_trade_no"] == order)


def test_a_scanned_customer_code_is_paid_and_the_result_names_wallet_and_trade(
    app: App, shop: DemoShop
) -> None:
    choose(app, shop, "1250", "scan")
    scan(app, shop, WECHAT)
    assert result(app) == "qr_result_approved"
    texts = drawn(app)
    order = next(t for t in texts if t.startswith("QR1"))
    assert qrj.get(shop.backend.terminal.journal, order).state == QrState.SUCCESS
    assert {"Paid", "WeChat Pay", trade(shop, order)["trade_no"]} <= set(texts)
    assert trade(shop, order)["state"] == "SUCCESS"
    assert not any(WECHAT in t for t in texts)


def test_cancel_while_the_customer_confirms_closes_the_order_at_the_gateway(
    app: App, shop: DemoShop
) -> None:
    gateway(shop).set_fault("userpaying", after=None, times=1)
    choose(app, shop, "2000", "scan")
    scan(app, shop, WECHAT)
    app.wait_for(lambda: app.screen.name == "qr_user_paying", timeout=20)
    assert any(t.endswith(" s left") for t in drawn(app))
    app.tap("cancel")
    assert result(app) == "qr_result_cancelled"
    order = next(t for t in drawn(app) if t.startswith("QR1"))
    assert qrj.get(shop.backend.terminal.journal, order).state == QrState.CANCELLED
    assert trade(shop, order)["state"] == "CLOSED"


def test_the_shop_code_on_screen_is_paid_from_the_phone(
    app: App, shop: DemoShop, tmp_path: Path
) -> None:
    zxingcpp = pytest.importorskip("zxingcpp", reason="decoding needs zxing-cpp (dev extra)")
    from PIL import Image

    choose(app, shop, "8800", "show")
    app.wait_for(lambda: getattr(app.screen, "image", None) is not None, timeout=20)
    frame = tmp_path / "shop-code.png"
    app.save(frame)
    order = app.screen.order  # type: ignore[attr-defined]
    [decoded] = [r.text for r in zxingcpp.read_barcodes(Image.open(frame))]
    assert decoded.endswith("/sim/c/" + trade(shop, order)["trade_no"])
    assert gateway(shop).customer_scans(order, "ALIPAY")
    assert result(app) == "qr_result_approved"
    assert {"Paid", "Alipay"} <= set(drawn(app))


def test_a_shop_code_nobody_pays_expires_into_a_closed_order(app: App, shop: DemoShop) -> None:
    choose(app, shop, "700", "show")
    assert result(app) == "qr_result_cancelled"
    order = next(t for t in drawn(app) if t.startswith("QR1"))
    assert trade(shop, order)["state"] == "CLOSED"


def test_something_that_is_not_a_payment_code_is_refused_and_never_sent(
    app: App, shop: DemoShop
) -> None:
    before = len(gateway(shop).book.trades())
    choose(app, shop, "700", "scan")
    scan(app, shop, "https://example.com/menu")
    assert result(app) == "qr_result_refused"
    assert len(gateway(shop).book.trades()) == before
