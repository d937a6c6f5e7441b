"""Touchscreen flows on the real terminal (demo config, mock devices, reference acquirer).

Every test drives the App with injected finger events, as the touchscreen would, and checks
the screen it lands on and the text it drew.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pygame
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

from appliance.sim.demo import DemoShop, Shift, open_demo_shop
from ui.app import App


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoShop]:
    s = open_demo_shop(tmp_path_factory.mktemp("shop"))
    s.backend.operators.add("05", "Test", "operator", "5555", by="test")  # type: ignore[union-attr]
    yield s
    s.close()


@pytest.fixture
def app(shop: DemoShop) -> Iterator[App]:
    a = App(shop.backend, size=(800, 480), language="en")
    a.wait_idle()
    yield a
    shop.restore_link()
    shop.printer.restore()
    a.wait_idle()
    a.close(stop_backend=False)


def drawn(app: App) -> list[str]:
    """Every text drawn in the last frame, and each paragraph's lines joined again (a
    sentence wrapped over two lines is still found)."""
    app.draw()
    texts = [t.text for t in app.painter.texts]
    joined: dict[str, list[str]] = {}
    for t in app.painter.texts:
        joined.setdefault(t.owner, []).append(t.text)
    return texts + [" ".join(lines) for lines in joined.values() if len(lines) > 1]


def signed_in(app: App, shop: DemoShop) -> Shift:
    s = Shift(app, shop, None)
    s.sign_in("01", "1234")
    return s


def test_wrong_pin_says_how_many_tries_are_left_then_the_right_one_signs_in(
    app: App, shop: DemoShop
) -> None:
    s = Shift(app, shop, None)
    assert app.screen.name == "signin"
    s.type("01")
    app.tap("field1")
    s.type("0000")
    app.tap("signin")
    app.wait_idle()
    assert app.screen.name == "signin"
    assert any("tries left" in t for t in drawn(app))
    s.type("1234")
    app.tap("signin")
    s.wait("home")
    assert "Operator 01" in drawn(app)


def test_repeated_wrong_pins_lock_the_keypad_with_a_countdown(app: App, shop: DemoShop) -> None:
    s = Shift(app, shop, None)
    s.type("05")
    for _ in range(5):
        app.tap("field1")
        s.type("0000")
        app.tap("signin")
        app.wait_idle()
    app.step()
    assert not app.screen.button("k1").enabled
    assert any("try again in" in t for t in drawn(app))
    app.tap("k1")  # a locked keypad ignores taps
    assert app.screen.fields[1].value == ""


def test_amount_keypad_shifts_digits_in_from_the_right(app: App, shop: DemoShop) -> None:
    s = signed_in(app, shop)
    s.type("1250")
    assert "¥12.50" in drawn(app)
    app.tap("back")
    assert "¥1.25" in drawn(app)
    app.tap("clear")
    assert "¥0.00" in drawn(app)
    app.tap("charge")
    assert app.screen.name == "home"
    assert "Type the amount first" in drawn(app)


def test_sale_mirrors_the_leds_then_shows_the_auth_code_and_queues_the_merchant_stub(
    app: App, shop: DemoShop
) -> None:
    s = signed_in(app, shop)
    s.type("1250")
    app.tap("charge")
    app.wait_for(lambda: app.screen.name == "present_card" and app.screen.step == "present_card")
    frames = app.frames
    for _ in range(3):  # the UI keeps drawing while the worker waits for the card
        app.dirty = True
        app.step()
    assert app.frames == frames + 3
    assert app.screen.leds == 1
    assert "Tap or hold the card near the reader" in drawn(app)
    shop.present("visa")
    s.wait_prefix("result")
    assert app.screen.name == "result_approved"
    txn = app.last_txn
    assert txn.auth_code and txn.auth_code in drawn(app)
    assert txn.masked_pan in drawn(app)
    jobs = shop.backend.terminal.receipts.jobs()
    assert any(j.txn_uuid == txn.uuid and j.copy == "merchant" for j in jobs)
    app.tap("print")
    app.wait_idle()
    assert "Customer copy printing." in drawn(app)
    jobs = shop.backend.terminal.receipts.jobs()
    assert any(j.txn_uuid == txn.uuid and j.copy == "customer" for j in jobs)


def test_cancel_on_the_present_card_screen_cancels_the_sale(app: App, shop: DemoShop) -> None:
    s = signed_in(app, shop)
    s.type("500")
    app.tap("charge")
    app.wait_for(lambda: app.screen.name == "present_card" and app.screen.step == "present_card")
    app.tap("cancel")
    s.wait_prefix("result")
    assert app.screen.name == "result_cancelled"


def test_declined_card_shows_the_reason_in_plain_words(app: App, shop: DemoShop) -> None:
    s = signed_in(app, shop)
    assert s.sale("8800", "decline", "d") == "result_declined"
    texts = drawn(app)
    assert "Declined" in texts and any("Not honoured by the card issuer" in t for t in texts)
    assert "05" in texts


def test_link_cut_stores_the_payment_and_the_status_bar_counts_it(app: App, shop: DemoShop) -> None:
    s = signed_in(app, shop)
    shop.cut_link()
    assert s.sale("1800", "mastercard", "o") == "result_stored"
    app.refresh_status()
    app.step()
    app.wait_for(lambda: app.status is not None and app.status.stored_count >= 1)
    assert any(t.startswith("Stored ") for t in drawn(app))
    shop.restore_link()
    s.new_sale()
    s.menu()
    app.tap("forward")
    s.wait(("forward_result", "result_error"), timeout=30)
    assert app.screen.name == "forward_result"
    app.refresh_status()
    app.step()
    app.wait_for(lambda: app.status is not None and app.status.stored_count == 0)


def test_the_forwarding_result_counts_stored_payments_as_the_journal_does(
    app: App, shop: DemoShop
) -> None:
    from appliance.domain.transactions import TxnState

    journal = shop.backend.terminal.journal
    s = signed_in(app, shop)
    shop.cut_link()
    for amount in ("1100", "1200"):
        assert s.sale(amount, "mastercard", "o") == "result_stored"
        s.new_sale()
    app.refresh_status()
    app.wait_for(lambda: app.status is not None and app.status.stored_count >= 2)
    shop.restore_link()
    s.menu()
    app.tap("forward")
    s.wait("forward_result", timeout=30)  # no status refresh waited for: the screen as shown
    stored, _amount = journal.count_amount((TxnState.STORED,))
    assert stored == 0
    assert app.status.stored_count == stored
    assert not any(t.startswith("Stored ") for t in drawn(app))


def test_printer_out_of_paper_says_how_many_stubs_wait(app: App, shop: DemoShop) -> None:
    s = signed_in(app, shop)
    shop.printer.paper_out()
    s.sale("990", "visa", "p")
    app.refresh_status()
    app.step()
    app.wait_for(lambda: app.status is not None and app.status.print_jobs_waiting > 0)
    app.tap("statusbar")
    assert app.screen.name == "status"
    waiting = app.status.print_jobs_waiting
    assert (
        f"Printer out of paper: {waiting} stubs waiting. Load paper; they print by themselves."
        in " ".join(drawn(app))
    )


def test_stubs_parked_after_two_uncertain_prints_print_again_from_the_status_screen(
    app: App, shop: DemoShop
) -> None:
    from appliance.domain.receipts import Cut, Document, Text

    signed_in(app, shop)
    queue = shop.backend.terminal.receipts
    app.wait_for(lambda: queue.waiting() == 0)  # what earlier tests left has printed
    shop.printer.paper_out()  # the kiosk's worker leaves the job alone meanwhile
    job_id = queue.document(Document("test", "en", (Text("PARKED-JOB"), Cut())), "parked")
    for _ in range(2):  # two prints whose outcome was uncertain (faults mid-job)
        job = queue.store.claim("elsewhere", lease=10, max_attempts=2)
        assert job is not None and job.id == job_id
        queue.store.uncertain(job, "elsewhere", "cut mid-job", max_attempts=2)
    shop.printer.restore()
    app.refresh_status()
    app.wait_for(lambda: app.status is not None and app.status.print_jobs_attention == 1)
    app.tap("statusbar")
    assert app.screen.name == "status"
    text = " ".join(drawn(app))
    assert "1 stubs may not have printed in full (tried twice)" in text
    assert "Print again" in text
    app.tap("reprint_parked")
    app.wait_for(lambda: queue.store.get(job_id).state == "done")
    printed = shop.printer.jobs[-1]
    assert printed[0] == job_id and b"DUPLICATE" in printed[1] and b"PARKED-JOB" in printed[1]


def test_a_cashier_needs_a_supervisor_to_open_the_menu(app: App, shop: DemoShop) -> None:
    s = signed_in(app, shop)
    app.tap("menu")
    assert app.screen.name == "supervisor"
    s.type("01")
    app.tap("next")
    s.type("1234")
    app.tap("next")
    app.wait_idle()
    assert app.screen.name == "supervisor"
    assert "This operator is not a supervisor" in drawn(app)
    app.tap("field0")
    app.tap("clear")
    s.type("02")
    app.tap("field1")
    s.type("123456")
    app.tap("next")
    s.wait("menu")
    assert app.screen.button("void").enabled


def test_a_technician_opens_the_menu_without_money_functions(app: App, shop: DemoShop) -> None:
    s = signed_in(app, shop)
    s.menu(("09", "999999"))
    assert not app.screen.button("void").enabled
    assert not app.screen.button("settle").enabled
    assert app.screen.button("tech").enabled
    app.tap("tech")
    app.tap("about")
    texts = drawn(app)
    assert shop.cfg.merchant.tid in texts and shop.cfg.merchant.mid in texts


def test_void_picked_from_todays_list_reaches_a_result(app: App, shop: DemoShop) -> None:
    s = signed_in(app, shop)
    s.sale("4200", "unionpay", "v")
    stan = app.last_txn.stan
    s.new_sale()
    s.menu()
    app.tap("void")
    app.tap("list")
    s.wait("void_list")
    assert f"{stan:06d}" in " ".join(drawn(app))
    app.tap(f"item:{stan}")
    s.wait("void_confirm")  # the void rule was asked first
    app.tap("confirm")
    assert s.wait_prefix("result") == "result_approved"
    app.wait_idle()
    assert shop.backend.terminal.find(trace=stan).state == "voided"
    # The same sale again, by trace: the service's rule refuses it and the screen says so.
    s.new_sale()
    s.menu()
    app.tap("void")
    app.tap("trace")
    s.type(str(stan))
    app.tap("find")
    s.wait("void_refused")
    assert "Only an approved sale of the current batch can be voided." in drawn(app)


def test_refund_refuses_more_than_is_refundable(app: App, shop: DemoShop) -> None:
    s = signed_in(app, shop)
    s.sale("3000", "visa", "r")
    stan = app.last_txn.stan
    s.new_sale()
    s.menu()
    app.tap("refund")
    app.tap("trace")
    s.type(str(stan))
    app.tap("find")
    s.wait("refund_amount")
    s.type("3001")
    app.tap("refund")
    assert app.screen.name == "refund_amount"
    assert "At most ¥30.00 can be refunded" in drawn(app)


def test_language_switch_redraws_in_chinese(app: App, shop: DemoShop) -> None:
    s = signed_in(app, shop)
    s.menu()
    app.tap("language")
    assert "撤销" in drawn(app) and "Void" not in drawn(app)
    app.tap("back")
    assert "收款" in drawn(app)


def switch_marks(app: App) -> list[str]:
    """The lines drawn on the language switch of the current screen."""
    app.draw()
    return [t.text for t in app.painter.texts if t.owner == "language"]


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_the_menus_language_switch_marks_the_language_in_use_as_sign_in_does(
    shop: DemoShop, language: str
) -> None:
    app = App(shop.backend, size=(800, 480), language=language)
    try:
        app.wait_idle()
        mine, other = ("● 中文", "○ English") if language == "zh_CN" else ("● English", "○ 中文")
        assert sorted(switch_marks(app)) == sorted([mine, other])  # the sign-in screen
        s = signed_in(app, shop)
        s.menu()
        assert sorted(switch_marks(app)) == sorted([mine, other])
        app.tap("language")
        assert app.i18n.language != language
        flipped = [("●" if m.startswith("○") else "○") + m[1:] for m in (mine, other)]
        assert sorted(switch_marks(app)) == sorted(flipped)
        app.tap("language")
        assert sorted(switch_marks(app)) == sorted([mine, other])
    finally:
        app.wait_idle()
        app.close(stop_backend=False)


def test_mouse_events_synthesized_from_touch_are_ignored_but_a_real_mouse_taps(
    app: App, shop: DemoShop
) -> None:
    s = signed_in(app, shop)
    pos = app.button_center("k7")
    app.input_ready()  # the screen has been looked at (past the input guard)
    for kind in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP):
        pygame.event.post(pygame.event.Event(kind, pos=pos, button=1, touch=True))
    app.step()
    assert app.screen.field.value == ""
    for kind in (pygame.MOUSEBUTTONDOWN, pygame.MOUSEBUTTONUP):
        pygame.event.post(pygame.event.Event(kind, pos=pos, button=1, touch=False))
    app.step()
    assert app.screen.field.value == "7"
    s.type("")


def test_a_tap_released_outside_the_button_does_nothing(app: App, shop: DemoShop) -> None:
    signed_in(app, shop)
    w, h = app.window.get_size()
    x, y = app.button_center("k5")
    common = {"touch_id": 1, "finger_id": 0, "dx": 0.0, "dy": 0.0, "pressure": 1.0}
    app.input_ready()
    pygame.event.post(pygame.event.Event(pygame.FINGERDOWN, x=x / w, y=y / h, **common))
    app.step()
    assert app.pressed == "k5"
    pygame.event.post(pygame.event.Event(pygame.FINGERUP, x=0.01, y=0.99, **common))
    app.step()
    assert app.pressed is None and app.screen.field.value == ""


def test_the_watchdog_hook_runs_every_loop_iteration(shop: DemoShop) -> None:
    ticks: list[int] = []
    a = App(shop.backend, size=(800, 480), language="en", on_tick=lambda: ticks.append(1))
    try:
        for _ in range(5):
            a.step()
        assert len(ticks) == 5
    finally:
        a.wait_idle()
        a.close(stop_backend=False)


def test_demo_cli_runs_the_scripted_shift_headless(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.cli import main

    out = tmp_path / "shots"
    assert main(["demo", "--headless", "--out", str(out), "--lang", "en"]) == 0
    story = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  trace ")]
    assert any("declined" in ln and "acquirer: declined" in ln for ln in story)
    assert any("stored offline, then forwarded; acquirer: approved" in ln for ln in story)
    for ln in story:  # what the terminal says happened is what the acquirer booked
        state = ln.split()[6]
        assert f"acquirer: {state}" in ln
    shots = sorted(p.name for p in out.glob("*.png"))
    assert len(shots) >= 20
    assert any("decline_result_declined" in n for n in shots)
    assert any("offline1_result_stored" in n for n in shots)
    receipts = sorted(p.name for p in (out / "receipts").glob("*.png"))
    assert any(n.startswith("sale-merchant-") for n in receipts)  # named by what they are
    assert any(n.startswith("settlement-") for n in receipts)
    assert not any(n[:2].isdigit() for n in receipts)


def test_demo_side_panel_taps_cards_scans_a_code_and_cuts_the_link(shop: DemoShop) -> None:
    from appliance.sim.demo import PANEL_W, DemoPanel

    a = App(shop.backend, size=(800, 480), language="en", panel_width=PANEL_W)
    panel = DemoPanel(shop, pygame.Rect(800, 0, PANEL_W, 480))
    panel.layout()
    a.panel = panel
    try:
        s = Shift(a, shop, None)
        s.sign_in("01", "1234")
        s.type("777")
        a.tap("charge")
        a.wait_for(lambda: getattr(a.screen, "step", "") == "present_card")
        a.inject_tap(next(b for b in panel.buttons if b.id == "visa").rect.center)
        assert s.wait_prefix("result") == "result_approved"
        a.tap("new")
        s.wait("home")
        scan_button = next(b for b in panel.buttons if b.id == "scan").rect.center
        a.inject_tap(scan_button)  # no scan prompt yet: the code goes nowhere
        assert panel.note == "No scan prompt: code ignored"
        s.type("1250")
        a.tap("qr")
        a.wait_for(lambda: a.screen.name == "qr_mode")
        a.wait_idle()
        a.tap("scan")
        a.wait_for(shop.backend.terminal.scanner.waiting.is_set)
        a.inject_tap(scan_button)
        assert panel.note == "Scanned a WeChat code"
        a.wait_for(lambda: a.screen.name.startswith("qr_result"), timeout=20)
        assert a.screen.name == "qr_result_approved"
        a.inject_tap(next(b for b in panel.buttons if b.id == "link").rect.center)
        assert shop.link_cut
        a.inject_tap(next(b for b in panel.buttons if b.id == "paper").rect.center)
        assert shop.printer.status().value == "paper_out"
        a.draw()
        assert any(t.text == "Restore link" for t in a.painter.texts)
    finally:
        shop.restore_link()
        shop.printer.restore()
        a.wait_idle()
        a.close(stop_backend=False)


def test_a_cashier_signs_out_from_the_supervisor_gate(app: App, shop: DemoShop) -> None:
    signed_in(app, shop)
    app.tap("menu")
    app.tap("signout")
    assert app.screen.name == "signin"
    assert app.session.operator is None


def test_reprint_last_is_marked_and_audited_with_the_supervisor(app: App, shop: DemoShop) -> None:
    s = signed_in(app, shop)
    s.sale("1500", "visa", "rp")
    stan = app.last_txn.stan
    s.new_sale()
    s.menu()
    app.tap("reprint")
    app.tap("last")
    s.wait("reprint")
    assert f"{stan:06d}" in drawn(app)
    app.tap("print_merchant")
    app.wait_idle()
    assert "Merchant copy printing." in drawn(app)
    jobs = shop.backend.terminal.receipts.jobs()
    assert any(j.what.startswith("reprint") and j.copy == "merchant" for j in jobs)
    audit = shop.backend.terminal.journal.audit_trail()
    assert any(
        a["action"] == "reprint" and a["operator"] == "02" and f"trace {stan:06d}" in a["detail"]
        for a in audit
    )


def test_x_report_and_settlement_close_the_batch_from_the_menu(app: App, shop: DemoShop) -> None:
    s = signed_in(app, shop)
    s.sale("2000", "visa", "st")
    batch = shop.backend.terminal.journal.batch
    s.new_sale()
    s.menu()
    app.tap("xreport")
    s.wait("xreport")
    assert f"{batch:06d}" in drawn(app)
    app.tap("print")
    app.wait_idle()
    assert "Sent to the printer." in drawn(app)
    app.tap("back")
    app.tap("settle")
    s.wait("settle_preview")
    app.tap("confirm")
    s.wait(("settle_result", "result_error"), timeout=60)
    assert app.screen.name == "settle_result"
    assert "Balanced" in drawn(app)
    assert shop.backend.terminal.journal.batch != batch


def test_reconciliation_shows_each_discrepancy_of_the_last_statement(
    app: App, shop: DemoShop
) -> None:
    s = signed_in(app, shop)
    s.sale("1234", "visa", "rc")  # the statement needs a sale to misstate
    s.new_sale()
    assert shop.import_statement(("amount",))
    app.wait_idle()
    s.menu()
    app.tap("recon")
    s.wait("recon")
    texts = drawn(app)
    assert ("Discrepancies" in texts) and any(t.startswith("Amount differs") for t in texts)
    app.tap("back")
    assert app.screen.name == "menu"


def test_an_offline_payment_over_the_limit_is_refused_naming_the_limit(
    app: App, shop: DemoShop
) -> None:
    s = signed_in(app, shop)
    shop.cut_link()
    over = shop.cfg.limits.offline_max_amount + 100
    assert s.sale(str(over), "visa", "lim") == "result_refused"
    texts = drawn(app)
    assert "Largest offline payment" in texts
    assert any("nothing was charged" in t for t in texts)


def test_a_partial_refund_to_the_original_card_is_approved(app: App, shop: DemoShop) -> None:
    s = signed_in(app, shop)
    s.sale("3000", "mastercard", "rf")
    stan = app.last_txn.stan
    s.new_sale()
    s.menu()
    app.tap("refund")
    app.tap("trace")
    s.type(str(stan))
    app.tap("find")
    s.wait("refund_amount")
    s.type("1000")
    app.tap("refund")
    app.wait_for(lambda: getattr(app.screen, "step", "") == "present_card")
    assert "Refund: hold the card used for the sale near the reader" in " ".join(drawn(app))
    shop.present("mastercard")
    assert s.wait_prefix("result") == "result_approved"
    assert "Refund −¥10.00" in drawn(app)  # the type and the sign, not a sale's plus


def test_technician_card_read_test_shows_only_the_masked_pan_and_can_be_stopped(
    app: App, shop: DemoShop
) -> None:
    s = signed_in(app, shop)
    s.menu(("09", "999999"))
    app.tap("tech")
    app.tap("read_test")
    app.tap("about")  # any tap stops a read that waits for a card
    app.wait_idle()
    assert app.screen.name == "technician"
    assert any("cancel" in t.lower() for t in drawn(app))
    app.tap("read_test")
    shop.present("visa")
    app.wait_idle()
    texts = " ".join(drawn(app))
    assert "VISA 476173******0119" in texts
