"""QR refund 扫码退货 from the supervisor menu: pick the payment, type the amount, confirm.

Reached only through the menu's Refund → "QR payment" (the menu is behind the supervisor gate);
the supervisor who opened the menu (``app.session.menu_by``) is passed to the service as the
approver, and the service checks the role again and records them as the refund's operator.

- the list of today's QR payments with something left to refund, newest first: time, wallet,
  masked payer, amount and what is left; "Order no." types the number (or the stub's last
  digits) instead;
- the amount, what is left already filled in (the first digit typed replaces it), at most
  that;
- a confirmation with the wallet, payer and order;
- the refund on the services' worker, then a result like the card refund's (退货 −¥5.00) with
  the wallet and the order, or the coded message (gateway unreachable, refund pending, …).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from appliance.errors import NotFound
from appliance.services.qr_messages import translate
from ui import qr_flow
from ui.i18n import N_
from ui.screens.admin import MenuScreen, back_to_menu, refund_amount_action
from ui.screens.common import EntryScreen, Field, ListScreen, MessageScreen, ProgressScreen
from ui.screens.qr import WALLETS
from ui.screens.sale import ResultScreen, show_failure

if TYPE_CHECKING:
    from ui.app import App

#: Title and tone of the result per outcome code (``appliance.services.qr_messages``); any
#: other code by its ``result``.
RESULT_BY_CODE: dict[str, tuple[str, str]] = {
    "qr.refunded": (N_("Refunded"), "ok"),
    "qr.refund_owed": (N_("Refund pending"), "warn"),
    "qr.refund_unreachable": (N_("Wallet not reachable"), "bad"),
}
RESULT_BY_RESULT: dict[str, tuple[str, str]] = {
    "approved": (N_("Refunded"), "ok"),
    "declined": (N_("Declined"), "bad"),
    "refused": (N_("Refused"), "bad"),
    "pending": (N_("Refund pending"), "warn"),
}


def wallet_name(app: App, wallet: str) -> str:
    """The wallet's name in the screen's language (the scheme name if unknown)."""
    return app.t(WALLETS.get(wallet.upper(), wallet)) if wallet else ""


def qr_refund_flow(app: App) -> None:
    """Today's QR payments that can still be refunded (or type the order number)."""
    app.show(ProgressScreen(app, N_("QR refund"), N_("Loading…"), name="loading"))
    qr_flow.refund_choices(
        app.backend,
        lambda choices: show_choices(app, choices),
        lambda e: show_failure(app, e, back=back_to_menu(app)),
    )


def choice_row(app: App, order: Any, left: int) -> tuple[str, str, str]:
    """A list row: time, wallet and masked payer on the left; amount and what is left right."""
    when = app.local(order.created_at).strftime("%H:%M")
    left_text = " ".join(p for p in (when, wallet_name(app, order.wallet), order.payer) if p)
    amount = app.money(int(order.amount))
    if left < int(order.amount):
        amount = app.t(N_("{amount}, {left} left")).format(amount=amount, left=app.money(left))
    return str(order.order), left_text, amount


def show_choices(app: App, choices: list[tuple[Any, int]]) -> None:
    """The list; a row opens the amount, "Order no." the number entry."""
    by_order = {str(o.order): (o, left) for o, left in choices}
    app.show(
        ListScreen(
            app,
            N_("QR refund: today's payments"),
            [choice_row(app, o, left) for o, left in choices],
            on_pick=lambda order_no: refund_amount(app, *by_order[order_no]),
            on_back=back_to_menu(app),
            empty=N_("No QR payments left to refund today"),
            name="qr_refund_list",
            extra=[("order", N_("Order no."), "normal")],
            on_action=lambda _a: enter_order(app),
        )
    )


def enter_order(app: App) -> None:
    """Type the order number (without QR) or its last digits as on the stub."""

    def act(a: str, screen: EntryScreen) -> None:
        if a == "cancel":
            app.show(MenuScreen(app))
            return
        typed = screen.field.value
        if not typed:
            screen.say(app.t(N_("Type the number first")))
            return
        screen.enabled = False

        def missing(exc: BaseException) -> None:
            if not isinstance(exc, NotFound):
                show_failure(app, exc, back=back_to_menu(app))
                return
            screen.enabled = True
            screen.say(translate("qr.not_found", {"order": typed}, app.i18n.language))

        qr_flow.find_for_refund(
            app.backend, typed, lambda found: refund_amount(app, *found), missing
        )

    screen = EntryScreen(
        app,
        N_("QR refund: order number"),
        [Field(N_("Order no."), max_len=22)],
        [("cancel", N_("Cancel"), "normal"), ("find", N_("Find"), "primary")],
        act,
        name="qr_refund_order",
        hint=app.t(N_("The digits after QR, or the last 6 of today's order")),
    )
    app.show(screen)


def refund_amount(app: App, order: Any, left: int) -> None:
    """Type the amount: what is left is filled in; more than that is refused here (the service
    checks again)."""
    if left <= 0:
        paid = str(order.state) == "success"
        code = "qr.nothing_left" if paid else "qr.not_refundable"
        app.show(
            MessageScreen(
                app,
                app.t(N_("Cannot refund")),
                translate(code, {"order": order.order}, app.i18n.language),
                tone="bad",
                actions=[("back", N_("Back"), "primary")],
                on_action=back_to_menu(app),
                name="qr_refund_refused",
                translate=False,
                action_width=1 / 3,  # left: the order number's Find (right) opens this
            )
        )
        return

    screen = EntryScreen(
        app,
        N_("QR refund amount"),
        [Field(app.currency.alpha, "amount", 9, value=str(left), fresh=True)],
        [("cancel", N_("Cancel"), "normal"), ("refund", N_("Refund"), "danger")],
        refund_amount_action(app, left, lambda amount: confirm(app, order, amount)),
        name="qr_refund_amount",
    )
    screen.message = app.t(N_("Order …{tail}: at most {amount}")).format(
        tail=str(order.order)[-6:], amount=app.money(left)
    )
    app.show(screen)


def order_details(app: App, order: Any) -> list[tuple[str, str]]:
    """Wallet, masked payer, paid amount and order number of the paid order."""
    t = app.t
    out = []
    if order.wallet:
        out.append((t(N_("Wallet")), wallet_name(app, order.wallet)))
    if order.payer:
        out.append((t(N_("Payer")), str(order.payer)))
    out.append((t(N_("Amount paid")), app.money(int(order.amount))))
    out.append((t(N_("Order")), str(order.order)))
    return out


def confirm(app: App, order: Any, amount: int) -> None:
    """Show what goes back to whom; Refund runs it on the worker."""

    def act(a: str) -> None:
        if a == "confirm":
            run(app, order, amount)
        else:
            app.show(MenuScreen(app))

    title = app.t(N_("Refund {amount} to the payer?")).format(amount=app.money(amount))
    app.show(
        MessageScreen(
            app,
            title,
            "",
            details=order_details(app, order),
            translate=False,
            actions=[("cancel", N_("Cancel"), "normal"), ("confirm", N_("Refund"), "danger")],
            on_action=act,
            name="qr_refund_confirm",
        )
    )


def run(app: App, order: Any, amount: int) -> None:
    """The refund on the services' worker, approved by the supervisor who opened the menu."""
    app.show(
        ProgressScreen(
            app, N_("QR refund"), N_("Processing: contacting the wallet…"), name="processing"
        )
    )
    qr_flow.refund(
        app.backend,
        str(order.order),
        amount,
        app.session.menu_by,
        lambda outcome: show_result(app, outcome, order, amount),
        lambda e: show_failure(app, e, amount, back=back_to_menu(app)),
    )


def show_result(app: App, outcome: Any, order: Any, amount: int) -> None:
    """The result screen (退货 −¥5.00 with the wallet and the order, or why not)."""
    app.show(QrRefundResultScreen(app, outcome, order, amount))
    app.refresh_status()


class QrRefundResultScreen(ResultScreen):
    """A QR refund's result, drawn like a card refund's: mark, 退货 −¥5.00, the outcome's
    message in the screen's language, the wallet and the order numbers; back to the menu."""

    def __init__(self, app: App, outcome: Any, order: Any, amount: int) -> None:
        result, code = str(outcome.result), str(outcome.code)
        title, tone = RESULT_BY_CODE.get(code) or RESULT_BY_RESULT.get(
            result, (N_("Not completed"), "bad")
        )
        ref = outcome.order  # the refund order (None when refused before one was kept)
        self.outcome, self.kind, self.result = outcome, "refund", result
        self.txn = None
        self.amount = int(ref.amount) if ref is not None else amount
        self.moved = code in ("qr.refunded", "qr.refund_owed")
        self.printed = True  # the merchant stub is the service's; no customer copy here
        self.print_note = ""
        message = str(outcome.message("zh_CN" if app.i18n.zh else "en"))
        t = app.t
        details = []
        if order.wallet:
            details.append((t(N_("Wallet")), wallet_name(app, order.wallet)))
        details.append((t(N_("Order")), str(order.order)))
        if ref is not None and code != "qr.refund_unreachable":
            details.append((t(N_("Refund no.")), str(ref.order)))
        MessageScreen.__init__(
            self,
            app,
            t(title),
            message,
            tone=tone,
            details=details,
            actions=[("new", N_("Done"), "primary")],
            on_action=self._act,
            name=f"qr_refund_{result}",
            translate=False,
        )
        self.deadline = self.now() + app.result_seconds if app.result_seconds else None
        self._shown_second = -1
        if code == "qr.refunded":
            self.print_note = t(N_("Merchant copy printing…"))
