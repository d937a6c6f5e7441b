"""Operator sign-in/out, the status screen, and the technician's screens."""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any

import pygame

from appliance import __version__
from ui.i18n import LANGUAGE_NAMES, LANGUAGES, N_
from ui.registry import register
from ui.screens.base import Screen
from ui.screens.common import (
    EntryScreen,
    Field,
    MessageScreen,
    action_buttons,
    landscape,
    language_switch,
)
from ui.widgets import THEME, Button, Painter, cols, grid, rows

if TYPE_CHECKING:
    from ui.app import App

# The operator store locks a number after its own count of wrong PINs (per number, minutes).
# The keypad also pauses for everyone after that many failures in a row on this screen, so
# guessing cannot simply move on to the next operator number.
MAX_FAILURES = 5
LOCKOUT_S = 30.0
CALIBRATION_TOLERANCE_PX = 16


@register("signin")
class SignInScreen(EntryScreen):
    """签到: operator number and password on the keypad; locks after repeated failures."""

    def __init__(self, app: App) -> None:
        super().__init__(
            app,
            N_("Operator sign-in"),
            [
                Field(N_("Operator no."), max_len=2, advance=True),
                Field(N_("Password"), "secret", 12),
            ],
            [("language", "", "normal"), ("signin", N_("Sign in"), "primary")],
            self._action,
            name="signin",
        )
        self._shown_second = -1
        self.locked_text = ""

    def layout(self, rect: pygame.Rect) -> None:
        """The entry layout; the language switch marks the language in use."""
        super().layout(rect)
        language_switch(self.app, self.button("language"))

    def on_enter(self) -> None:
        """Say so when no operator exists yet (a fresh terminal): nobody could sign in."""
        backend = self.app.backend

        def operators(_r: Any) -> Any:  # on the worker, after the terminal is built
            store = backend.operators
            return store.list() if store is not None and hasattr(store, "list") else None

        backend.submit(operators, done=self._operators, background=True)

    def _operators(self, operators: Any) -> None:
        if operators is not None and not operators:
            self.say(
                self.t(
                    N_("No operators yet: a technician adds them with countertop operators add")
                ),
                "warn",
            )

    @property
    def locked_for(self) -> int:
        """Seconds left of the lockout (0 when not locked)."""
        return max(0, math.ceil(self.app.session.locked_until - self.now()))

    def tick(self, now: float) -> bool:
        """Count the lockout down once a second, then unlock."""
        left = self.locked_for
        if left != self._shown_second:
            self._shown_second = left
            self.enabled = left == 0
            if left:
                text = self.t(N_("Too many wrong PINs: try again in {s} s")).format(s=left)
                self.say(f"{self.locked_text}\n{text}" if self.locked_text else text)
            elif self.message and self.tone == "bad" and self.app.session.failures >= MAX_FAILURES:
                self.app.session.failures = 0
                self.say("", "info")
            return True
        return False

    def _action(self, action: str, screen: EntryScreen) -> None:
        app, session = self.app, self.app.session
        if action == "language":
            others = [code for code in LANGUAGES if code != app.i18n.language]
            app.set_language(others[0])
            self.layout(self.rect)
            return
        if self.locked_for:
            return
        number, password = self.fields[0].value, self.fields[1].value
        if self.focus == 0 and not password:
            if number:
                self.focus = 1
            else:
                self.say(self.t(N_("Type your operator number")))
            return
        if not number or not password:
            self.say(self.t(N_("Type your operator number and password")))
            return
        self.enabled = False
        self.say(self.t(N_("Checking…")), "info")

        def done(operator: Any) -> None:
            session.operator, session.failures = operator, 0
            from ui.screens.sale import HomeScreen

            app.show(HomeScreen(app))
            app.refresh_status()

        def failed(exc: BaseException) -> None:
            from ui.screens.admin import login_refused_text

            self.fields[1].value = ""
            self.enabled = True
            session.failures += 1
            locked = getattr(exc, "locked_until", None) is not None
            if locked or session.failures >= MAX_FAILURES:
                session.locked_until = self.now() + LOCKOUT_S
                session.failures = MAX_FAILURES
                self._shown_second = -1
                self.locked_text = login_refused_text(app, exc) if locked else ""
                return
            self.say(login_refused_text(app, exc))

        app.backend.authenticate(number, password, done, failed)


def sign_out(app: App) -> None:
    """签退: forget the operator (and any supervisor approval) and go back to sign-in."""
    app.session.operator = None
    app.session.menu_by = None
    app.show(SignInScreen(app))


@register("idle")
class IdleScreen(Screen):
    """The shop's screen while nobody is signed in: merchant name, the time, tap to start."""

    name = "idle"

    def layout(self, rect: pygame.Rect) -> None:
        """Name, clock and a hint; the whole area is one button."""
        super().layout(rect)
        m = self.app.metrics
        inner = rect.inflate(-4 * m.pad, -4 * m.pad)
        self.name_box, self.clock_box, self.hint_box = rows(inner, [1.4, 1.6, 0.8], m.gap)
        self.buttons = [Button("start", "", rect, style="flat")]
        self._minute = ""

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """No button drawing: the screen is the button."""
        m, th = self.app.metrics, THEME
        merchant = str(self.app.backend.config.merchant.name)
        painter.text(surface, merchant, self.name_box, size=m.title * 3 // 2, owner="merchant")
        now = self.app.now()
        painter.text(surface, now.strftime("%H:%M"), self.clock_box, size=m.big * 2, owner="clock")
        hint = self.t(N_("Tap the screen to sign in"))
        painter.text(surface, hint, self.hint_box, size=m.body, color=th.dim, owner="hint")
        painter.buttons.append(self.buttons[0])

    def tick(self, now: float) -> bool:
        """Redraw when the minute changes."""
        minute = self.app.now().strftime("%H:%M")
        if minute != self._minute:
            self._minute = minute
            return True
        return False

    def on_button(self, bid: str) -> None:
        """Any tap: sign-in."""
        self.app.show(SignInScreen(self.app))


def advice(app: App, status: Any) -> list[tuple[str, str]]:
    """(text, tone) lines telling the operator what is wrong and what to do."""
    t = app.t
    if status is None:
        return [(t(N_("Status not known yet: the terminal is starting.")), "warn")]
    out: list[tuple[str, str]] = []
    link = str(getattr(status, "link", ""))
    if link == "offline":
        out.append(
            (
                t(
                    N_(
                        "No connection to the bank: payments are stored offline within the "
                        "limits. Check the network cable or router."
                    )
                ),
                "bad",
            )
        )
    elif link == "degraded":
        out.append(
            (
                t(
                    N_(
                        "The bank is answering slowly or with errors; payments may be "
                        "stored offline."
                    )
                ),
                "warn",
            )
        )
    storage = getattr(status, "storage", None) or {}
    if storage.get("level") == "reserve":
        out.append(
            (
                t(
                    N_(
                        "Storage almost full: {free} KiB free. New payments are refused until "
                        "space is freed, so that every payment can be recorded."
                    )
                ).format(free=storage.get("free_kib", "?")),
                "bad",
            )
        )
    elif storage.get("level") == "low":
        out.append(
            (
                t(
                    N_(
                        "Storage is running low: {free} KiB free; payments stop below "
                        "{reserve} KiB. Free space soon."
                    )
                ).format(free=storage.get("free_kib", "?"), reserve=storage.get("reserve_kib")),
                "warn",
            )
        )
    reversals = int(getattr(status, "pending_reversals", 0) or 0)
    if reversals:
        out.append(
            (
                t(
                    N_(
                        "{n} reversal(s) owed to the bank: they are sent automatically; "
                        "Menu → Forward now sends them at once."
                    )
                ).format(n=reversals),
                "warn",
            )
        )
    stored = int(getattr(status, "stored_count", 0) or 0)
    if stored:
        amount = app.money(int(getattr(status, "stored_amount", 0) or 0))
        out.append(
            (
                t(
                    N_("{n} stored payment(s), {amount}, will be sent when the link is back.")
                ).format(n=stored, amount=amount),
                "warn",
            )
        )
    printer = str(getattr(status, "printer", "online"))
    waiting = _stubs_waiting(status)
    if printer == "paper_out":
        out.append(
            (
                t(
                    N_(
                        "Printer out of paper: {n} stubs waiting. Load paper; they print "
                        "by themselves."
                    )
                ).format(n=waiting),
                "bad",
            )
        )
    elif printer == "cover_open":
        out.append(
            (t(N_("Printer cover open: close it. {n} stubs waiting.")).format(n=waiting), "bad")
        )
    elif printer == "offline":
        out.append(
            (
                t(
                    N_("Printer not answering: check its power and cable. {n} stubs waiting.")
                ).format(n=waiting),
                "bad",
            )
        )
    elif printer == "paper_low":
        out.append((t(N_("Paper is running low: have a new roll ready.")), "warn"))
    parked = int(getattr(status, "print_jobs_attention", 0) or 0)
    if parked:
        out.append(
            (
                t(
                    N_(
                        "{n} stubs may not have printed in full (tried twice). Check the "
                        "paper, then press Print again: they print marked DUPLICATE."
                    )
                ).format(n=parked),
                "bad",
            )
        )
    if str(getattr(status, "reader", "ready")) == "offline":
        out.append((t(N_("Card reader not connected: check its cable.")), "bad"))
    if not out:
        out.append((t(N_("Everything is working.")), "ok"))
    return out


def _stubs_waiting(status: Any) -> int:
    for name in ("print_jobs_waiting", "stubs_waiting"):
        value = getattr(status, name, None)
        if value is not None:
            return len(value) if isinstance(value, list | tuple) else int(value)
    return 0


@register("status")
class StatusScreen(Screen):
    """Details of link, queue, printer, reader, and what to do about each problem."""

    name = "status"

    def __init__(self, app: App, back: Screen | None = None) -> None:
        super().__init__(app)
        self.back = back

    def layout(self, rect: pygame.Rect) -> None:
        """Details and advice side by side (wide) or stacked; Refresh and Back below."""
        super().layout(rect)
        m = self.app.metrics
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        body, actions = rows(inner, [4.2, 1], m.gap)
        if landscape(rect):
            self.details_box, self.advice_box = cols(body, [1, 1], m.gap * 2)
        else:
            self.details_box, self.advice_box = rows(body, [1, 1], m.gap)
        st = self.app.status
        parked = int(getattr(st, "print_jobs_attention", 0) or 0) if st is not None else 0
        buttons = [("refresh", N_("Refresh"), "normal"), ("back", N_("Back"), "primary")]
        if parked:
            buttons.insert(0, ("reprint_parked", N_("Print again"), "normal"))
        self.buttons = action_buttons(self.app, actions, buttons)

    def details(self) -> list[tuple[str, str]]:
        """Label/value rows of the last known status."""
        app, st, t = self.app, self.app.status, self.app.t
        op = app.session.operator
        rows_ = [(t(N_("Operator")), str(getattr(op, "name", "") or getattr(op, "number", "-")))]
        if st is None:
            return rows_
        from ui.app import LINK_LABELS, PRINTER_LABELS

        link = str(getattr(st, "link", "unknown"))
        printer = str(getattr(st, "printer", ""))
        rows_ += [
            (t(N_("Bank link")), t(LINK_LABELS.get(link, link))),
            (
                t(N_("Stored payments")),
                f"{int(getattr(st, 'stored_count', 0) or 0)} · "
                f"{app.money(int(getattr(st, 'stored_amount', 0) or 0))}",
            ),
            (t(N_("Reversals owed")), str(int(getattr(st, "pending_reversals", 0) or 0))),
            (t(N_("Batch")), str(getattr(st, "batch", "-"))),
            (t(N_("Printer")), t(PRINTER_LABELS.get(printer, N_("Ready")))),
            (
                t(N_("Card reader")),
                t(N_("Ready"))
                if str(getattr(st, "reader", "ready")) == "ready"
                else t(N_("Not connected")),
            ),
        ]
        return rows_

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """Two-column details; advice lines coloured by severity."""
        m, th = self.app.metrics, THEME
        details = self.details()
        for (label, value), row in zip(details, rows(self.details_box, [1] * 7, 2), strict=False):
            lbox, vbox = cols(row, [45, 55], m.gap)
            painter.text(
                surface, label, lbox, size=m.small, color=th.dim, align="left", owner="details"
            )
            painter.text(surface, value, vbox, size=m.small, align="right", owner="details")
        lines = advice(self.app, self.app.status)
        pygame.draw.rect(surface, th.panel, self.advice_box, border_radius=8)
        boxes = rows(self.advice_box.inflate(-2 * m.pad, -2 * m.pad), [1] * len(lines), m.gap)
        for (text, tone), box in zip(lines, boxes, strict=True):
            colour = {"ok": th.ok, "bad": th.bad, "warn": th.warn}.get(tone, th.text)
            painter.paragraph(
                surface, text, box, size=m.body, color=colour, align="left", owner="advice"
            )
        self.draw_buttons(surface, painter)

    def on_button(self, bid: str) -> None:
        """Refresh asks the terminal again; Back returns where the operator came from."""
        if bid == "refresh":
            self.app.refresh_status()
        elif bid == "reprint_parked":
            op = self.app.session.operator
            self.app.backend.retry_prints(
                str(getattr(op, "number", "") or "-"),
                done=lambda _n: self.app.refresh_status(),
                failed=lambda _e: self.app.refresh_status(),
            )
        elif bid == "back":
            if self.back is not None:
                self.app.show(self.back)
            else:
                from ui.screens.sale import HomeScreen

                self.app.show(HomeScreen(self.app))


TECH: list[tuple[str, str, str]] = [
    ("printer_test", N_("Printer test"), "normal"),
    ("read_test", N_("Card read test"), "normal"),
    ("echo", N_("Host echo"), "normal"),
    # Touch check first in its row: the check's Back (mid-screen, right) is not under it.
    ("calibrate", N_("Touch check"), "normal"),
    ("language", N_("Language"), "normal"),
    ("about", N_("About"), "normal"),
]

TECH_METHODS = frozenset({"printer_test", "read_test", "echo"})


class TechnicianScreen(Screen):
    """Device tests, language, touch check and the about box."""

    name = "technician"
    while_busy = None  # any tap stops a read test that waits for a card

    def __init__(self, app: App) -> None:
        super().__init__(app)
        self.result = ""
        self.tone = "info"
        self.reading: threading.Event | None = None  # set to stop a card read test

    def layout(self, rect: pygame.Rect) -> None:
        """A 3 × 2 (or 2 × 3) grid of tests, a result line, Back."""
        super().layout(rect)
        m = self.app.metrics
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        body, self.result_box, actions = rows(inner, [3, 0.8, 1], m.gap)
        nr, nc = (2, 3) if landscape(rect) else (3, 2)
        self.buttons = [
            Button(b, label, c, style=s)
            for (b, label, s), c in zip(TECH, grid(body, nr, nc, m.gap), strict=True)
        ]
        # Back in the right third: the menu's Technician button is left of it.
        back = pygame.Rect(actions.right - actions.w // 3, actions.y, actions.w // 3, actions.h)
        self.buttons += action_buttons(self.app, back, [("back", N_("Back"), "primary")])

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """Buttons and the last test's result."""
        m = self.app.metrics
        colour = {"ok": THEME.ok, "bad": THEME.bad}.get(self.tone, THEME.text)
        if self.result:
            painter.paragraph(
                surface, self.result, self.result_box, size=m.small, color=colour, owner="result"
            )
        self.draw_buttons(surface, painter)

    def _report(self, text: str, tone: str) -> None:
        self.result, self.tone = text, tone
        self.app.dirty = True

    def on_button(self, bid: str) -> None:
        """Run a test on the worker, or open a sub-screen."""
        app = self.app
        if self.reading is not None:
            # A read test is waiting for a card: any tap stops it first (the reader is busy).
            self.reading.set()
            return
        if bid == "back":
            from ui.screens.admin import MenuScreen

            app.show(MenuScreen(app))
        elif bid == "language":
            choose_language(app, back=self)
        elif bid == "calibrate":
            app.show(CalibrationScreen(app, back=self))
        elif bid == "about":
            about(app, back=self)
        elif bid in TECH_METHODS:
            label = self.t(next(lbl for b, lbl, _ in TECH if b == bid))
            self._report(label + ": " + self.t(N_("running…")), "info")

            def done(result: Any) -> None:
                self.reading = None
                detail = getattr(result, "response_code", result)
                self._report(f"{label}: {self.t(N_('OK'))} ({detail})", "ok")

            def failed(exc: BaseException) -> None:
                self.reading = None
                self._report(f"{label}: {exc}", "bad")

            if bid == "printer_test":
                app.backend.printer_test(done, failed)
            elif bid == "read_test":
                self._report(
                    label + ": " + self.t(N_("tap a card (touch the screen to stop)")), "info"
                )
                self.reading = threading.Event()
                app.backend.card_read_test(self.reading, done, failed)
            else:
                app.backend.call(lambda s: s.terminal.echo(), done=done, failed=failed)


def choose_language(app: App, back: Screen) -> None:
    """Pick the screen language (applies at once)."""

    def act(a: str) -> None:
        if a in LANGUAGES:
            app.set_language(a)
        app.show(back)

    app.show(
        MessageScreen(
            app,
            N_("Language"),
            N_("Choose the screen language."),
            actions=[(lang, LANGUAGE_NAMES[lang], "normal") for lang in LANGUAGES]
            + [("back", N_("Back"), "primary")],
            on_action=act,
            name="language",
        )
    )


def about(app: App, back: Screen) -> None:
    """Software version and the terminal's identity."""
    cfg = app.backend.config
    details = [
        (N_("Version"), __version__),
        (N_("Terminal ID (TID)"), str(cfg.merchant.tid)),
        (N_("Merchant ID (MID)"), str(cfg.merchant.mid)),
        (N_("Merchant"), str(cfg.merchant.name)),
        (N_("Screen"), "{}×{}".format(*app.surface.get_size())),
    ]
    app.show(
        MessageScreen(
            app,
            N_("About"),
            "",
            details=details,
            actions=[("back", N_("Back"), "primary")],
            on_action=lambda _a: app.show(back),
            name="about",
        )
    )


class CalibrationScreen(Screen):
    """Tap five targets; each touch is compared with the target's centre."""

    name = "calibration"

    def __init__(self, app: App, back: Screen) -> None:
        super().__init__(app)
        self.back = back
        self.offsets: dict[str, int] = {}

    def layout(self, rect: pygame.Rect) -> None:
        """Targets in the four corners and the centre, a result line and Back."""
        super().layout(rect)
        m = self.app.metrics
        s = max(m.touch, int(72 * m.scale))
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        spots = {
            "tl": inner.topleft,
            "tr": (inner.right - s, inner.top),
            "bl": (inner.left, inner.bottom - s),
            "br": (inner.right - s, inner.bottom - s),
            "c": (inner.centerx - s // 2, inner.centery - s // 2 - s),
        }
        self.buttons = [
            Button(k, "+", pygame.Rect(*xy, s, s), style="key", raw=True) for k, xy in spots.items()
        ]
        band = pygame.Rect(inner.x + s + m.gap, inner.centery, inner.w - 2 * (s + m.gap), s)
        self.result_box, back = cols(band, [2, 1], m.gap)
        self.buttons += action_buttons(self.app, back, [("back", N_("Back"), "primary")])
        self._last: tuple[int, int] | None = None

    def on_touch(self, pos: tuple[int, int]) -> None:
        """Remember where the finger went down (the button gives only which target)."""
        self._last = pos

    def on_button(self, bid: str) -> None:
        """Record the offset of the touch from the target's centre."""
        if bid == "back":
            self.app.show(self.back)
            return
        if self._last is not None:
            cx, cy = self.button(bid).rect.center
            self.offsets[bid] = round(math.hypot(self._last[0] - cx, self._last[1] - cy))

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """Tapped targets turn green; the result says whether touch is accurate."""
        m = self.app.metrics
        for b in self.buttons:
            if b.id in self.offsets:
                b.style = "primary"
        self.draw_buttons(surface, painter)
        if len(self.offsets) < 5:
            text, colour = self.t(N_("Tap the centre of each + target")), THEME.text
        else:
            worst = max(self.offsets.values())
            if worst <= CALIBRATION_TOLERANCE_PX:
                text = self.t(N_("Touch is accurate (worst {px} px)")).format(px=worst)
                colour = THEME.ok
            else:
                text = self.t(N_("Touch is off by {px} px: recalibrate the screen")).format(
                    px=worst
                )
                colour = THEME.bad
        painter.paragraph(
            surface, text, self.result_box, size=m.small, color=colour, owner="result"
        )
