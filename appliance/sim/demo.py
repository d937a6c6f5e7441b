"""``countertop demo``: the whole appliance on mock drivers with the reference acquirer on loopback.

With a display: a window with the terminal screen and a side panel to tap test cards, cut and
restore the link, and take the printer's paper out and in. Headless: a scripted shift driven by
injected touch events (the same path a finger takes) that saves every screen as PNG.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import signal
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygame

from ui.backend import Backend
from ui.widgets import THEME, Button, Painter, rows

log = logging.getLogger(__name__)

#: Operators the demo creates in a fresh journal: (number, name, role, PIN).
DEMO_OPERATORS: tuple[tuple[str, str, str, str], ...] = (
    ("01", "张三 Zhang", "operator", "1234"),
    ("02", "李四 Li", "supervisor", "123456"),
    ("09", "王工 Wang", "technician", "999999"),
)

PANEL_W = 200


@dataclass
class DemoShop:
    """A demo terminal: config, the reference acquirer, the backend and the mock devices."""

    cfg: Any
    acquirer: Any
    backend: Backend
    tmp: tempfile.TemporaryDirectory[str] | None = None
    link_cut: bool = False
    qr_gateway: Any = None  # the reference QR gateway's server (None: QR payments off)

    @property
    def reader(self) -> Any:
        """The mock card reader."""
        return self.backend.terminal.reader

    @property
    def printer(self) -> Any:
        """The mock printer."""
        return self.backend.terminal.printer

    def present(self, card: str) -> None:
        """Tap a test card (visa, mastercard, unionpay, decline, …) on the mock reader."""
        self.reader.present(card)

    def cut_link(self) -> None:
        """The acquirer closes its connections and refuses new ones (a cable pulled)."""
        self.acquirer.set_fault("refuse")
        self.link_cut = True

    def restore_link(self) -> None:
        """The acquirer answers again."""
        self.acquirer.clear_faults()
        self.link_cut = False

    def import_statement(self, inject: tuple[str, ...] = ("amount",)) -> bool:
        """The acquirer's statement of today (with ``inject`` discrepancies) reconciled on the
        backend's worker, as a technician's ``countertop reconcile FILE`` would. False when
        this build has no reconciliation."""
        if importlib.util.find_spec("appliance.services.reconcile") is None:
            return False
        from appliance.services.reconcile import Reconciler
        from appliance.sim.acquirer.statement import statement_text

        cfg, terminal = self.cfg, self.backend.terminal
        text = statement_text(
            self.acquirer.books,
            datetime.now(UTC).date(),
            cfg.settlement.fees_bp,
            inject,
            tid=cfg.merchant.tid,
        )
        self.backend.submit(
            lambda _r: Reconciler(terminal).reconcile_text(text, name="acquirer-statement.csv")
        )
        return True

    def close(self) -> None:
        """Stop the terminal and the acquirer, remove the temporary state."""
        self.backend.close()
        self.backend.terminal.close()
        self.acquirer.stop()
        if self.qr_gateway is not None:
            self.qr_gateway.stop()
        if self.tmp is not None:
            self.tmp.cleanup()


def prepare_demo(directory: Path) -> Path:
    """Write a demo config in ``directory`` (``config init --demo``) with demo operators."""
    from appliance.bootstrap import open_journal
    from appliance.config import load_config
    from appliance.operators import OperatorStore
    from appliance.sim.shop import free_port, init_demo

    # A demo link gives up quickly so a cut cable shows within seconds, not half a minute.
    path = init_demo(
        directory / "terminal.toml",
        port=free_port(),
        overrides={"host": {"response_timeout": 2.0, "connect_timeout": 1.0}},
    )
    journal = open_journal(load_config(path))
    try:
        store = OperatorStore(journal)
        if not store.list():
            for number, name, role, pin in DEMO_OPERATORS:
                store.add(number, name, role, pin, by="demo")
    finally:
        journal.close()
    return path


def demo_backend(cfg: Any, *, auto_card: bool = False, deferred: bool = False) -> Backend:
    """The backend of a demo terminal; the mock reader waits for a tap unless ``auto_card``.

    ``deferred``: built by the backend's worker, as ``countertop run`` does.
    """

    def build() -> tuple[Any, Any]:
        from appliance.bootstrap import build_indicators, build_services
        from appliance.operators import OperatorStore
        from drivers.reader.mock import MockReader

        overrides: dict[str, Any] = {}
        if not auto_card:
            overrides["reader"] = MockReader(None)
        try:
            overrides["indicators"] = build_indicators(cfg)
        except ImportError:
            # The LED driver is not in this build: the on-screen mirror is the only display.
            log.warning("indicators driver not available: LEDs shown on screen only")
            overrides["indicators"] = ScreenOnlyIndicators()
        services = build_services(cfg, **overrides)
        terminal = services.terminal
        return services, OperatorStore(terminal.journal)

    if deferred:
        return Backend(config=cfg, build=build)
    return Backend(*build())


def open_demo_shop(directory: Path | None = None, *, auto_card: bool = False) -> DemoShop:
    """A fresh demo shop in ``directory`` (a temporary one by default)."""
    from appliance.config import load_config
    from appliance.sim.shop import acquirer_for

    tmp = None
    if directory is None:
        tmp = tempfile.TemporaryDirectory(prefix="countertop-demo-")
        directory = Path(tmp.name)
    cfg = load_config(prepare_demo(directory))
    acquirer = acquirer_for(cfg)  # faults are switched in-process: no control port
    acquirer.start()
    gateway = None
    try:
        if cfg.qr.gateway:
            from appliance.sim.shop import qr_gateway_for

            gateway = qr_gateway_for(cfg).start()  # QR payments: the reference QR gateway
        backend = demo_backend(cfg, auto_card=auto_card)
    except BaseException:
        acquirer.stop()
        if gateway is not None:
            gateway.stop()
        raise
    return DemoShop(cfg, acquirer, backend, tmp, qr_gateway=gateway)


class ScreenOnlyIndicators:
    """Indicators with no hardware behind them (demo builds without the LED driver)."""

    def show(self, state: Any) -> None:
        """Nothing to drive: the screen mirror shows the state."""

    def close(self) -> None:
        """Nothing to release."""


# -- the side panel (interactive demo) ------------------------------------------------------
@dataclass
class DemoPanel:
    """Buttons beside the terminal screen that act on the simulated world."""

    shop: DemoShop
    rect: pygame.Rect
    buttons: list[Button] = field(default_factory=list)
    note: str = ""
    scans: int = 0  # payment codes shown to the scanner so far

    def layout(self) -> None:
        """One column of buttons."""
        inner = self.rect.inflate(-16, -16)
        ids = [
            ("visa", "Tap Visa"),
            ("mastercard", "Tap Mastercard"),
            ("unionpay", "Tap UnionPay"),
            ("decline", "Tap declined card"),
            ("scan", "Scan WeChat code"),
            ("link", "Cut link"),
            ("paper", "Paper out"),
        ]
        cells = rows(inner, [1] * (len(ids) + 1), 6)
        self.note_box = cells[-1]
        self.buttons = [
            Button(i, label, c, raw=True) for (i, label), c in zip(ids, cells, strict=False)
        ]

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """The panel background, its buttons (labels follow the state) and a note."""
        pygame.draw.rect(surface, (24, 24, 24), self.rect)
        for b in self.buttons:
            if b.id == "link":
                b.label = "Restore link" if self.shop.link_cut else "Cut link"
            if b.id == "paper":
                b.label = "Paper in" if self.shop.printer.sim.paper == "out" else "Paper out"
            painter.button(surface, b, b.label, pressed=False)
        painter.paragraph(
            surface, self.note, self.note_box, size=14, color=THEME.dim, owner="panel"
        )

    def click(self, pos: tuple[int, int]) -> bool:
        """Act on a click inside the panel; True when it hit a button."""
        for b in self.buttons:
            if b.rect.collidepoint(pos):
                if b.id == "link":
                    self.shop.restore_link() if self.shop.link_cut else self.shop.cut_link()
                elif b.id == "paper":
                    if self.shop.printer.sim.paper == "out":
                        self.shop.printer.restore()
                    else:
                        self.shop.printer.paper_out()
                elif b.id == "scan":
                    self.note = self._scan()
                    return True
                else:
                    self.shop.present(b.id)
                self.note = b.label
                return True
        return False

    def _scan(self) -> str:
        """The customer's phone under the scanner: a WeChat Pay payment code (18 digits from
        13), new each time; the note says whether a scan prompt took it."""
        self.scans += 1
        scanner = self.shop.backend.terminal.scanner
        code = f"13{self.scans:016d}"
        if scanner is None or not hasattr(scanner, "scan"):
            return "No scanner configured"
        return "Scanned a WeChat code" if scanner.scan(code) else "No scan prompt: code ignored"


def run_interactive(
    size: tuple[int, int], language: str, on_tick: Callable[[], None] | None = None
) -> int:
    """The demo in a window, with the side panel. Returns an exit code."""
    from ui.app import App

    shop = open_demo_shop()
    try:
        app = App(shop.backend, size=size, language=language, on_tick=on_tick, panel_width=PANEL_W)
        panel = DemoPanel(shop, pygame.Rect(size[0], 0, PANEL_W, size[1]))
        panel.layout()
        app.panel = panel
        signal.signal(signal.SIGTERM, lambda _sig, _frame: app.quit())
        print("demo: operator 01 PIN 1234; supervisor 02 PIN 123456; technician 09 PIN 999999")
        # Echo tests and forwarding when the link returns, as on the device ("Restore link"
        # then forwards the stored payments by itself).
        from appliance.services.link_monitor import LinkWorker

        shop.backend.wait_ready()
        worker = LinkWorker(shop.backend.terminal)
        worker.start()
        try:
            app.run()
        finally:
            worker.stop()
        app.close()
    finally:
        shop.close()
    return 0


# -- the scripted shift (headless) ----------------------------------------------------------
@dataclass
class Shift:
    """Drives an App through a shift with injected taps, saving each screen."""

    app: Any
    shop: DemoShop
    out: Path | None
    shots: list[Path] = field(default_factory=list)
    results: list[str] = field(default_factory=list)

    def shot(self, label: str) -> None:
        """Save the current screen as ``NN_label.png``."""
        if self.out is None:
            return
        path = self.out / f"{len(self.shots) + 1:02d}_{label}.png"
        self.app.save(path)
        self.shots.append(path)

    def wait(self, name: str | tuple[str, ...], timeout: float = 20.0) -> None:
        """Run the loop until the screen named ``name`` (or one of them) is current."""
        names = (name,) if isinstance(name, str) else name
        self.app.wait_for(lambda: self.app.screen.name in names, timeout)

    def wait_prefix(self, prefix: str, timeout: float = 20.0) -> str:
        """Run the loop until a screen whose name starts with ``prefix``; return its name."""
        self.app.wait_for(lambda: self.app.screen.name.startswith(prefix), timeout)
        return str(self.app.screen.name)

    def type(self, digits: str) -> None:
        """Tap digits on the keypad."""
        for d in digits:
            self.app.tap("k" + d)

    def sign_in(self, number: str, pin: str) -> None:
        """Operator sign-in through the keypad."""
        self.app.tap("field0")
        self.type(number)
        self.app.tap("field1")
        self.type(pin)
        self.app.tap("signin")
        self.wait("home")

    def sale(self, amount_digits: str, card: str, label: str) -> str:
        """Type an amount, charge, tap ``card``; return the result screen's name."""
        self.wait("home")
        self.type(amount_digits)
        self.shot(f"{label}_amount")
        self.app.tap("charge")
        self.app.wait_for(
            lambda: (
                self.app.screen.name == "present_card" and self.app.screen.step == "present_card"
            )
        )
        self.shot(f"{label}_present_card")
        self.shop.present(card)
        result = self.wait_prefix("result")
        self.app.wait_idle()
        self.shot(f"{label}_{result}")
        self.results.append(result)
        return result

    def menu(self, supervisor: tuple[str, str] = ("02", "123456")) -> None:
        """Open the menu (a supervisor signs in on the gate if needed)."""
        self.app.tap("menu")
        if self.app.screen.name == "supervisor":
            self.type(supervisor[0])
            if self.app.screen.focus == 0:  # a two-digit number moves on to the PIN by itself
                self.app.tap("next")
            self.type(supervisor[1])
            self.app.tap("next")
        self.wait("menu")

    def new_sale(self) -> None:
        """Leave a result screen for the amount keypad (a void's or refund's result goes
        back to the menu: leave it too)."""
        self.app.tap("new")
        self.wait(("home", "menu"))
        if self.app.screen.name == "menu":
            self.app.tap("back")
        self.wait("home")


def run_shift(
    shop: DemoShop,
    out: Path | None,
    *,
    size: tuple[int, int] = (800, 480),
    language: str = "zh_CN",
    sales: int = 0,
    on_tick: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The scripted shift; ``sales`` > 0 runs that many plain sales instead (bench)."""
    from ui.app import App

    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    app = App(shop.backend, size=size, language=language, on_tick=on_tick)
    s = Shift(app, shop, out)
    try:
        app.wait_idle()
        s.shot("signin")
        s.sign_in("01", "1234")
        if sales:
            for i in range(sales):
                s.sale(str(100 + i), "visa", f"sale{i}")
                s.new_sale()
            return {"sales": sales, "results": s.results, "frames": app.frames}
        s.sale("1250", "visa", "sale")
        s.app.tap("print")
        app.wait_idle()
        s.shot("customer_copy")
        s.new_sale()
        s.sale("8800", "decline", "decline")
        s.new_sale()
        s.sale("3000", "unionpay", "sale2")
        s.new_sale()
        # void the last sale, picked from today's list
        s.menu()
        s.shot("menu")
        app.tap("void")
        app.tap("list")
        s.wait("void_list")
        s.shot("void_list")
        app.tap(app.screen.buttons[0].id)
        s.wait("void_confirm")  # after the void rule answered
        s.shot("void_confirm")
        app.tap("confirm")
        s.results.append(s.wait_prefix("result"))
        app.wait_idle()
        s.shot("void_result")
        s.new_sale()
        # the link goes down and the paper runs out: payments are stored, stubs wait
        shop.cut_link()
        shop.printer.paper_out()
        for i, amount in enumerate(("1800", "2600")):
            s.sale(amount, "mastercard", f"offline{i + 1}")
            s.new_sale()
        app.refresh_status()
        app.step()
        app.wait_for(lambda: app.status is not None and app.status.printer == "paper_out")
        app.tap("statusbar")
        s.wait("status")
        s.shot("status_offline_paper_out")
        app.tap("back")
        shop.printer.restore()
        # the link is back: forward the stored payments now
        shop.restore_link()
        s.menu()
        app.tap("forward")
        s.wait(("forward_result", "result_error"), timeout=30)
        s.shot("forward_result")
        app.tap("back")
        app.tap("reprint")
        app.tap("last")
        s.wait("reprint")
        app.tap("print_merchant")
        app.wait_idle()
        s.shot("reprint")
        app.tap("back")
        app.tap("xreport")
        app.wait_idle()
        s.shot("xreport")
        app.tap("back")
        app.tap("settle")
        app.wait_idle()
        s.shot("settlement")
        if app.screen.name == "settle_preview":
            app.tap("confirm")
            s.wait(("settle_result", "result_error"), timeout=60)
            s.shot("settlement_result")
            s.results.append(app.screen.name)
        app.tap(app.screen.buttons[-1].id)
        s.wait("menu")
        if shop.import_statement():  # the acquirer's statement arrives, one amount differs
            app.wait_idle()
        app.tap("recon")
        app.wait_idle()
        s.shot("reconciliation")
        app.tap(app.screen.buttons[-1].id)
        s.wait("menu")
        app.tap("tech")
        s.shot("technician")
        app.tap("about")
        s.shot("about")
        app.tap("back")
        app.tap("back")
        app.tap("signout")
        s.wait("signin")
        s.shot("signed_out")
        app.wait_idle()
        receipts = write_receipts(shop, out / "receipts") if out is not None else []
        status = shop.backend.terminal.status()
        return {
            "screens": len(s.shots),
            "receipts": len(receipts),
            "results": s.results,
            "stored_after": status.stored_count,
            "reversals_after": status.pending_reversals,
            "print_jobs_waiting": status.print_jobs_waiting,
            "frames": app.frames,
            "out": str(out) if out else None,
        }
    finally:
        app.close()


def receipt_file_name(what: str) -> str:
    """A file name for a print job from what the queue says it is.

    ``"sale merchant 000003"`` → ``sale-merchant-000003``, ``"settlement 000001"`` →
    ``settlement-000001``; a statement path in a reconciliation job keeps only its stem.
    """
    words = [Path(w).stem if "/" in w else w for w in what.split()]
    return re.sub(r"[^0-9a-z_]+", "-", "-".join(words).lower()).strip("-") or "job"


def write_receipts(shop: DemoShop, out: Path) -> list[Path]:
    """Every job the mock printer printed, drawn as the paper would look (PNG), named by what
    it is (``sale-merchant-000003.png``, ``settlement-000001.png``; a repeat gets ``-2``)."""
    from drivers.printer.escpos_render import render_png

    queue = shop.backend.terminal.receipts
    queue.drain()  # print what is still queued before looking
    what = {job.id: job.what for job in queue.jobs(limit=100_000)}
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for job_id, data in shop.printer.jobs:
        stem = receipt_file_name(what.get(job_id, "job"))
        path, n = out / f"{stem}.png", 1
        while path in written:
            n += 1
            path = out / f"{stem}-{n}.png"
        render_png(data, path, shop.printer.profile.dots)
        written.append(path)
    return written


def run_headless(out: Path, size: tuple[int, int], language: str) -> dict[str, Any]:
    """Open a demo shop, run the scripted shift into ``out``, close everything."""
    shop = open_demo_shop()
    try:
        summary = run_shift(shop, out, size=size, language=language)
        summary["story"] = story(shop)
        return summary
    finally:
        shop.close()


def story(shop: DemoShop) -> list[str]:
    """What happened in the shift, one line per transaction, from the journal and the ledger."""
    from appliance.domain.money import format_amount

    term = shop.backend.terminal
    ledger = {(r["type"], int(r["stan"])): r["status"] for r in shop.acquirer.ledger()}
    lines = []
    for t in term.journal.transactions():
        host = ledger.get((t.type.value, t.stan)) or ledger.get(("advice", t.stan)) or "-"
        how = "stored offline, then forwarded" if t.offline else "online"
        lines.append(
            f"trace {t.trace}  {t.type.value:<6} {format_amount(t.amount, term.cur):>8} "
            f"{t.currency}  {t.masked_pan or '-':<19} {t.state.value:<16} ({how}; "
            f"acquirer: {host})"
        )
    return lines
