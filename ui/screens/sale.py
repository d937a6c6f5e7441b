"""The sale flow: amount → present card (LED mirror, countdown) → processing → result → copy."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pygame

from appliance import errors
from appliance.messages import error_text, translate
from ui.i18n import N_
from ui.registry import register
from ui.screens.base import Screen
from ui.screens.common import (
    TONES,
    EntryScreen,
    Field,
    MessageScreen,
    action_buttons,
    draw_spinner,
)
from ui.widgets import THEME, Painter, cols, rows

if TYPE_CHECKING:
    from ui.app import App

CARD_TIMEOUT_S = 30  # shown countdown; the reader's own timeout is the one that counts
MAX_AMOUNT_DIGITS = 9  # 9,999,999.99 at exponent 2: far above any counter sale

# (title msgid, tone) per Outcome.result
RESULTS: dict[str, tuple[str, str]] = {
    "approved": (N_("Approved"), "ok"),
    "declined": (N_("Declined"), "bad"),
    "stored": (N_("Stored offline, pending authorization"), "warn"),
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


@register("home")
class HomeScreen(EntryScreen):
    """The sale amount keypad: cents-shift entry, currency shown, Charge and Menu."""

    def __init__(self, app: App) -> None:
        super().__init__(
            app,
            N_("Sale"),
            [Field(app.currency.alpha, kind="amount", max_len=amount_digits(app))],
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
            limit = int(self.app.backend.config.limits.max_amount)
            if amount > limit:  # the terminal's own limit: said before the card, not a decline
                params = {"amount": self.app.money(amount), "limit": self.app.money(limit)}
                self.say(translate("amount.over_terminal_limit", params, self.app.i18n.language))
                return
            if action == "qr":
                from ui.screens.qr import start_qr

                start_qr(self.app, amount)
            else:
                start_card_flow(self.app, amount, "sale")


def amount_digits(app: App) -> int:
    """Keypad digits for an amount: as many as the terminal limit has (¥999,999.99 → 8), so
    the keypad never shows an amount the terminal refuses by its length."""
    limit = int(app.backend.config.limits.max_amount)
    return min(MAX_AMOUNT_DIGITS, len(str(max(limit, 1))))


def start_card_flow(app: App, amount: int, service: str, **kwargs: Any) -> None:
    """Show the present-card screen and run ``service`` ("sale", "refund") on the worker."""
    back = None
    if service != "sale":  # a supervisor's refund: an error goes back to the menu

        def back(*_a: Any) -> None:
            from ui.screens.admin import MenuScreen

            app.show(MenuScreen(app))

    cancel = threading.Event()
    screen = PresentCardScreen(app, amount, cancel, kind=service)
    app.show(screen)
    app.backend.card_flow(
        service,
        amount,
        cancel,
        on_step=screen.on_step,
        done=lambda outcome: show_outcome(app, outcome, amount, kind=service),
        failed=lambda exc: show_failure(app, exc, amount, back=back),
        **({"operator": operator_number(app)} if service == "sale" else {}),
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
        # Cancel on the left: the amount screen's Charge (and the refund's Refund) is on the
        # right, so a double tap on Charge cannot land on it (the input guard ignores it too).
        row = parts[4]
        action_box = pygame.Rect(row.x, row.y, row.w // 3, row.h)
        self.mark_box = pygame.Rect(row.right - row.w // 2, row.y, row.w // 2, row.h)
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
        draw_contactless(surface, painter, self.mark_box, th.dim)
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


def draw_contactless(
    surface: pygame.Surface, painter: Painter, box: pygame.Rect, colour: Any
) -> None:
    """The contactless symbol (four growing arcs) and the schemes taken, drawn as plain
    marks (coloured badges with the scheme's name, not copies of their logos)."""
    h = box.h
    x0, cy = box.x + h // 5, box.centery
    for i in range(4):
        r = h * (0.14 + 0.11 * i)
        rect = pygame.Rect(0, 0, int(2 * r), int(2 * r))
        rect.center = (int(x0), cy)
        pygame.draw.arc(surface, colour, rect, -0.9, 0.9, max(3, h // 16))
    marks = [("银联", (200, 40, 50)), ("VISA", (30, 60, 160)), ("MC", (220, 120, 20))]
    left = box.x + h
    w = (box.right - left) // 3
    for i, (name, fill) in enumerate(marks):
        mark = pygame.Rect(left + i * w, box.y + h // 5, w - 8, h * 3 // 5)
        pygame.draw.rect(surface, fill, mark, border_radius=6)
        painter.text(surface, name, mark.inflate(-8, -4), size=24, owner=f"scheme{i}")


def outcome_message(app: App, outcome: Any) -> str:
    """The outcome's reason in the current language, from its code (``appliance.messages``)."""
    code = getattr(outcome, "code", None)
    if code:
        return translate(code, dict(getattr(outcome, "params", {}) or {}), app.i18n.language)
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


#: What a result's headline calls each transaction type, and the sign of its amount.
KIND_LABELS: dict[str, tuple[str, int]] = {
    "sale": (N_("Sale"), 1),
    "void": (N_("Void"), -1),
    "refund": (N_("Refund"), -1),
}
#: Printer states in which a queued stub waits (the screen says so instead of "printing").
PRINTER_WAITING = frozenset({"paper_out", "cover_open", "offline"})


@register("result")
class ResultScreen(MessageScreen):
    """The result of a sale, void or refund: type and signed amount (消费 ¥12.50 / 撤销 −¥30.00),
    a large ✓ or ✗, the reason, auth code and trace, and what the printer is doing.

    Returns by itself after ``ui.result_seconds`` (or when a digit is typed): a sale to the
    amount screen (the digit starts the next amount), a void or refund to the menu.
    """

    def __init__(self, app: App, outcome: Any, amount: int, *, kind: str = "sale") -> None:
        result = str(outcome.result)
        title, tone = RESULTS.get(result, (N_("Not completed"), "bad"))
        txn = outcome.txn
        self.outcome, self.kind, self.result = outcome, kind, result
        self.txn = txn
        self.amount = int(txn.amount) if txn is not None else amount
        self.moved = txn is not None and result in ("approved", "stored")
        self.printed = False
        self.print_note = ""
        # An approval's title says it all; the auth code and trace are in the details.
        message = "" if result == "approved" else outcome_message(app, outcome)
        details = txn_details(app, txn)[1:] if txn is not None else []
        if result in ("declined", "failed") and getattr(outcome, "response_code", None):
            details.append((N_("Response code"), str(outcome.response_code)))
        if result == "refused" and getattr(outcome, "limit", None):
            limit = str(outcome.limit)
            details.append((N_("Limit"), app.t(LIMIT_NAMES.get(limit, limit))))
        policy = app.backend.customer_copy
        actions: list[tuple[str, str, str]] = []
        done = N_("New sale") if kind == "sale" else N_("Done")
        # "New" sits left: the void's and the refund's main button (Void, Refund) was on the
        # right. (The card prompt's Cancel is left too, but New goes where Cancel leads.)
        actions.append(("new", done, "primary"))
        if self.moved and policy == "ask":
            actions.append(("print", N_("Print customer copy"), "normal"))
        super().__init__(
            app,
            app.t(title),
            message,
            tone=tone,
            details=[(app.t(label), value) for label, value in details],
            actions=actions,
            on_action=self._act,
            name=f"result_{result}",
            translate=False,
        )
        self.deadline = self.now() + app.result_seconds if app.result_seconds else None
        self._shown_second = -1
        if self.moved:
            self.print_note = app.t(N_("Merchant copy printing…"))

    @property
    def headline(self) -> str:
        """消费 ¥12.50 / 撤销 −¥30.00 / 退货 −¥5.00."""
        label, sign = KIND_LABELS.get(self.kind, (N_("Sale"), 1))
        money = self.app.money(self.amount)
        return f"{self.t(label)} {'−' if sign < 0 else ''}{money}"

    def layout(self, rect: pygame.Rect) -> None:
        """Mark and headline on top, reason, details, print state, actions."""
        Screen.layout(self, rect)
        m = self.app.metrics
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        nd = len(self.details)
        weights = [1.5, 1.1, *([0.42 * nd] if nd else []), 0.45, 1.0]
        parts = rows(inner, weights, m.gap)
        top = parts[0]
        self.mark_box = pygame.Rect(top.x, top.y, top.h, top.h)
        text_box = pygame.Rect(self.mark_box.right + m.gap * 2, top.y, 0, top.h)
        text_box.w = top.right - text_box.x
        self.headline_box, self.title_box = rows(text_box, [1.3, 1], 2)
        self.message_box = parts[1]
        self.details_box = parts[2] if nd else None
        self.print_box = parts[-2]
        # At the bottom, at most a fifth of the screen high, and New in the left half even when
        # it is alone: a confirmation's Refund or Void (right) may just have been tapped.
        row = parts[-1]
        h = min(row.h, max(m.touch, inner.h // 5))
        w = row.w if len(self.actions) > 1 else (row.w - m.gap) // 2
        row = pygame.Rect(row.x, row.bottom - h, w, h)
        self.buttons = action_buttons(self.app, row, self.actions)
        for b in self.buttons:
            if b.id == "print":
                b.enabled = not self.printed  # never a second customer copy (Status and back)

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """A drawn ✓ (green) or ✗ (red), the headline, then the message screen's parts."""
        m, th = self.app.metrics, THEME
        colour = TONES.get(self.tone, th.text)
        draw_mark(surface, self.mark_box, ok=self.tone in ("ok", "warn"), colour=colour)
        painter.text(
            surface, self.headline, self.headline_box, size=m.big, align="left", owner="headline"
        )
        painter.text(
            surface,
            self.title,
            self.title_box,
            size=m.title,
            color=colour,
            align="left",
            owner="title",
        )
        if self.message:
            painter.paragraph(
                surface,
                self.message,
                self.message_box,
                size=m.body,
                align="left",
                owner="message",
            )
        self.draw_details(surface, painter)
        if self.print_note:
            painter.text(
                surface,
                self.print_note,
                self.print_box,
                size=m.small,
                color=th.dim,
                align="left",
                owner="print",
            )
        self.draw_buttons(surface, painter)

    def draw_buttons(self, surface: pygame.Surface, painter: Painter) -> None:
        """The New/Done button counts down the seconds before it acts by itself."""
        left = self.seconds_left
        for b in self.buttons:
            label = self.t(b.label)
            if b.id == "new" and left is not None:
                label = f"{label} ({left})"
            painter.button(surface, b, label, pressed=self.app.pressed == b.id)

    @property
    def seconds_left(self) -> int | None:
        """Seconds before the screen returns by itself (None: it stays)."""
        if self.deadline is None:
            return None
        return max(0, int(self.deadline - self.now() + 0.999))

    def tick(self, now: float) -> bool:
        """Count down; return when the time is up (not while a print is being queued)."""
        left = self.seconds_left
        if left is None:
            return False
        if left == 0 and not self.app.backend.actions_in_flight:
            self._act("new")
            return True
        if left != self._shown_second:
            self._shown_second = left
            return True
        return False

    def on_touch(self, pos: tuple[int, int]) -> None:
        """Any touch holds the countdown off a little (the operator is reading)."""
        if self.deadline is not None:
            self.deadline = max(self.deadline, self.now() + 3)

    def on_key(self, key: int, text: str) -> None:
        """A digit starts the next sale with that digit; Enter is New."""
        if text.isdigit() and self.kind == "sale":
            home = HomeScreen(self.app)
            self.app.show(home)
            home.on_button("k" + text)
        elif key in (pygame.K_RETURN, pygame.K_KP_ENTER):
            self._act("new")

    def _act(self, action: str) -> None:
        app = self.app
        if action == "print":
            print_copy(app, self.txn, self)
        elif self.kind == "sale":
            app.show(HomeScreen(app))
        else:
            from ui.screens.admin import MenuScreen

            app.show(MenuScreen(app))


def draw_mark(surface: pygame.Surface, box: pygame.Rect, *, ok: bool, colour: Any) -> None:
    """A large ✓ or ✗ in a ring, drawn (no font needed for it)."""
    r = box.h // 2 - 2
    c = box.center
    width = max(4, r // 7)
    pygame.draw.circle(surface, colour, c, r, width)
    if ok:
        points = [
            (c[0] - r * 0.45, c[1] + r * 0.02),
            (c[0] - r * 0.12, c[1] + r * 0.35),
            (c[0] + r * 0.5, c[1] - r * 0.35),
        ]
        pygame.draw.lines(surface, colour, False, points, width + 2)
    else:
        d = r * 0.4
        pygame.draw.line(surface, colour, (c[0] - d, c[1] - d), (c[0] + d, c[1] + d), width + 2)
        pygame.draw.line(surface, colour, (c[0] - d, c[1] + d), (c[0] + d, c[1] - d), width + 2)


def show_outcome(app: App, outcome: Any, amount: int, *, kind: str = "sale") -> None:
    """The result screen of a sale, void or refund (the terminal queued the merchant stub)."""
    app.last_txn = outcome.txn or app.last_txn
    screen = ResultScreen(app, outcome, amount, kind=kind)
    app.show(screen)
    if screen.moved and app.backend.customer_copy == "always":
        print_copy(app, outcome.txn, screen)
    app.refresh_status()


def print_copy(
    app: App, txn: Any, screen: MessageScreen, *, reprint: bool = False, copy: str = "customer"
) -> None:
    """Print a copy of ``txn`` (a reprint is marked and audited); what the printer then does
    (printing, or waiting for paper) replaces the screen's print line or message."""
    result_screen = isinstance(screen, ResultScreen)

    def say(text: str, tone: str | None = None) -> None:
        if result_screen:
            screen.print_note = text  # type: ignore[attr-defined]
        else:
            screen.message = text
        if tone is not None:
            screen.tone = tone
        app.dirty = True

    say(app.t(N_("Printing…")))
    if result_screen and copy == "customer":
        screen.printed = True  # type: ignore[attr-defined]
    for b in screen.buttons:
        if b.id in ("print", f"print_{copy}"):
            b.enabled = False

    def done(status: Any) -> None:
        which = N_("Customer copy") if copy == "customer" else N_("Merchant copy")
        if str(status) in PRINTER_WAITING:
            text = N_("{copy}: waiting for the printer (paper, cover); it prints by itself then")
            say(app.t(text).format(copy=app.t(which)), "warn")
        else:
            say(app.t(N_("{copy} printing.")).format(copy=app.t(which)))
        app.refresh_status()

    def failed(exc: BaseException) -> None:
        text = N_("Printer problem: {reason}. The copy will print when it is fixed.")
        say(app.t(text).format(reason=error_text(exc, app.i18n.language)), "warn")
        app.refresh_status()

    supervisor = app.session.menu_by or app.session.operator
    who = str(getattr(supervisor, "number", "") or "-")
    app.backend.print_copy(txn, copy, reprint=reprint, operator=who, done=done, failed=failed)


# Title of an error screen by the first part of its code: a refusal by the terminal's own
# rules must never read like a bank decline.
FAILURE_TITLES: dict[str, str] = {
    "card.over_contactless_limit": N_("Over the contactless limit"),
    "amount": N_("Check the amount"),
    "role": N_("Supervisor needed"),
    "reversal": N_("Reversal owed"),
    "void": N_("Cannot void"),
    "refund": N_("Cannot refund"),
    "txn": N_("Not found"),
    "reprint": N_("Not found"),
    "not_found": N_("Not found"),
    "card": N_("Card not read"),
    "reader": N_("Card reader offline"),
    "printer": N_("Printer problem"),
    "host": N_("Bank not reachable"),
    "offline": N_("Not stored offline"),
    "limit": N_("Refused by a limit"),
    "settle": N_("Settlement"),
    "config": N_("Setup problem"),
    "journal": N_("Records problem"),
}


def failure_text(app: App, exc: BaseException) -> tuple[str, str]:
    """A title and plain-words reason for an error raised by a service call: both from the
    error's code through the catalogs (never ``str(exc)`` in Chinese)."""
    code = str(getattr(exc, "code", "") or "error")
    if isinstance(exc, errors.ReadCancelled):
        return app.t(N_("Cancelled")), app.t(N_("The card read was cancelled."))
    title = FAILURE_TITLES.get(code) or FAILURE_TITLES.get(code.split(".")[0], N_("Not completed"))
    return app.t(title), error_text(exc, app.i18n.language)


def show_failure(
    app: App,
    exc: BaseException,
    amount: int | None = None,
    *,
    back: Callable[..., None] | None = None,
) -> None:
    """The result screen for an error raised instead of an outcome; OK goes ``back`` (the
    menu, for a supervisor's flow: the gate and the lookup are not asked again)."""
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
        on_action=back or (lambda _a: app.show(HomeScreen(app))),
        name="result_error",
        translate=False,
        action_width=0.5,  # left: a confirmation's Void or Refund (right) may just have been tapped
    )
    app.show(screen)
    app.refresh_status()
