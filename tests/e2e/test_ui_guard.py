"""A counter a shop can trust: double taps stay on their screen, idle sessions end, the language
survives a restart, and no error reaches the Chinese screen as an English sentence."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from appliance.messages import MESSAGES, translate
from appliance.services.qr_messages import MESSAGES as QR_MESSAGES
from appliance.services.qr_messages import translate as qr_translate
from appliance.sim.demo import DemoShop, Shift, open_demo_shop
from ui.app import RESOLUTIONS, App


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoShop]:
    s = open_demo_shop(tmp_path_factory.mktemp("guard"))
    yield s
    s.close()


def open_app(shop: DemoShop, size: tuple[int, int] = (800, 480), language: str = "zh_CN") -> App:
    app = App(shop.backend, size=size, language=language)
    app.wait_idle()
    return app


@pytest.mark.parametrize("language", ["zh_CN", "en"])
@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_a_double_tap_on_charge_and_on_void_stays_on_its_screen(
    shop: DemoShop, size: tuple[int, int], language: str
) -> None:
    app = open_app(shop, size, language)
    s = Shift(app, shop, None)
    try:
        s.sign_in("01", "1234")
        s.type("1250")
        app.double_tap("charge")  # the second tap must not land on Cancel
        app.wait_for(lambda: getattr(app.screen, "step", "") == "present_card")
        assert app.screen.name == "present_card"
        shop.present("visa")
        assert s.wait_prefix("result") == "result_approved"
        app.double_tap("new")  # the second tap must not land on the amount screen's Charge
        s.wait("home")
        assert app.screen.field.value == ""
        s.menu()
        app.tap("void")
        app.tap("list")
        s.wait("void_list")
        app.tap(next(b.id for b in app.screen.buttons if b.id.startswith("item:")))
        s.wait("void_confirm")  # the void rule is asked on the worker first
        app.double_tap("confirm")
        assert s.wait_prefix("result") == "result_approved"
        app.wait_idle()
        history = list(app.screen_history)
        assert history[-2:] == ["processing", "result_approved"], history[-4:]
        assert history.count("void_confirm") == 1
    finally:
        app.wait_idle()
        app.close(stop_backend=False)


def test_the_menu_closes_after_a_minute_and_the_operator_is_signed_out_when_idle(
    shop: DemoShop,
) -> None:
    app = open_app(shop, language="en")
    s = Shift(app, shop, None)
    try:
        s.sign_in("01", "1234")
        s.menu()
        assert app.session.menu_by is not None and app.screen.button("void").enabled
        app.last_input -= app.menu_idle_s  # a minute without a tap
        app.step()
        assert app.screen.name == "home" and app.session.menu_by is None
        app.last_input -= app.signout_idle_s
        app.step()
        assert app.screen.name == "idle" and app.session.operator is None
        app.tap("start")
        assert app.screen.name == "signin"
    finally:
        app.wait_idle()  # the sign-in screen's own query must come back before the app goes
        app.close(stop_backend=False)


def test_the_language_chosen_is_there_again_after_a_restart(shop: DemoShop) -> None:
    app = App(shop.backend, size=(800, 480))  # no language given: the saved one, else config
    app.wait_idle()
    try:
        other = "en" if app.i18n.zh else "zh_CN"
        app.tap("language")  # the switch on the sign-in screen
        assert app.i18n.language == other
        app.wait_idle()
    finally:
        app.close(stop_backend=False)
    again = App(shop.backend, size=(800, 480))
    try:
        again.wait_idle()
        assert again.i18n.language == other
        again.tap("language")
        again.wait_idle()
    finally:
        again.close(stop_backend=False)


# Words that are names, not sentences, and may appear in Chinese text.
NAMES = {"MAC", "TID", "TMK", "RRN", "VISA", "PIN", "CNY", "QR", "KiB"}
SAMPLE = {
    "amount": "¥12.50",
    "limit": "¥10.00",
    "over": "¥2.50",
    "left": "¥5.00",
    "trace": "000012",
    "rrn": "633600000001",
    "card": "623456******6780",
    "rc": "05",
    "tid": "10000001",
    "dialect": "cup",
    "number": "01",
    "n": 2,
    "sw": "6985",
    "action": "void",
    "role": "supervisor",
    "directory": "/var/lib/countertop",
    "free_kib": 96,
    "reserve_kib": 1024,
    "response_code": "05",
    "batch": "000007",
    "pid": 4242,
    "since": "2026-12-07T13:16:26+08:00",
    "uploaded": 3,
    "total": 40,
    "done": 3,
    "reversals": 1,
    "stored": 2,
    "date": "2026-12-07",
}


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_every_message_reads_in_chinese_without_an_english_sentence(code: str) -> None:
    text = translate(code, SAMPLE, "zh_CN")
    # Paths and commands to type are names too (/var/lib/countertop, countertop forward).
    names_removed = re.sub(r"/[\w/.-]+|countertop( [a-z-]+)?", "", text)
    words = [w for w in re.findall(r"[A-Za-z]{3,}", names_removed) if w not in NAMES and w != "cup"]
    assert not words, f"{code}: {text}"
    assert text != translate(code, SAMPLE, "en")


@pytest.mark.parametrize("code", sorted(QR_MESSAGES))
def test_every_qr_message_reads_in_chinese_without_an_english_sentence(code: str) -> None:
    params = {**SAMPLE, "amount": "12.50 CNY", "order": "QR1000000120261207000001"}
    params.update(wallet="WECHATPAY", reason="NOTENOUGH", seconds=30)
    text = qr_translate(code, params, "zh_CN")
    # Config keys and the wallets' own error codes are names too.
    names_removed = re.sub(r"qr\.gateway|NOTENOUGH", "", text)
    words = [w for w in re.findall(r"[A-Za-z]{3,}", names_removed) if w not in NAMES]
    assert not words, f"{code}: {text}"
    assert text != qr_translate(code, params, "en")


def test_a_decline_reads_in_the_unionpay_wording_with_the_next_step() -> None:
    assert translate("host.declined", {"rc": "05"}, "zh_CN") == (
        "交易失败（05）：不予承兑，请持卡人与发卡行联系"
    )
    assert "Not honoured by the card issuer" in translate("host.declined", {"rc": "05"}, "en")
