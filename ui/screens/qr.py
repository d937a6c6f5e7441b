"""QR payments 扫码: choose the way, scan the customer's code or show the shop's, wait, result.

- ``QrModeScreen``: the amount and two choices: scan the customer's payment code (付款码, the
  customer-presented way; needs a scanner) or show this order's code for the customer to scan
  (merchant-presented).
- ``ScanCodeScreen``: waits for the code on the scanner's own thread, with a countdown and
  Cancel; a code scanned before this screen opened is never used.
- ``QrPayingScreen``: the request is out; while the wallet says the customer must confirm
  (user paying) a countdown shows how long the terminal keeps asking before it cancels.
- ``ShowCodeScreen``: the order's code, full height, black on white, with the amount, the
  wallets, the seconds until it expires, and Cancel (the order is then closed).
- The result screen names the wallet, the masked payer, the order and the wallet's trade number.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import pygame

from appliance import errors
from appliance.messages import error_text
from ui import qr_flow
from ui.i18n import N_
from ui.qr_render import CodeTooDense, QrImage, qr_surface
from ui.screens.base import Screen
from ui.screens.common import MessageScreen, action_buttons, draw_spinner
from ui.widgets import THEME, Button, Painter, cols, rows

if TYPE_CHECKING:
    from ui.app import App

#: Title and tone of the result screen per outcome ``result``.
RESULTS: dict[str, tuple[str, str]] = {
    "approved": (N_("Paid"), "ok"),
    "declined": (N_("Declined"), "bad"),
    "cancelled": (N_("Cancelled"), "info"),
    "failed": (N_("Not completed"), "bad"),
    "refused": (N_("Refused"), "bad"),
    "pending": (N_("Not completed"), "warn"),
}

#: Wallet names as the outcome gives them → shown name.
WALLETS: dict[str, str] = {
    "WECHATPAY": N_("WeChat Pay"),
    "ALIPAY": N_("Alipay"),
    "UNIONPAYQR": N_("UnionPay QR"),
}

#: Scanner errors (``ScanError.code``) in plain words.
SCAN_ERRORS: dict[str, tuple[str, str]] = {
    "scan.timeout": (N_("No code"), N_("No payment code was scanned in time.")),
    "scan.cancelled": (N_("Cancelled"), N_("The scan was cancelled.")),
    "scan.offline": (N_("Scanner offline"), N_("Check the scanner's cable, then try again.")),
    "scan.too_long": (N_("Code not read"), N_("The code could not be read. Scan it again.")),
    "scan.unreadable": (N_("Code not read"), N_("The code could not be read. Scan it again.")),
}

SCANNER_STATES: dict[str, tuple[str, str]] = {
    "ready": (N_("Scanner ready"), "ok"),
    "offline": (N_("Scanner offline: check its cable"), "bad"),
    "not_configured": (N_("No scanner fitted"), "dim"),
    "": (N_("Preparing the scanner…"), "dim"),
}


def _operator(app: App) -> str:
    op = app.session.operator
    return str(getattr(op, "number", "") or "") if op is not None else ""


def _home(app: App) -> None:
    from ui.screens.sale import HomeScreen

    app.show(HomeScreen(app))


def start_qr(app: App, amount: int) -> None:
    """From the amount screen: the QR choice (or why QR cannot be used here)."""
    if not qr_flow.available(app.backend):
        app.show(
            MessageScreen(
                app,
                N_("QR payment"),
                N_("QR payments are not available in this version."),
                tone="warn",
                on_action=lambda _a: _home(app),
                name="qr_unavailable",
            )
        )
        return
    app.show(QrModeScreen(app, amount))


def _countdown(seconds: float) -> int:
    return max(0, int(seconds + 0.999))


class QrModeScreen(Screen):
    """Amount, and the two ways to pay by QR code."""

    name = "qr_mode"

    def __init__(self, app: App, amount: int) -> None:
        super().__init__(app)
        self.amount = amount
        self.scanner = ""  # status of the scanner port, once known

    def on_enter(self) -> None:
        """Ask for the scanner's status (opening and grabbing it) on its own thread."""

        def known(status: str) -> None:
            self.scanner = status
            self.button("scan").enabled = status != "not_configured"
            self.app.dirty = True

        job = qr_flow.scanner_status(self.app.backend, known, lambda _e: known("offline"))
        if job is None:
            known("not_configured")

    def layout(self, rect: pygame.Rect) -> None:
        """Title and amount, two big choices (side by side when wide), Back."""
        super().layout(rect)
        m = self.app.metrics
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        head, body, foot = rows(inner, [1.0, 3.0, 1.0], m.gap)
        self.head_box = head
        split = cols if body.w >= body.h * 1.3 else rows
        boxes = split(body, [1, 1], m.gap * 2)
        self.choice_boxes = boxes
        buttons = []
        for bid, label, box in (
            ("scan", N_("Scan customer's code"), boxes[0]),
            ("show", N_("Show shop's code"), boxes[1]),
        ):
            buttons.append(Button(bid, label, box, style="primary" if bid == "scan" else "key"))
        self.hint_boxes = [rows(b.inflate(-2 * m.pad, -m.pad), [1.3, 1.0], 0)[1] for b in boxes]
        # Back on the left: the amount screen's QR (in the middle) may just have been tapped.
        back = pygame.Rect(foot.x, foot.y, foot.w // 3, foot.h)
        self.buttons = buttons + action_buttons(self.app, back, [("back", N_("Back"), "normal")])
        self.button("scan").enabled = self.scanner != "not_configured"

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """Labels sit in the upper part of each choice; the hint and scanner state below."""
        m, th = self.app.metrics, THEME
        title_box, amount_box = cols(self.head_box, [45, 55], m.gap)
        painter.text(
            surface, self.t(N_("QR payment")), title_box, size=m.title, align="left", owner="title"
        )
        painter.text(
            surface, self.app.money(self.amount), amount_box, size=m.big, align="right",
            owner="amount",
        )  # fmt: skip
        for b in self.buttons:
            if b.id not in ("scan", "show"):
                continue
            pressed = self.app.pressed == b.id
            upper = pygame.Rect(b.rect.x, b.rect.y, b.rect.w, b.rect.h * 11 // 20)
            shown = Button(b.id, b.label, upper, style=b.style, enabled=b.enabled)
            bg = th.pressed if pressed else (th.disabled if not b.enabled else None)
            if bg is None:
                bg = th.primary if b.style == "primary" else th.key
            pygame.draw.rect(surface, bg, b.rect, border_radius=10)
            pygame.draw.rect(surface, th.key_border, b.rect, width=2, border_radius=10)
            colour = (0, 0, 0) if pressed else (th.text if b.enabled else th.dim)
            painter.text(
                surface,
                self.t(shown.label),
                upper.inflate(-2 * m.pad, -m.pad),
                size=m.title,
                color=colour,
                owner=b.id,
            )
            painter.buttons.append(b)
        scan_hint, show_hint = self.hint_boxes
        label, tone = SCANNER_STATES.get(self.scanner, SCANNER_STATES[""])
        hint = self.t(N_("Customer shows a payment code"))
        colour = {"ok": th.text, "bad": th.bad}.get(tone, th.dim)
        top, bottom = rows(scan_hint, [1, 1], 0)
        painter.text(surface, hint, top, size=m.small, color=th.text, owner="scan_hint")
        painter.text(surface, self.t(label), bottom, size=m.small, color=colour, owner="scanner")
        painter.paragraph(
            surface,
            self.t(N_("The customer scans the code on this screen")),
            show_hint,
            size=m.small,
            color=th.text,
            owner="show_hint",
        )
        for b in self.buttons:
            if b.id == "back":
                painter.button(surface, b, self.t(b.label), pressed=self.app.pressed == b.id)

    def on_button(self, bid: str) -> None:
        """Scan, show or go back to the amount."""
        if bid == "back":
            _home(self.app)
        elif bid == "scan":
            start_scan(self.app, self.amount)
        elif bid == "show":
            start_show(self.app, self.amount)


def start_scan(app: App, amount: int, *, timeout: float | None = None) -> None:
    """Open the scan prompt and start reading the scanner (``[scanner] timeout`` by default)."""
    cancel = threading.Event()
    if timeout is None:
        timeout = float(app.backend.config.scanner.timeout)
    screen = ScanCodeScreen(app, amount, cancel, timeout)
    app.show(screen)
    qr_flow.scan(app.backend, timeout, cancel, screen.scanned, screen.scan_failed)


class ScanCodeScreen(Screen):
    """Waiting for the customer's code under the scanner: amount, instruction, countdown."""

    name = "scan_code"
    #: The scan read is in flight all the time this screen shows: Cancel stops it, and
    #: Show switches to the shop's code (stopping it too).
    while_busy = frozenset({"cancel", "show"})

    def __init__(self, app: App, amount: int, cancel: threading.Event, timeout: float) -> None:
        super().__init__(app)
        self.amount = amount
        self.cancel = cancel
        self.deadline = self.now() + timeout
        self._shown = -1
        self.left = False

    @property
    def seconds_left(self) -> int:
        """Countdown shown while waiting for the code."""
        return _countdown(self.deadline - self.now())

    def layout(self, rect: pygame.Rect) -> None:
        """Amount, instruction, wallets, countdown, actions."""
        super().layout(rect)
        m = self.app.metrics
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        parts = rows(inner, [1.3, 1.3, 0.6, 0.6, 0.9], m.gap)
        self.amount_box, self.msg_box, self.wallet_box, self.count_box = parts[:4]
        # Cancel and Show in the left two thirds, below the choice's Scan button: the shop's
        # code screen puts its Cancel in the right third.
        row = parts[4]
        row = pygame.Rect(row.x, row.y, (row.w * 2 - m.gap) // 3, row.h)
        self.buttons = action_buttons(
            self.app,
            row,
            [("cancel", N_("Cancel"), "danger"), ("show", N_("Show shop's code"), "normal")],
        )

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """The instruction is the biggest text after the amount: the customer reads it too."""
        m, th = self.app.metrics, THEME
        painter.text(
            surface, self.app.money(self.amount), self.amount_box, size=m.big, owner="amount"
        )
        painter.paragraph(
            surface,
            self.t(N_("Hold the customer's payment code under the scanner")),
            self.msg_box,
            size=m.title,
            owner="message",
        )
        painter.text(
            surface,
            self.t(N_("WeChat Pay, Alipay or UnionPay QR")),
            self.wallet_box,
            size=m.body,
            color=th.dim,
            owner="wallets",
        )
        text = self.t(N_("{s} s left")).format(s=self.seconds_left)
        painter.text(surface, text, self.count_box, size=m.body, color=th.dim, owner="countdown")
        self.draw_buttons(surface, painter)

    def tick(self, now: float) -> bool:
        """Redraw when the countdown second changes."""
        second = self.seconds_left
        if second != self._shown:
            self._shown = second
            return True
        return False

    def on_button(self, bid: str) -> None:
        """Cancel stops the read (the result arrives as ScanCancelled); Show switches ways."""
        if bid == "cancel":
            self.cancel.set()
            self.button("cancel").enabled = False
        elif bid == "show":
            self.left = True
            self.cancel.set()
            start_show(self.app, self.amount)

    def on_leave(self) -> None:
        """Leaving the prompt (any way) stops the scanner read."""
        self.cancel.set()

    def scanned(self, code: Any) -> None:
        """A code came: charge it (the code object never reaches a log or the screen)."""
        if self.left or self.app.screen is not self:
            return
        if self.cancel.is_set():  # Cancel was tapped as the code came: do not charge it
            show_qr_failure(self.app, errors.ScanCancelled("scan cancelled"), self.amount)
            return
        cancel = threading.Event()
        screen = QrPayingScreen(self.app, self.amount, cancel)
        self.app.show(screen)
        qr_flow.pay_with_code(
            self.app.backend,
            self.amount,
            code,
            cancel,
            on_step=screen.on_step,
            done=lambda outcome: show_qr_outcome(self.app, outcome, self.amount),
            failed=lambda exc: show_qr_failure(self.app, exc, self.amount),
            operator=_operator(self.app),
        )

    def scan_failed(self, exc: BaseException) -> None:
        """No code: say why (timeout, cancelled, scanner offline, unreadable)."""
        if self.left or self.app.screen is not self:
            return
        show_qr_failure(self.app, exc, self.amount)


class QrPayingScreen(Screen):
    """The request is out; while the customer confirms on the phone, a countdown and Cancel."""

    name = "qr_paying"
    animating = True

    def __init__(self, app: App, amount: int, cancel: threading.Event) -> None:
        super().__init__(app)
        self.amount = amount
        self.cancel = cancel
        self.step = qr_flow.QrStep("sending")
        self.deadline: float | None = None
        self.started = self.now()

    def on_step(self, step: qr_flow.QrStep) -> None:
        """The payment moved on (user paying: the countdown starts from the service's value)."""
        self.step = step
        if step.seconds_left is not None:
            self.deadline = self.now() + float(step.seconds_left)
        waiting = step.step in ("user_paying", "querying")
        self.name = f"qr_{step.step}" if waiting else "qr_paying"
        self.button("cancel").enabled = waiting and not self.cancel.is_set()
        self.app.dirty = True

    def layout(self, rect: pygame.Rect) -> None:
        """Amount, spinner, message, countdown, Cancel."""
        super().layout(rect)
        m = self.app.metrics
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        parts = rows(inner, [1.2, 1.0, 1.1, 0.6, 1.1], m.gap)
        self.amount_box, self.spin_box, self.msg_box, self.count_box = parts[:4]
        action_box = parts[4].inflate(-parts[4].w // 3, 0)
        self.buttons = action_buttons(self.app, action_box, [("cancel", N_("Cancel"), "danger")])
        self.button("cancel").enabled = False

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """The message follows the step; the countdown only while the customer confirms."""
        m, th = self.app.metrics, THEME
        painter.text(
            surface, self.app.money(self.amount), self.amount_box, size=m.big, owner="amount"
        )
        draw_spinner(surface, self.spin_box, self.now() - self.started)
        message = {
            "sending": N_("Code read: contacting the wallet…"),
            "user_paying": N_("Waiting for the customer to confirm on the phone"),
            "querying": N_("Checking the payment with the wallet…"),
            "cancelling": N_("Closing the order with the wallet…"),
        }.get(self.step.step, N_("Code read: contacting the wallet…"))
        painter.paragraph(surface, self.t(message), self.msg_box, size=m.title, owner="message")
        if self.step.step in ("user_paying", "querying") and self.deadline is not None:
            text = self.t(N_("{s} s left")).format(s=_countdown(self.deadline - self.now()))
            painter.text(
                surface, text, self.count_box, size=m.body, color=th.dim, owner="countdown"
            )
        self.draw_buttons(surface, painter)

    def on_button(self, bid: str) -> None:
        """Cancel: the terminal stops waiting and closes the order (the result follows)."""
        if bid == "cancel" and self.button("cancel").enabled:
            self.cancel.set()
            self.on_step(qr_flow.QrStep("cancelling"))


def start_show(app: App, amount: int) -> None:
    """Create this order's code and show it until paid, cancelled or expired."""
    cancel = threading.Event()
    screen = ShowCodeScreen(app, amount, cancel)
    app.show(screen)
    qr_flow.show_code(
        app.backend,
        amount,
        cancel,
        on_step=screen.on_step,
        done=lambda outcome: show_qr_outcome(app, outcome, amount),
        failed=lambda exc: show_qr_failure(app, exc, amount),
        operator=_operator(app),
    )


class ShowCodeScreen(Screen):
    """The order's code for the customer's phone: as big as the screen allows, with Cancel."""

    name = "qr_show"

    def __init__(self, app: App, amount: int, cancel: threading.Event) -> None:
        super().__init__(app)
        self.amount = amount
        self.cancel = cancel
        self.content = ""
        self.order = ""
        self.deadline: float | None = None
        self.image: QrImage | None = None
        self.too_dense = False
        self.closing = False
        self._shown = -1
        self.code_box = pygame.Rect(0, 0, 0, 0)

    def on_step(self, step: qr_flow.QrStep) -> None:
        """The code is ready (``show_code``), or the order is being closed (``cancelling``)."""
        if step.step == "show_code" and step.content:
            self.content, self.order = step.content, step.order or self.order
            self._render()
        if step.seconds_left is not None:
            self.deadline = self.now() + float(step.seconds_left)
        if step.step == "cancelling":
            self.closing = True
            self.content = ""
            self.image = None
            self.button("cancel").enabled = False
        self.app.dirty = True

    def _render(self) -> None:
        try:
            self.image = qr_surface(self.content, min(self.code_box.w, self.code_box.h))
            self.too_dense = False
        except CodeTooDense:
            self.image, self.too_dense = None, True

    @property
    def seconds_left(self) -> int | None:
        """Seconds until the code expires (None until it is shown)."""
        if self.deadline is None:
            return None
        return _countdown(self.deadline - self.now())

    def layout(self, rect: pygame.Rect) -> None:
        """The code fills the height on the left (landscape) or the width on top (square)."""
        super().layout(rect)
        m = self.app.metrics
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        if inner.w >= inner.h * 1.3:
            side = inner.h
            self.code_box = pygame.Rect(inner.x, inner.y, side, side)
            info = pygame.Rect(self.code_box.right + 2 * m.gap, inner.y, 0, inner.h)
            info.w = inner.right - info.x
            parts = rows(info, [1.3, 0.7, 0.6, 0.7, 0.5, 1.1], m.gap)
        else:
            side = min(inner.w, inner.h * 58 // 100)
            self.code_box = pygame.Rect(inner.centerx - side // 2, inner.y, side, side)
            info = pygame.Rect(inner.x, self.code_box.bottom + m.gap, inner.w, 0)
            info.h = inner.bottom - info.y
            parts = rows(info, [1.0, 0.55, 0.5, 0.5, 0.01, 1.1], m.gap // 2)
        self.amount_box, self.msg_box, self.wallet_box, self.count_box, self.order_box = parts[:5]
        # Cancel at the right end: the scan prompt's Show (which opens this) is left of it.
        row = parts[5]
        width = row.w // 2 if inner.w >= inner.h * 1.3 else row.w // 3
        cancel = pygame.Rect(row.right - width, row.y, width, row.h)
        self.buttons = action_buttons(self.app, cancel, [("cancel", N_("Cancel"), "danger")])
        if self.content:
            self._render()

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """White card with the code, or a spinner until the code arrives."""
        m, th = self.app.metrics, THEME
        pygame.draw.rect(surface, (255, 255, 255), self.code_box, border_radius=6)
        if self.image is not None:
            img = self.image.surface
            surface.blit(img, img.get_rect(center=self.code_box.center))
        elif self.closing:
            painter.paragraph(
                surface,
                self.t(N_("Closing the order with the wallet…")),
                self.code_box.inflate(-2 * m.pad, -2 * m.pad),
                size=m.body,
                color=(0, 0, 0),
                owner="closing",
            )
        elif self.too_dense:
            painter.paragraph(
                surface,
                self.t(N_("The code does not fit this screen.")),
                self.code_box.inflate(-2 * m.pad, -2 * m.pad),
                size=m.body,
                color=(0, 0, 0),
                owner="code_error",
            )
        else:
            draw_spinner(surface, self.code_box.inflate(-self.code_box.w // 2, 0), self.now())
        painter.text(
            surface, self.app.money(self.amount), self.amount_box, size=m.big, owner="amount"
        )
        painter.text(
            surface, self.t(N_("Scan with your phone to pay")), self.msg_box, size=m.title,
            owner="message",
        )  # fmt: skip
        painter.text(
            surface,
            self.t(N_("WeChat Pay · Alipay · UnionPay")),
            self.wallet_box,
            size=m.body,
            color=th.dim,
            owner="wallets",
        )
        left = self.seconds_left
        if left is not None and self.image is not None:
            text = self.t(N_("Code expires in {s} s")).format(s=left)
            painter.text(
                surface, text, self.count_box, size=m.body, color=th.dim, owner="countdown"
            )
        if self.order and self.order_box.h >= m.small:
            text = self.t(N_("Order {order}")).format(order=self.order)
            painter.text(surface, text, self.order_box, size=m.small, color=th.dim, owner="order")
        self.draw_buttons(surface, painter)

    @property
    def animating(self) -> bool:  # type: ignore[override]
        """The spinner turns until the code is shown."""
        return self.image is None and not self.too_dense and not self.closing

    def tick(self, now: float) -> bool:
        """Redraw each countdown second; at 0 the order is closed (the customer walked away)."""
        left = self.seconds_left
        if left == 0 and not self.cancel.is_set():
            self.cancel.set()
            self.on_step(qr_flow.QrStep("cancelling"))
        if left != self._shown:
            self._shown = left if left is not None else -1
            return True
        return self.animating

    def on_button(self, bid: str) -> None:
        """Cancel closes the order; the result screen follows when the wallet confirms."""
        if bid == "cancel" and self.button("cancel").enabled:
            self.cancel.set()
            self.on_step(qr_flow.QrStep("cancelling"))


def qr_details(app: App, outcome: Any, amount: int) -> list[tuple[str, str]]:
    """Label/value rows of a QR outcome (the payer masked; the payment code never)."""
    t = app.t
    order = getattr(outcome, "order", None)
    out = [(t(N_("Amount")), app.money(int(getattr(order, "amount", 0) or amount)))]
    wallet = str(getattr(order, "wallet", "") or "")
    if wallet:
        out.append((t(N_("Wallet")), t(WALLETS.get(wallet.upper(), wallet))))
    payer = str(getattr(order, "payer", "") or "")
    if payer:
        out.append((t(N_("Payer")), payer))
    number = str(getattr(order, "order", "") or "")
    if number:
        out.append((t(N_("Order")), number))
    trade = str(getattr(order, "trade_no", "") or "")
    if trade:
        out.append((t(N_("Trade no.")), trade))
    return out


def outcome_text(app: App, outcome: Any) -> str:
    """The outcome's message code in the current language (``QrOutcome.message``)."""
    message = getattr(outcome, "message", None)
    if not callable(message):
        return ""
    return str(message("zh_CN" if app.i18n.zh else "en"))


def show_qr_outcome(app: App, outcome: Any, amount: int) -> None:
    """The result of a QR payment: paid, declined, cancelled or not completed."""
    result = str(getattr(outcome, "result", "failed"))
    title, tone = RESULTS.get(result, RESULTS["failed"])
    message = outcome_text(app, outcome)
    if not message and result == "cancelled":
        message = app.t(N_("The order was closed: nothing was charged."))
    app.show(
        MessageScreen(
            app,
            app.t(title),
            message,
            tone=tone,
            details=qr_details(app, outcome, amount),
            actions=[("new", N_("New sale"), "primary")],
            on_action=lambda _a: _home(app),
            name=f"qr_result_{result}",
            translate=False,
        )
    )
    app.refresh_status()


def show_qr_failure(app: App, exc: BaseException, amount: int) -> None:
    """An error instead of an outcome (scanner, refused, wallet unreachable)."""
    t = app.t
    if isinstance(exc, errors.ScanError):
        title, message = SCAN_ERRORS.get(exc.code, SCAN_ERRORS["scan.unreadable"])
        title, message = t(title), t(message)
    elif isinstance(exc, errors.Refused):
        title, message = t(N_("Refused")), error_text(exc, app.i18n.language)
    elif isinstance(exc, errors.NotSent):
        title = t(N_("Wallet not reachable"))
        message = t(
            N_("QR payments need the network: nothing was charged. Try again or take a card.")
        )
    else:
        title, message = t(N_("Not completed")), error_text(exc, app.i18n.language)
    cancelled = isinstance(exc, errors.ScanCancelled)
    app.show(
        MessageScreen(
            app,
            title,
            message,
            tone="info" if cancelled else "bad",
            details=[(t(N_("Amount")), app.money(amount))],
            actions=[("new", N_("OK"), "primary")],
            on_action=lambda _a: _home(app),
            name="qr_result_error",
            translate=False,
        )
    )
    app.refresh_status()
