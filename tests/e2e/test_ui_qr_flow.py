"""QR payments through the touchscreen against the reference QR gateway on loopback.

The path a cashier takes: QR beside Charge, the choice, the mock scanner port read on its own
thread, the terminal's QR service (journal first, query loop, cancel) over httpx, and the
gateway's books checked afterwards. The shop's code is decoded from the saved frame by
zxing-cpp (a reader we did not write) and paid by the gateway's "customer's phone". A
supervisor refunds a QR payment from the menu (Refund → QR refund) the same way.
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
from appliance.domain.qr import QrKind, QrState
from appliance.journal import qr as qrj
from appliance.services.qr_messages import translate
from appliance.sim.demo import DemoShop, Shift, demo_backend, prepare_demo
from appliance.sim.shop import acquirer_for, qr_gateway_for
from tests.e2e.test_ui_layout import problems
from ui.app import RESOLUTIONS, App

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


# -- refunds from the supervisor menu ------------------------------------------------------
SUPERVISOR = "02"  # the demo shop's supervisor (李四 Li); the cashier signed in is 01


@pytest.fixture
def app_zh(shop: DemoShop) -> Iterator[App]:
    a = App(shop.backend, size=(800, 480), language="zh_CN")
    a.wait_idle()
    Shift(a, shop, None).sign_in("01", "1234")
    a.wait_idle()
    yield a
    a.wait_idle(timeout=20)
    a.close(stop_backend=False)


def paid_by_scan(app: App, shop: DemoShop, amount: str) -> str:
    """A WeChat Pay payment scanned at the counter; its order number, back on the amount screen."""
    choose(app, shop, amount, "scan")
    scan(app, shop, WECHAT)
    assert result(app) == "qr_result_approved"
    order = next(t for t in drawn(app) if t.startswith("QR1"))
    app.tap("new")
    Shift(app, shop, None).wait("home")
    return order


def refund_list(app: App, shop: DemoShop) -> list[str]:
    """Menu (the supervisor's gate) → Refund → QR refund; the orders the list offers."""
    s = Shift(app, shop, None)
    if app.screen.name != "menu":
        s.menu()
    app.tap("refund")
    s.wait("refund_choose")
    app.tap("qr")
    s.wait("qr_refund_list")
    return [b.id[5:] for b in app.screen.buttons if b.id.startswith("item:")]


def refund_by_taps(app: App, shop: DemoShop, order: str, amount: str = "") -> str:
    """Pick ``order`` from the list, type ``amount`` (or keep what is left), confirm; the
    result screen's name."""
    assert order in refund_list(app, shop)
    app.tap(f"item:{order}")
    Shift(app, shop, None).wait("qr_refund_amount")
    Shift(app, shop, None).type(amount)
    app.tap("refund")
    Shift(app, shop, None).wait("qr_refund_confirm")
    app.tap("confirm")
    app.wait_for(
        lambda: (
            app.screen.name.startswith("qr_refund_")
            and app.screen.name not in ("qr_refund_confirm",)
        ),
        timeout=20,
    )
    return app.screen.name


def row_texts(app: App, order: str) -> list[str]:
    """The texts drawn on the list row of ``order``."""
    app.draw()
    return [t.text for t in app.painter.texts if t.owner == f"item:{order}"]


def refunds_at_gateway(shop: DemoShop, order: str) -> list[dict[str, Any]]:
    return [r for r in gateway(shop).book.refunds() if r["out_trade_no"] == order]


def refund_orders(shop: DemoShop, order: str) -> list[Any]:
    return qrj.orders(shop.backend.terminal.journal, kind=QrKind.REFUND, original=order)


def test_a_supervisor_refunds_part_of_a_scanned_payment_from_the_menu(
    app: App, shop: DemoShop
) -> None:
    order = paid_by_scan(app, shop, "1250")
    assert refund_list(app, shop)[0] == order  # newest first
    payer = qrj.get(shop.backend.terminal.journal, order).payer
    assert "****" in payer  # masked: the first 3 and last 4 characters of the buyer id
    when, amount = row_texts(app, order)
    assert re.fullmatch(rf"\d\d:\d\d WeChat Pay {re.escape(payer)}", when), when
    assert amount == "¥12.50"
    app.tap("back")
    Shift(app, shop, None).wait("menu")
    assert refund_by_taps(app, shop, order, "500") == "qr_refund_approved"
    texts = drawn(app)
    assert {"Refund −¥5.00", "Refunded", "WeChat Pay", order} <= set(texts)
    assert [(r["amount"], r["status"]) for r in refunds_at_gateway(shop, order)] == [
        (500, "SUCCESS")
    ]
    [ref] = refund_orders(shop, order)
    assert (ref.state, ref.amount, ref.operator) == (QrState.SUCCESS, 500, SUPERVISOR)
    app.tap("new")
    Shift(app, shop, None).wait("menu")
    assert order in refund_list(app, shop)
    assert row_texts(app, order)[1] == "¥12.50, ¥7.50 left"


def test_a_fully_refunded_payment_is_not_offered_again(app: App, shop: DemoShop) -> None:
    order = paid_by_scan(app, shop, "300")
    # what is left is filled in: Refund without typing refunds it all
    assert refund_by_taps(app, shop, order) == "qr_refund_approved"
    assert "Refund −¥3.00" in drawn(app)
    app.tap("new")
    Shift(app, shop, None).wait("menu")
    assert order not in refund_list(app, shop)
    # typed by the last digits of its number, it is refused here with the coded message
    app.tap("order")
    Shift(app, shop, None).wait("qr_refund_order")
    Shift(app, shop, None).type(order[-6:])
    app.tap("find")
    Shift(app, shop, None).wait("qr_refund_refused")
    expected = translate("qr.nothing_left", {"order": order}, "en")
    assert expected == f"Order {order} has been refunded in full: nothing is left to refund"
    assert app.screen.message == expected  # type: ignore[attr-defined]
    assert [r["amount"] for r in refunds_at_gateway(shop, order)] == [300]


def test_an_amount_over_what_is_left_is_refused_on_the_amount_screen(
    app: App, shop: DemoShop
) -> None:
    order = paid_by_scan(app, shop, "800")
    refund_list(app, shop)
    app.tap(f"item:{order}")
    Shift(app, shop, None).wait("qr_refund_amount")
    Shift(app, shop, None).type("801")
    app.tap("refund")
    assert app.screen.name == "qr_refund_amount"
    assert "At most ¥8.00 can be refunded" in drawn(app)
    assert refunds_at_gateway(shop, order) == [] and refund_orders(shop, order) == []


def test_a_refund_while_the_gateway_is_unreachable_says_so_in_chinese_and_moves_nothing_twice(
    app_zh: App, shop: DemoShop
) -> None:
    app = app_zh
    order = paid_by_scan(app, shop, "2000")
    shop.qr_gateway.stop()  # the gateway's network is gone
    try:
        assert refund_by_taps(app, shop, order, "600") == "qr_refund_failed"
        message = translate("qr.refund_unreachable", {"amount": "6.00 CNY"}, "zh_CN")
        assert message.startswith("无法连接扫码支付网关")
        texts = drawn(app)
        assert {"退货 −¥6.00", "无法连接支付机构"} <= set(texts)
        assert app.screen.message == message  # type: ignore[attr-defined]
        assert not [t for t in texts if re.search(r"\b(?!CNY\b|QR\d)[A-Za-z]{3,}", t)]
        [ref] = refund_orders(shop, order)
        assert (ref.state, ref.operator) == (QrState.NOT_SENT, SUPERVISOR)
        app.tap("new")
        Shift(app, shop, None).wait("menu")
    finally:
        shop.qr_gateway = qr_gateway_for(shop.cfg).start()  # back, on the same address
    assert refunds_at_gateway(shop, order) == []
    assert qrj.get(shop.backend.terminal.journal, order).state == QrState.SUCCESS
    # the refund not sent holds nothing back: the whole amount is offered and refunded once
    assert refund_by_taps(app, shop, order) == "qr_refund_approved"
    assert "退货 −¥20.00" in drawn(app)
    assert [(r["amount"], r["status"]) for r in refunds_at_gateway(shop, order)] == [
        (2000, "SUCCESS")
    ]
    assert trade(shop, order)["state"] == "REFUNDED"
    assert [(r.state, r.amount) for r in refund_orders(shop, order)] == [
        (QrState.NOT_SENT, 600),
        (QrState.SUCCESS, 2000),
    ]


def test_a_cashier_cannot_open_the_refund_and_the_service_refuses_one_as_approver(
    app: App, shop: DemoShop
) -> None:
    from ui.screens.qr_refund import run

    order = paid_by_scan(app, shop, "400")
    app.tap("menu")
    assert app.screen.name == "supervisor"  # the cashier (01) is asked for a supervisor
    Shift(app, shop, None).type("01")
    Shift(app, shop, None).type("1234")
    app.tap("next")
    app.wait_idle()
    assert app.screen.name == "supervisor" and app.session.menu_by is None
    # Past the gate the menu's supervisor is the approver; a cashier put in their place is
    # refused by the service itself, before anything is kept or sent.
    app.session.menu_by = app.session.operator
    run(app, qrj.get(shop.backend.terminal.journal, order), 100)
    Shift(app, shop, None).wait("result_error")
    assert "Supervisor needed" in drawn(app)
    assert refund_orders(shop, order) == [] and refunds_at_gateway(shop, order) == []
    app.session.menu_by = None


@pytest.mark.parametrize("language", ["en", "zh_CN"])
@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_qr_refund_screens_fit_at_every_size_and_language(
    shop: DemoShop, size: tuple[int, int], language: str
) -> None:
    app = App(shop.backend, size=size, language=language)
    try:
        app.wait_idle()
        Shift(app, shop, None).sign_in("01", "1234")
        order = paid_by_scan(app, shop, "123456")
        found: list[str] = []
        refund_list(app, shop)
        found += problems(app)
        app.tap(f"item:{order}")
        Shift(app, shop, None).wait("qr_refund_amount")
        found += problems(app)
        Shift(app, shop, None).type("100")
        app.tap("refund")
        Shift(app, shop, None).wait("qr_refund_confirm")
        found += problems(app)
        app.tap("confirm")
        app.wait_for(lambda: app.screen.name == "qr_refund_approved", timeout=20)
        found += problems(app)
        app.tap("new")
        Shift(app, shop, None).wait("menu")
        refund_list(app, shop)
        found += problems(app)  # the row with what is left
        label = [t.text for t in app.painter.texts if t.owner == "order"]
        if len(label) != 1:
            found.append(f"qr_refund_list: the Order no. button wraps: {label}")
        app.tap("order")
        Shift(app, shop, None).wait("qr_refund_order")
        found += problems(app)
        assert not found, "\n".join(found)
    finally:
        app.wait_idle(timeout=20)
        app.close(stop_backend=False)
