"""The supervisor-gated menu: void, refund, reprint, X report, settlement, forwarding,
reconciliation.

Services that the terminal does not offer in this version (looked up by name) open a screen
that says so instead of failing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pygame

from appliance.errors import NotFound, Refused
from appliance.messages import error_text
from ui import qr_flow
from ui.backend import WithStatus
from ui.i18n import N_
from ui.screens.base import Screen
from ui.screens.common import (
    EntryScreen,
    Field,
    ListScreen,
    MessageScreen,
    ProgressScreen,
    action_buttons,
    language_switch,
)
from ui.screens.sale import (
    HomeScreen,
    print_copy,
    show_failure,
    show_outcome,
    start_card_flow,
    txn_details,
)
from ui.widgets import Button, Painter, grid, rows

if TYPE_CHECKING:
    from ui.app import App

SUPERVISOR_ROLES = frozenset({"supervisor"})
TECHNICIAN_ROLES = frozenset({"technician"})
#: Menu entries that move money or close the batch: supervisors only (technicians are kept
#: apart from money on purpose).
MONEY_ACTIONS = frozenset({"void", "refund", "settle", "forward"})

#: The menu grid, row by row (4 × 3 wide, 3 × 4 square). Sign out and Back to sale stay out
#: of the bottom row's left half, where a result's Done and the gate's OK that open the menu
#: sit: a double tap on those never signs out or leaves the menu.
MENU: list[tuple[str, str, str]] = [
    ("void", N_("Void"), "normal"),
    ("refund", N_("Refund"), "normal"),
    ("reprint", N_("Reprint"), "normal"),
    ("xreport", N_("X report"), "normal"),
    ("settle", N_("Settlement"), "normal"),
    ("forward", N_("Forward now"), "normal"),
    ("recon", N_("Reconciliation"), "normal"),
    ("signout", N_("Sign out"), "danger"),
    ("status", N_("Status"), "normal"),
    ("tech", N_("Technician"), "normal"),
    ("language", N_("中文 / English"), "normal"),
    ("back", N_("Back to sale"), "primary"),
]


def is_supervisor(operator: Any) -> bool:
    """True for operators whose role may use the money functions of the menu."""
    return str(getattr(operator, "role", "")).lower() in SUPERVISOR_ROLES


def may_open_menu(operator: Any) -> bool:
    """Supervisors and technicians may open the menu (technicians without money functions)."""
    return str(getattr(operator, "role", "")).lower() in SUPERVISOR_ROLES | TECHNICIAN_ROLES


def open_menu(app: App) -> None:
    """The menu, after a supervisor's number and password unless one is signed in."""
    if may_open_menu(app.session.operator):
        app.session.menu_by = app.session.operator
        app.show(MenuScreen(app))
        return

    def action(act: str, screen: EntryScreen) -> None:
        if act == "cancel":
            app.show(HomeScreen(app))
            return
        if act == "signout":  # a cashier signs out here: the menu itself needs a supervisor
            from ui.screens.system import sign_out

            sign_out(app)
            return
        number, password = screen.fields[0].value, screen.fields[1].value
        if act == "next" and screen.focus == 0:
            screen.focus = 1
            return
        if not number or not password:
            screen.say(app.t(N_("Type the supervisor number and password")))
            return
        screen.enabled = False
        screen.say(app.t(N_("Checking…")), "info")

        def done(operator: Any) -> None:
            if may_open_menu(operator):
                app.session.menu_by = operator
                app.show(MenuScreen(app))
            else:
                screen.enabled = True
                screen.fields[1].value = ""
                screen.say(app.t(N_("This operator is not a supervisor")))

        def failed(exc: BaseException) -> None:
            screen.enabled = True
            screen.fields[1].value = ""
            screen.say(login_refused_text(app, exc))

        app.backend.authenticate(number, password, done, failed)

    app.show(
        EntryScreen(
            app,
            N_("Supervisor sign-in"),
            [
                Field(N_("Supervisor no."), max_len=2, advance=True),
                Field(N_("Password"), "secret", 12),
            ],
            # OK on the left, where the amount screen's Menu was: a double tap on Menu never
            # lands on Cancel or Sign out.
            [
                ("next", N_("OK"), "primary"),
                ("cancel", N_("Cancel"), "normal"),
                ("signout", N_("Sign out"), "danger"),
            ],
            action,
            name="supervisor",
        )
    )


class MenuScreen(Screen):
    """A grid of the supervisor's actions."""

    name = "menu"

    def layout(self, rect: pygame.Rect) -> None:
        """4 × 3 on a wide screen, 3 × 4 otherwise; the language switch marks the one in use."""
        super().layout(rect)
        m = self.app.metrics
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        nr, nc = (3, 4) if inner.w >= inner.h * 1.3 else (4, 3)
        money = is_supervisor(self.app.session.menu_by)
        self.buttons = [
            Button(bid, label, cell, style=style, enabled=money or bid not in MONEY_ACTIONS)
            for (bid, label, style), cell in zip(MENU, grid(inner, nr, nc, m.gap), strict=True)
        ]
        language_switch(self.app, self.button("language"))

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """Just the buttons."""
        self.draw_buttons(surface, painter)

    def on_button(self, bid: str) -> None:
        """Open the chosen function."""
        app = self.app
        if bid == "back":
            if app.session.menu_by is not app.session.operator:
                app.session.menu_by = None  # leaving the menu ends the supervisor's approval
            app.show(HomeScreen(app))
        elif bid == "signout":
            from ui.screens.system import sign_out

            sign_out(app)
        elif bid == "status":
            from ui.screens.system import StatusScreen

            app.show(StatusScreen(app, back=self))
        elif bid == "tech":
            from ui.screens.system import TechnicianScreen

            app.show(TechnicianScreen(app))
        elif bid == "language":
            app.set_language("en" if app.i18n.zh else "zh_CN")
            self.layout(self.rect)
        else:
            FLOWS[bid](app)


def login_refused_text(app: App, exc: BaseException) -> str:
    """Why a sign-in failed, in the screen language (tries left or lock end when known)."""
    remaining = getattr(exc, "remaining", None)
    locked_until = getattr(exc, "locked_until", None)
    if locked_until is not None:
        when = locked_until.astimezone().strftime("%H:%M")
        return app.t(N_("Locked after too many wrong PINs until {time}")).format(time=when)
    if remaining:
        return app.t(N_("Wrong number or password ({n} tries left)")).format(n=remaining)
    if isinstance(exc, Refused):
        return app.t(N_("Wrong number or password"))
    return error_text(exc, app.i18n.language)


def back_to_menu(app: App) -> Callable[..., None]:
    """A callback (any arguments) that returns to the menu."""
    return lambda *_a: app.show(MenuScreen(app))


def choose(
    app: App, title: str, options: list[tuple[str, str]], on_pick: Callable[[str], None], name: str
) -> None:
    """A question with one button per option, plus Back."""
    actions = [(oid, label, "normal") for oid, label in options] + [("back", N_("Back"), "flat")]

    def act(a: str) -> None:
        if a == "back":
            app.show(MenuScreen(app))
        else:
            on_pick(a)

    app.show(
        ChoiceScreen(
            app,
            title,
            N_("Choose how to find the payment."),
            actions=actions,
            on_action=act,
            name=name,
        )
    )


class ChoiceScreen(MessageScreen):
    """A question: the options side by side mid-screen, Back alone at the bottom right.

    The options stay out of the bottom band, where the screens they open put their Cancel or
    Back: a double tap on an option never finds a way out under the finger.
    """

    def layout(self, rect: pygame.Rect) -> None:
        """Title, question, the options' row, then Back in the bottom right third."""
        Screen.layout(self, rect)
        m = self.app.metrics
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        self.title_box, self.message_box, options, foot = rows(inner, [1.0, 0.6, 1.6, 1.4], m.gap)
        self.details_box = None
        h = min(foot.h, max(m.touch, inner.h // 5))
        back = pygame.Rect(foot.right - foot.w // 3, foot.bottom - h, foot.w // 3, h)
        self.buttons = action_buttons(self.app, options, self.actions[:-1])
        self.buttons += action_buttons(self.app, back, self.actions[-1:])


def today(app: App, txns: list[Any]) -> list[Any]:
    """The transactions created today on the terminal's clock, newest first."""
    now = app.now().date()
    out = [t for t in txns if app.local(t.created_at).date() == now]
    return sorted(out, key=lambda t: t.created_at, reverse=True)


def txn_row(app: App, txn: Any) -> tuple[str, str, str]:
    """A list row: trace, time, type/state on the left; amount on the right."""
    when = app.local(txn.created_at).strftime("%H:%M")
    kind = app.t(TYPE_LABELS.get(str(txn.type), str(txn.type)))
    state = app.t(STATE_LABELS.get(str(txn.state), str(txn.state)))
    return (str(txn.stan), f"{txn.stan:06d}  {when}  {kind} · {state}", app.money(txn.amount))


def pick_today(
    app: App,
    title: str,
    keep: Callable[[Any], bool],
    then: Callable[[Any], None],
    name: str,
    *,
    rule: str = "",
) -> None:
    """List today's transactions that ``keep`` accepts (and, if ``rule`` names one, that the
    terminal's own rule allows: ``voidable``); ``then(txn)`` for the one tapped."""
    app.show(ProgressScreen(app, title, N_("Loading…"), name="loading"))
    terminal = app.backend

    def load(_r: Any) -> list[Any]:
        txns = terminal.terminal.transactions(limit=200)
        if rule:
            allowed = getattr(terminal.terminal, rule)
            txns = [t for t in txns if keep(t) and allowed(t)]
        return list(txns)

    def done(txns: list[Any]) -> None:
        shown = [t for t in today(app, txns) if keep(t)]
        by_trace = {str(t.stan): t for t in shown}
        app.show(
            ListScreen(
                app,
                title,
                [txn_row(app, t) for t in shown],
                on_pick=lambda tid: then(by_trace[tid]),
                on_back=back_to_menu(app),
                empty=N_("No transactions today"),
                name=name,
            )
        )

    app.backend.submit(load, done, lambda e: show_failure(app, e, back=back_to_menu(app)))


def enter_reference(
    app: App, title: str, label: str, max_len: int, then: Callable[[str], None], name: str
) -> None:
    """Type a trace or RRN on the keypad; ``then(text)``."""

    def act(a: str, screen: EntryScreen) -> None:
        if a == "cancel":
            app.show(MenuScreen(app))
        elif not screen.field.value:
            screen.say(app.t(N_("Type the number first")))
        else:
            then(screen.field.value)

    app.show(
        EntryScreen(
            app,
            title,
            [Field(label, max_len=max_len)],
            [("cancel", N_("Cancel"), "normal"), ("find", N_("Find"), "primary")],
            act,
            name=name,
        )
    )


def find_then(
    app: App, then: Callable[[Any], None], *, trace: int | None = None, rrn: str | None = None
) -> None:
    """Look the transaction up on the worker; ``then(txn)`` or a not-found screen."""
    app.backend.call(
        lambda s: s.terminal.find(trace=trace, rrn=rrn),
        done=then,
        failed=lambda e: show_failure(app, e, back=back_to_menu(app)),
    )


def confirm_txn(
    app: App, title: str, txn: Any, confirm_label: str, on_confirm: Callable[[], None], name: str
) -> None:
    """Show a transaction and ask to confirm."""

    def act(a: str) -> None:
        if a == "confirm":
            on_confirm()
        else:
            app.show(MenuScreen(app))

    details = [(app.t(label), value) for label, value in txn_details(app, txn)]
    app.show(
        MessageScreen(
            app,
            app.t(title),
            "",
            details=details,
            translate=False,
            actions=[("cancel", N_("Cancel"), "normal"), ("confirm", confirm_label, "danger")],
            on_action=act,
            name=name,
        )
    )


# -- void -----------------------------------------------------------------------------------
def void_flow(app: App) -> None:
    """Void: pick from today's approved sales, or type the trace."""

    def pick(how: str) -> None:
        if how == "list":
            pick_today(
                app,
                N_("Void: today's sales"),
                _voidable,
                lambda t: confirm_void(app, t),
                "void_list",
                rule="voidable",  # the terminal's rule: no sale already partly refunded
            )
        else:
            enter_reference(
                app,
                N_("Void: trace number"),
                N_("Trace"),
                6,
                lambda s: find_then(app, lambda t: confirm_void(app, t), trace=int(s)),
                "void_trace",
            )

    choose(
        app,
        N_("Void"),
        [("list", N_("Today's sales")), ("trace", N_("By trace"))],
        pick,
        "void_choose",
    )


def _voidable(txn: Any) -> bool:
    """Listed for a void: an approved sale (the service decides the rest, see confirm_void)."""
    return str(txn.type) == "sale" and str(txn.state) == "approved"


#: What the screen says for each reason the void rule gives (appliance.domain.eligibility).
VOID_REFUSED = {
    "has_follow_up": N_("This sale already has a void or refund."),
    "already_voided": N_("Only an approved sale of the current batch can be voided."),
    "not_a_sale": N_("Only an approved sale of the current batch can be voided."),
    "not_approved": N_("Only an approved sale of the current batch can be voided."),
    "other_batch": N_("Only an approved sale of the current batch can be voided."),
}


def confirm_void(app: App, txn: Any) -> None:
    """Ask the void rule (on the worker), then confirm, void and show the outcome."""
    app.backend.call(
        lambda s: s.terminal.void_check(txn),
        done=lambda why: confirm_voidable(app, txn) if why is None else void_refused(app, why),
        failed=lambda e: show_failure(app, e),
    )


def void_refused(app: App, why: Any) -> None:
    """The void rule said no: why, in the screen's language."""
    app.show(
        MessageScreen(
            app,
            N_("Cannot void"),
            VOID_REFUSED[str(why)],
            tone="bad",
            actions=[("back", N_("Back"), "primary")],
            on_action=back_to_menu(app),
            name="void_refused",
        )
    )


def confirm_voidable(app: App, txn: Any) -> None:
    """Confirm the void of a sale the rule allows, then void it on the worker."""

    def go() -> None:
        app.show(
            ProgressScreen(
                app, N_("Void"), N_("Processing: contacting the bank…"), name="processing"
            )
        )
        app.backend.call(
            # the terminal checks the approver's role and records it as the acting operator
            lambda s, who=app.session.menu_by: s.terminal.void(txn.stan, approver=who),
            done=lambda o: show_outcome(app, o, txn.amount, kind="void"),
            failed=lambda e: show_failure(app, e, txn.amount, back=back_to_menu(app)),
        )

    confirm_txn(app, N_("Void this sale?"), txn, N_("Void"), go, "void_confirm")


# -- refund ---------------------------------------------------------------------------------
def refund_flow(app: App) -> None:
    """Refund: find the sale by trace or RRN, type an amount up to what is refundable; or a QR
    payment (``ui.screens.qr_refund``) when the terminal takes QR payments."""

    def pick(how: str) -> None:
        if how == "trace":
            enter_reference(
                app,
                N_("Refund: trace number"),
                N_("Trace"),
                6,
                lambda s: find_then(app, lambda t: refund_amount(app, t), trace=int(s)),
                "refund_trace",
            )
        elif how == "qr":
            from ui.screens.qr_refund import qr_refund_flow

            qr_refund_flow(app)
        else:
            enter_reference(
                app,
                N_("Refund: reference number"),
                N_("RRN"),
                12,
                lambda s: find_then(app, lambda t: refund_amount(app, t), rrn=s),
                "refund_rrn",
            )

    ways = [("trace", N_("By trace")), ("rrn", N_("By RRN"))]
    if qr_flow.available(app.backend):  # QR payments 扫码 are refunded here too
        ways.append(("qr", N_("QR refund")))
    choose(app, N_("Refund"), ways, pick, "refund_choose")


def refund_amount(app: App, txn: Any) -> None:
    """Ask the refund rule (on the worker) what is left of ``txn``, then take the amount."""

    def checked(check: Any) -> None:
        if check.refusal in ("not_a_sale", "not_approved"):
            code, params = "refund.not_approved", {"trace": f"{int(txn.stan):06d}"}
            exc = Refused("not an approved sale", code=code, params=params)
            show_failure(app, exc, back=back_to_menu(app))
        else:  # refunded in full: refund_entry says so
            refund_entry(app, txn, int(check.remaining))

    app.backend.call(
        lambda s: s.terminal.refund_check(txn),
        done=checked,
        failed=lambda e: show_failure(app, e, back=back_to_menu(app)),
    )


def refund_amount_action(
    app: App, limit: int, then: Callable[[int], None]
) -> Callable[[str, EntryScreen], None]:
    """The refund amount screen's buttons (card and QR alike): Cancel goes back to the menu;
    Refund goes on with ``then(amount)`` when 0 < amount ≤ ``limit``, else says why."""

    def act(a: str, screen: EntryScreen) -> None:
        if a == "cancel":
            app.show(MenuScreen(app))
            return
        amount = screen.field.number
        if amount <= 0:
            screen.say(app.t(N_("Type the amount first")))
        elif amount > limit:
            screen.say(
                app.t(N_("At most {amount} can be refunded")).format(amount=app.money(limit))
            )
        else:
            then(amount)

    return act


def refund_entry(app: App, txn: Any, limit: int) -> None:
    """Type the refund amount (≤ ``limit``), then present the original card."""
    if limit <= 0:
        params = {"trace": f"{int(txn.stan):06d}"}
        exc = Refused("refunded in full", code="refund.nothing_left", params=params)
        show_failure(app, exc, back=back_to_menu(app))
        return

    def refund(amount: int) -> None:
        start_card_flow(app, amount, "refund", trace=txn.stan, approver=app.session.menu_by)

    screen = EntryScreen(
        app,
        N_("Refund amount"),
        [Field(app.currency.alpha, "amount", 9)],
        [("cancel", N_("Cancel"), "normal"), ("refund", N_("Refund"), "danger")],
        refund_amount_action(app, limit, refund),
        name="refund_amount",
    )
    screen.message = app.t(N_("Trace {trace}: at most {amount}")).format(
        trace=f"{txn.stan:06d}", amount=app.money(limit)
    )
    screen.tone = "info"
    app.show(screen)


# -- reprint --------------------------------------------------------------------------------
def reprint_flow(app: App) -> None:
    """Reprint the last stub, one by trace, or one from today's list (marked as a reprint)."""

    def pick(how: str) -> None:
        if how == "last":
            # The journal's newest row with a stub, fresh: its state may have changed since.
            app.backend.last_printable(
                done=lambda t: reprint(app, t), failed=lambda e: show_failure(app, e)
            )
        elif how == "trace":
            enter_reference(
                app,
                N_("Reprint: trace number"),
                N_("Trace"),
                6,
                lambda s: find_then(app, lambda t: reprint(app, t), trace=int(s)),
                "reprint_trace",
            )
        else:
            pick_today(
                app,
                N_("Reprint: today's"),
                lambda t: True,
                lambda t: reprint(app, t),
                "reprint_list",
            )

    choose(
        app,
        N_("Reprint"),
        [("last", N_("Last")), ("trace", N_("By trace")), ("list", N_("Today's"))],
        pick,
        "reprint_choose",
    )


def reprint(app: App, txn: Any) -> None:
    """Show the transaction; print its merchant or customer copy marked as a reprint."""
    details = [(app.t(label), value) for label, value in txn_details(app, txn)]
    screen = MessageScreen(
        app,
        app.t(N_("Reprint")),
        "",
        details=details,
        translate=False,
        actions=[
            ("back", N_("Back"), "normal"),
            ("print_merchant", N_("Merchant copy"), "primary"),
            ("print_customer", N_("Customer copy"), "primary"),
        ],
        name="reprint",
    )

    def act(a: str) -> None:
        if a.startswith("print_"):
            print_copy(app, txn, screen, reprint=True, copy=a[6:])
        else:
            app.show(MenuScreen(app))

    screen.on_action = act
    app.show(screen)


# -- reports, settlement, forwarding, reconciliation ----------------------------------------
def describe(app: App, value: Any) -> list[tuple[str, str]]:
    """Label/value rows of a report: batch totals, settlement result, reconciliation, or any
    dataclass/dict (fields named ``*amount*`` shown as money, lists counted)."""
    t, money = app.t, app.money
    if value is None:
        return []
    record = getattr(value, "record", None)
    if record is not None and hasattr(record, "totals"):  # SettleOutcome
        return describe_settlement(app, record)
    if isinstance(value, dict) and "matched_count" in value and "discrepancies" in value:
        return describe_reconciliation(app, value)
    if hasattr(value, "schemes") and hasattr(value, "totals"):  # BatchTotals (X report)
        tot = value.totals
        return [
            (t(N_("Batch")), f"{int(value.batch):06d}"),
            (t(N_("Sales")), f"{tot.sale_count} · {money(tot.sale_amount)}"),
            (t(N_("Refunds")), f"{tot.refund_count} · {money(tot.refund_amount)}"),
            (t(N_("Gross")), money(value.gross)),
            (t(N_("Estimated fees")), money(value.fees)),
            (t(N_("Net deposit")), money(value.net)),
        ]
    if hasattr(value, "balanced") and hasattr(value, "uploaded"):  # SettlementResult
        rows_ = [(t(N_("Balanced")), t(N_("Yes")) if value.balanced else t(N_("No")))]
        if value.host is not None:
            h = value.host
            rows_.append((t(N_("Bank: sales")), f"{h.sale_count} · {money(h.sale_amount)}"))
            rows_.append((t(N_("Bank: refunds")), f"{h.refund_count} · {money(h.refund_amount)}"))
        rows_.append((t(N_("Batch uploaded")), t(N_("Yes")) if value.uploaded else t(N_("No"))))
        return rows_
    if hasattr(value, "matched_count") and hasattr(value, "lines"):  # ReconReport
        rows_ = [
            (t(N_("Batch")), f"{int(value.batch):06d}"),
            (t(N_("Matched")), f"{value.matched_count} · {money(value.matched_amount)}"),
            (t(N_("Discrepancies")), str(len(value.lines))),
        ]
        for line in value.lines[:5]:
            label = t(RECON_ISSUES.get(line.issue, line.issue))
            rows_.append((f"{label} {line.trace}", money(line.amount)))
        return rows_
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = dataclasses.asdict(value).items()
    elif isinstance(value, dict):
        items = value.items()
    else:
        items = ((k, v) for k, v in vars(value).items() if not k.startswith("_"))
    out: list[tuple[str, str]] = []
    for key, val in items:
        label = t(FIELD_LABELS.get(key, key.replace("_", " ").capitalize()))
        if isinstance(val, bool):
            text = t(N_("Yes")) if val else t(N_("No"))
        elif isinstance(val, int) and "amount" in key:
            text = money(val)
        elif isinstance(val, list | tuple):
            text = str(len(val))
        elif isinstance(val, dict):
            continue
        else:
            text = str(val)
        out.append((label, text))
    return out[:8]


def describe_settlement(app: App, record: Any) -> list[tuple[str, str]]:
    """One settlement: batch, the bank's verdict, both sides' totals, the batch upload."""
    t, money = app.t, app.money
    result = str(getattr(record, "result", "") or "")
    verdict = t(SETTLE_RESULTS.get(result, N_("Not finished")))
    tot = record.totals.totals
    rows_ = [
        (t(N_("Batch")), f"{int(record.batch):06d}"),
        (t(N_("Result")), verdict),
        (t(N_("Sales")), f"{tot.sale_count} · {money(tot.sale_amount)}"),
        (t(N_("Refunds")), f"{tot.refund_count} · {money(tot.refund_amount)}"),
        (t(N_("Net deposit")), money(record.totals.net)),
    ]
    host = getattr(record, "host_totals", None)
    if host is not None and not record.balanced:
        rows_.append((t(N_("Bank: sales")), f"{host.sale_count} · {money(host.sale_amount)}"))
    if getattr(record, "upload_total", 0):
        rows_.append((t(N_("Batch uploaded")), f"{record.uploaded} / {record.upload_total}"))
    return rows_


def describe_reconciliation(app: App, last: dict[str, Any]) -> list[tuple[str, str]]:
    """The last statement matched: what agreed, the money difference, each discrepancy."""
    t, money = app.t, app.money
    rows_ = [
        (t(N_("Statement")), str(last.get("statement") or "-")),
        (t(N_("Matched")), f"{last['matched_count']} · {money(int(last['matched_amount']))}"),
        (t(N_("Net difference")), money(int(last.get("net_difference", 0)))),
        (t(N_("Discrepancies")), str(len(last["discrepancies"]))),
    ]
    for d in last["discrepancies"][:4]:
        kind = t(RECON_KINDS.get(str(d.get("kind")), str(d.get("kind"))))
        rows_.append((f"{kind} {d.get('trace') or ''}".strip(), money(int(d.get("amount", 0)))))
    return rows_


def reconciliation_advice(app: App, last: dict[str, Any]) -> str:
    """What to do about the first discrepancy (in the screen language), or that all matched."""
    for d in last.get("discrepancies", []):
        advice = d.get("advice_zh") if app.i18n.zh else d.get("advice")
        if advice:
            return str(advice)
    return app.t(N_("Everything matches the statement."))


def report_screen(
    app: App, title: str, value: Any, name: str, tone: str = "info", message: str = ""
) -> None:
    """Show a report object's fields and a Back button."""
    app.show(
        MessageScreen(
            app,
            app.t(title),
            message,
            tone=tone,
            translate=False,
            details=describe(app, value),
            actions=[("back", N_("Back"), "primary")],
            on_action=back_to_menu(app),
            name=name,
            action_width=1 / 3,  # left: the settlement's Settle (right) opens this
        )
    )


def acting_operator(app: App) -> str:
    """Who acts in the menu (the supervisor who opened it), for audit trails."""
    who = app.session.menu_by or app.session.operator
    return str(getattr(who, "number", "") or "-")


def xreport_flow(app: App) -> None:
    """X report: the open batch's totals without closing it; can be printed."""
    app.show(ProgressScreen(app, N_("X report"), N_("Loading…"), name="loading"))

    def show(totals: Any) -> None:
        actions = [("back", N_("Back"), "normal"), ("print", N_("Print"), "primary")]
        screen = MessageScreen(
            app,
            app.t(N_("X report")),
            "",
            translate=False,
            details=describe(app, totals),
            actions=actions,
            name="xreport",
        )

        def act(a: str) -> None:
            if a == "print":
                screen.message = app.t(N_("Printing…"))
                screen.button("print").enabled = False
                operator = acting_operator(app)
                app.backend.call(
                    lambda s: s.settlement.print_x(operator),
                    done=lambda _j: setattr(screen, "message", app.t(N_("Sent to the printer."))),
                    failed=lambda e: setattr(screen, "message", error_text(e, app.i18n.language)),
                )
            else:
                app.show(MenuScreen(app))

        screen.on_action = act
        app.show(screen)

    app.backend.call(
        lambda s: s.settlement.open_totals(),
        done=show,
        failed=lambda e: show_failure(app, e, back=back_to_menu(app)),
    )


SETTLE_PHASES = {
    "resume": N_("Resuming the interrupted settlement…"),
    "waiting_for_payment": N_("Waiting for the payment in progress…"),
    "forwarding": N_("Sending stored payments…"),
    "totals": N_("Sending the totals to the bank…"),
    "upload": N_("Totals differ: uploading the batch…"),
    "final": N_("Sending the final totals…"),
}


def settle_flow(app: App) -> None:
    """Settlement: totals preview → confirm → progress → result."""

    def run() -> None:
        progress = ProgressScreen(
            app, N_("Settlement"), N_("Settling with the bank…"), name="settling"
        )
        progress.phases = SETTLE_PHASES
        app.show(progress)

        def done(answer: WithStatus) -> None:
            result = answer.value
            app.set_status(answer.status)  # after the forwarding the settlement did first
            record = getattr(result, "record", result)
            balanced = getattr(record, "balanced", None)
            tone = "ok" if balanced in (True, None) else "warn"
            message = ""
            if balanced is not None:
                message = (
                    N_("Totals agree with the bank. The settlement slip is printing.")
                    if balanced
                    else N_("Totals did not agree after the batch upload: see reconciliation.")
                )
            report_screen(
                app,
                N_("Settlement done"),
                result,
                "settle_result",
                tone,
                app.t(message) if message else "",
            )

        app.backend.settle(
            progress.progress,
            done,
            lambda e: show_failure(app, e, back=back_to_menu(app)),
            approver=app.session.menu_by,
        )

    def preview(totals: Any) -> None:
        screen = MessageScreen(
            app,
            app.t(N_("Settle the batch?")),
            app.t(N_("Check the totals, then confirm.")),
            translate=False,
            details=describe(app, totals),
            actions=[("cancel", N_("Cancel"), "normal"), ("confirm", N_("Settle"), "danger")],
            on_action=lambda a: run() if a == "confirm" else app.show(MenuScreen(app)),
            name="settle_preview",
        )
        app.show(screen)

    app.show(ProgressScreen(app, N_("Settlement"), N_("Loading…"), name="loading"))
    app.backend.call(
        lambda s: s.settlement.open_totals(),
        done=preview,
        failed=lambda e: show_failure(app, e, back=back_to_menu(app)),
    )


def forward_flow(app: App) -> None:
    """Forward now: deliver owed reversals and stored payments, with progress."""
    progress = ProgressScreen(
        app, N_("Forward now"), N_("Sending stored payments…"), name="forwarding"
    )
    app.show(progress)

    def done(answer: WithStatus) -> None:
        app.set_status(answer.status)  # read after forwarding: the bar agrees with the report
        report_screen(app, N_("Forwarding done"), answer.value, "forward_result", "ok")

    app.backend.send_owed(
        progress.progress, done, lambda e: show_failure(app, e, back=back_to_menu(app))
    )


def recon_flow(app: App) -> None:
    """Reconciliation results (terminal journal vs acquirer statement)."""
    app.show(ProgressScreen(app, N_("Reconciliation"), N_("Loading…"), name="loading"))
    app.backend.call(
        lambda s: s.reconciler.last(),
        done=lambda r: report_screen(
            app,
            N_("Reconciliation"),
            r,
            "recon",
            "ok" if not r.get("discrepancies") else "warn",
            reconciliation_advice(app, r),
        ),
        failed=lambda e: no_statement(app) if isinstance(e, NotFound) else show_failure(app, e),
    )


def no_statement(app: App) -> None:
    """Nothing to show yet: say how a statement gets in."""
    app.show(
        MessageScreen(
            app,
            N_("Reconciliation"),
            N_(
                "No statement has been reconciled yet. A technician imports the acquirer's "
                "statement with: countertop reconcile FILE"
            ),
            actions=[("back", N_("Back"), "primary")],
            on_action=back_to_menu(app),
            name="recon_empty",
            action_width=1 / 3,
        )
    )


FLOWS: dict[str, Callable[[App], None]] = {
    "void": void_flow,
    "refund": refund_flow,
    "reprint": reprint_flow,
    "xreport": xreport_flow,
    "settle": settle_flow,
    "forward": forward_flow,
    "recon": recon_flow,
}

SETTLE_RESULTS = {
    "balanced": N_("Balanced"),
    "balanced_after_upload": N_("Balanced after batch upload"),
    "out_of_balance": N_("Out of balance"),
}
RECON_KINDS = {
    "terminal_only": N_("Not at the bank"),
    "acquirer_only": N_("Not in the terminal"),
    "duplicate": N_("Charged twice"),
    "reversed_charged": N_("Reversed but charged"),
    "amount_mismatch": N_("Amount differs"),
    "fee_mismatch": N_("Fee differs"),
    "qr_charged_not_paid": N_("QR charged, told not paid"),
    "qr_cancel_owed": N_("QR charged, cancel owed"),
}
RECON_ISSUES = {
    "missing_at_host": N_("Not at the bank"),
    "missing_at_terminal": N_("Not in the terminal"),
    "amount_mismatch": N_("Amount differs"),
}
TYPE_LABELS = {"sale": N_("Sale"), "void": N_("Void"), "refund": N_("Refund")}
STATE_LABELS = {
    "pending": N_("pending"),
    "approved": N_("approved"),
    "declined": N_("declined"),
    "not_sent": N_("not sent"),
    "reversal_owed": N_("reversal owed"),
    "reversed": N_("reversed"),
    "stored": N_("stored"),
    "forward_declined": N_("declined when forwarded"),
    "voided": N_("voided"),
}
FIELD_LABELS = {
    "sale_count": N_("Sales"),
    "sale_amount": N_("Sales amount"),
    "refund_count": N_("Refunds"),
    "refund_amount": N_("Refunds amount"),
    "void_count": N_("Voids"),
    "void_amount": N_("Voids amount"),
    "batch": N_("Batch"),
    "balanced": N_("Balanced"),
    "forwarded": N_("Forwarded"),
    "reversals": N_("Reversals delivered"),
    "failed": N_("Failed"),
    "remaining": N_("Still owed"),
    "declined": N_("Declined"),
    "sent": N_("Sent"),
    "acknowledged": N_("Acknowledged"),
    "still_owed": N_("Still owed"),
    "errors": N_("Errors"),
}
