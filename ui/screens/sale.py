"""The sale flow: amount → present card (LED mirror, countdown) → processing → result → copy."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pygame

from appliance import errors
from ui.i18n import N_
from ui.screens.base import Screen
from ui.screens.common import EntryScreen, Field, MessageScreen, action_buttons, draw_spinner
from ui.widgets import THEME, Painter, cols, rows

if TYPE_CHECKING:
    from ui.app import App

CARD_TIMEOUT_S = 30  # shown countdown; the reader's own timeout is the one that counts
MAX_AMOUNT_DIGITS = 9  # 9,999,999.99 at exponent 2: far above any counter sale

# (title msgid, tone) per Outcome.result
RESULTS: dict[str, tuple[str, str]] = {
    "approved": (N_("Approved"), "ok"),
    "declined": (N_("Declined"), "bad"),
    "stored": (N_("Approved offline: stored"), "warn"),
    "refused": (N_("Refused"), "bad"),
    "failed": (N_("Not completed"), "bad"),
    "cancelled": (N_("Cancelled"), "info"),
}


# Offline limits (config ``limits.*``) as the operator is told which one refused.
LIMIT_NAMES: dict[str, str] = {
    "offline_enabled": N_("Offline payments are switched off"),
    "online_only_schemes": N_("This card is accepted online only"),
    "offline_max_amount": N_("Largest offline payment"),
    "offline_max_count": N_("Number of stored payments"),
    "offline_max_total": N_("Total of stored payments"),
    "offline_max_age_hours": N_("Age of the oldest stored payment"),
}


def operator_number(app: App) -> str:
    """The signed-in operator's number ("" when none)."""
    op = app.session.operator
    return str(getattr(op, "number", "") or "") if op is not None else ""


class HomeScreen(EntryScreen):
    """The sale amount keypad: cents-shift entry, currency shown, Charge and Menu."""

    def __init__(self, app: App) -> None:
        super().__init__(
            app,
            N_("Sale"),
            [Field(app.currency.alpha, kind="amount", max_len=MAX_AMOUNT_DIGITS)],
            [
                ("menu", N_("Menu"), "normal"),
                ("qr", N_("QR"), "normal"),
                ("charge", N_("Charge"), "primary"),
            ],
            self._action,
            name="home",
            hint="",
        )

    def _action(self, action: str, screen: EntryScreen) -> None:
        if action == "menu":
            from ui.screens.admin import open_menu

            open_menu(self.app)
        elif action in ("charge", "qr"):
            amount = self.field.number
            if amount <= 0:
                self.say(self.t(N_("Type the amount first")))
                return
            if action == "qr":
                from ui.screens.qr import start_qr

                start_qr(self.app, amount)
            else:
                start_card_flow(self.app, amount, "sale")


def start_card_flow(app: App, amount: int, service: str, **kwargs: Any) -> None:
    """Show the present-card screen and run ``service`` ("sale", "refund") on the worker."""
    cancel = threading.Event()
    screen = PresentCardScreen(app, amount, cancel, kind=service)
    app.show(screen)
    app.backend.card_flow(
        service,
        amount,
        cancel,
        on_step=screen.on_step,
        done=lambda outcome: show_outcome(app, outcome, amount, kind=service),
        failed=lambda exc: show_failure(app, exc, amount),
        operator=operator_number(app),
        **kwargs,
    )


class PresentCardScreen(Screen):
    """Amount, the four status LEDs mirrored on screen, countdown, cancel."""

    name = "present_card"
    animating = False

    def __init__(self, app: App, amount: int, cancel: threading.Event, kind: str = "sale") -> None:
        super().__init__(app)
        self.kind = kind
        self.amount = amount
        self.cancel = cancel
        self.step = "starting"
        self.deadline = self.now() + CARD_TIMEOUT_S
        self._shown_second = -1

    def on_step(self, step: str) -> None:
        """The terminal moved on: "present_card", then "sending" once the card was read."""
        self.step = step
        if step == "present_card":
            self.deadline = self.now() + float(self.app.backend.config.reader.timeout)
        if step == "sending":
            self.name = "processing"
            self.animating = True
        cancel = self.button("cancel")
        cancel.enabled = step in ("starting", "present_card")
        self.app.dirty = True

    @property
    def leds(self) -> int:
        """How many of the four LEDs are lit, mirrored from the terminal's indicator state."""
        state = self.app.backend.indicator_state
        lit = {"ready": 1, "processing": 2, "success": 4}.get(state, 0)
        if state == "idle" and int(self.now() * 2) % 2 == 0:
            lit = 1  # LED1 blinks while idle
        return lit

    @property
    def seconds_left(self) -> int:
        """Countdown shown while waiting for the card."""
        return max(0, int(self.deadline - self.now() + 0.999))

    def layout(self, rect: pygame.Rect) -> None:
        """Amount on top, LEDs, instruction, countdown, cancel."""
        super().layout(rect)
        m = self.app.metrics
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        parts = rows(inner, [1.4, 0.9, 1.0, 0.6, 1.1], m.gap)
        self.amount_box, self.led_box, self.msg_box, self.count_box = parts[:4]
        action_box = parts[4].inflate(-parts[4].w // 3, 0)
        self.buttons = action_buttons(self.app, action_box, [("cancel", N_("Cancel"), "danger")])

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """LED dots light up with the steps; the countdown runs while waiting."""
        m, th = self.app.metrics, THEME
        painter.text(
            surface,
            self.app.money(self.amount),
            self.amount_box,
            size=m.big * 5 // 4,
            owner="amount",
        )
        led_w = min(self.led_box.h, self.led_box.w // 8)
        cells = cols(pygame.Rect(0, 0, led_w * 6, self.led_box.h), [1, 1, 1, 1], led_w // 2)
        x0 = self.led_box.centerx - cells[-1].right // 2
        for i, cell in enumerate(cells):
            centre = (x0 + cell.centerx, self.led_box.centery)
            lit = i < self.leds
            colour = th.led_on if lit else th.led_off
            if self.app.backend.indicator_state == "error":
                colour = th.bad
            pygame.draw.circle(surface, colour, centre, led_w * 2 // 5)
            pygame.draw.circle(surface, th.key_border, centre, led_w * 2 // 5, 2)
        message = {
            "starting": N_("Preparing the reader…"),
            "present_card": N_("Tap or hold the card near the reader"),
            "sending": N_("Processing: contacting the bank…"),
        }.get(self.step, "")
        if self.kind == "refund" and self.step == "present_card":
            message = N_("Refund: hold the card used for the sale near the reader")
        if self.step == "present_card" and self.app.backend.indicator_state == "success":
            message = N_("Card read")
        painter.paragraph(surface, self.t(message), self.msg_box, size=m.title, owner="message")
        if self.step == "sending":
            draw_spinner(surface, self.count_box, self.now())
        elif self.step in ("starting", "present_card"):
            text = self.t(N_("{s} s left")).format(s=self.seconds_left)
            painter.text(
                surface, text, self.count_box, size=m.body, color=th.dim, owner="countdown"
            )
        self.draw_buttons(surface, painter)

    def tick(self, now: float) -> bool:
        """Redraw when the countdown second changes (and every frame while processing)."""
        second = self.seconds_left
        if second != self._shown_second:
            self._shown_second = second
            return True
        return self.animating

    def on_button(self, bid: str) -> None:
        """Cancel asks the reader to stop; the outcome comes back as "cancelled"."""
        if bid == "cancel" and self.button("cancel").enabled:
            self.cancel.set()
            self.button("cancel").enabled = False


def outcome_message(app: App, outcome: Any) -> str:
    """The outcome's reason in the current language."""
    zh = getattr(outcome, "message_zh", "") or ""
    en = getattr(outcome, "message_en", "") or ""
    return (zh or en) if app.i18n.zh else (en or zh)


def txn_details(app: App, txn: Any) -> list[tuple[str, str]]:
    """Label/value rows for a transaction (never more than the masked PAN)."""
    rows_: list[tuple[str, str]] = [(N_("Amount"), app.money(int(txn.amount)))]
    if getattr(txn, "auth_code", None):
        rows_.append((N_("Auth code"), str(txn.auth_code)))
    rows_.append((N_("Trace"), f"{int(txn.stan):06d}"))
    if getattr(txn, "rrn", None):
        rows_.append((N_("Reference (RRN)"), str(txn.rrn)))
    if getattr(txn, "masked_pan", ""):
        rows_.append((N_("Card"), str(txn.masked_pan)))
    return rows_


def show_outcome(app: App, outcome: Any, amount: int, *, kind: str = "sale") -> None:
    """The result screen of a sale, void or refund; prints the merchant stub when money moved."""
    result = str(outcome.result)
    title, tone = RESULTS.get(result, (N_("Not completed"), "bad"))
    txn = outcome.txn
    app.last_txn = txn or app.last_txn
    message = outcome_message(app, outcome)
    if result == "stored":
        message = message or app.t(
            N_("The payment is stored and will be sent when the link is back.")
        )
    details = txn_details(app, txn) if txn is not None else [(N_("Amount"), app.money(amount))]
    if result in ("declined", "failed") and getattr(outcome, "response_code", None):
        details.append((N_("Response code"), str(outcome.response_code)))
    if result == "refused" and getattr(outcome, "limit", None):
        limit = str(outcome.limit)
        details.append((N_("Limit"), app.t(LIMIT_NAMES.get(limit, limit))))
    moved = txn is not None and result in ("approved", "stored")
    # The terminal queues the merchant stub itself; the customer copy follows the config.
    policy = app.backend.customer_copy
    ask = moved and policy == "ask"
    actions = [("print", N_("Print customer copy"), "normal")] if ask else []
    actions.append(("new", N_("New sale"), "primary"))

    def on_action(action: str) -> None:
        if action == "print":
            print_copy(app, txn, screen)
        else:
            from ui.screens.sale import HomeScreen

            app.show(HomeScreen(app))

    screen = MessageScreen(
        app,
        app.t(title),
        message,
        tone=tone,
        details=[(app.t(label), value) for label, value in details],
        actions=actions,
        on_action=on_action,
        name=f"result_{result}",
        translate=False,
    )
    screen.kind = kind
    app.show(screen)
    if moved and policy == "always":
        print_copy(app, txn, screen)
    app.refresh_status()


def print_copy(
    app: App, txn: Any, screen: MessageScreen, *, reprint: bool = False, copy: str = "customer"
) -> None:
    """Print a copy of ``txn`` (a reprint is marked and audited); the outcome replaces the
    screen's message."""
    screen.message = app.t(N_("Printing…"))
    app.dirty = True
    for b in screen.buttons:
        if b.id in ("print", f"print_{copy}"):
            b.enabled = False

    def done(_: Any) -> None:
        sent = N_("Customer copy sent to the printer.")
        if copy == "merchant":
            sent = N_("Merchant copy sent to the printer.")
        screen.message = app.t(sent)

    def failed(exc: BaseException) -> None:
        screen.message = app.t(
            N_("Printer problem: {reason}. The copy will print when it is fixed.")
        ).format(reason=exc)
        screen.tone = "warn"
        app.refresh_status()

    supervisor = app.session.menu_by or app.session.operator
    who = str(getattr(supervisor, "number", "") or "-")
    app.backend.print_copy(txn, copy, reprint=reprint, operator=who, done=done, failed=failed)


def failure_text(app: App, exc: BaseException) -> tuple[str, str]:
    """A title and plain-words reason for an error raised by a service call."""
    t = app.t
    if isinstance(exc, errors.LimitRefused):
        return t(N_("Refused by a limit")), t(N_("Limit: {limit}. {reason}")).format(
            limit=exc.limit, reason=exc
        )
    if isinstance(exc, errors.ReversalOwed):
        return t(N_("Reversal owed")), t(
            N_("A reversal must reach the bank first. Use Menu → Forward now when online.")
        )
    if isinstance(exc, errors.Refused):
        return t(N_("Refused")), str(exc)
    if isinstance(exc, errors.ReadCancelled):
        return t(N_("Cancelled")), t(N_("The card read was cancelled."))
    if isinstance(exc, errors.ReadTimeout):
        return t(N_("No card")), t(N_("No card was presented in time."))
    if isinstance(exc, errors.ReaderOffline):
        return t(N_("Card reader offline")), t(N_("Check the reader cable, then try again."))
    if isinstance(exc, errors.CardReadError):
        return t(N_("Card not read")), str(exc)
    if isinstance(exc, errors.PrinterError):
        return t(N_("Printer problem")), str(exc)
    if isinstance(exc, errors.NotFound):
        return t(N_("Not found")), str(exc)
    if isinstance(exc, errors.HostError):
        return t(N_("Bank not reachable")), str(exc)
    return t(N_("Not completed")), str(exc)


def show_failure(app: App, exc: BaseException, amount: int | None = None) -> None:
    """The result screen for an error raised instead of an outcome."""
    title, message = failure_text(app, exc)
    details = [(app.t(N_("Amount")), app.money(amount))] if amount else []
    tone = "info" if isinstance(exc, errors.ReadCancelled) else "bad"
    screen = MessageScreen(
        app,
        title,
        message,
        tone=tone,
        details=details,
        actions=[("new", N_("OK"), "primary")],
        on_action=lambda _a: app.show(HomeScreen(app)),
        name="result_error",
        translate=False,
    )
    app.show(screen)
    app.refresh_status()
