"""The application: display, main loop, touch input, status bar and the current screen.

The loop never blocks on I/O: it drains events with ``event.get()`` and sleeps with
``clock.tick`` (10 Hz when idle, 30 Hz while something animates), which costs ≈0.1 % CPU idle
where ``event.wait`` costs ≈3 %. It draws only when something changed. ``on_tick`` is called on
every iteration (the systemd watchdog ping).

Input guard: taps are ignored for ``INPUT_GUARD_S`` after every screen change, so a double tap
never lands on the next screen, and only Cancel is taken while an action the operator started
is still in flight (one action at a time). Inactivity: the supervisor menu closes after
``ui.menu_idle_s`` and the operator is signed out after ``ui.signout_idle_s`` without a tap.
Every time shown uses the terminal's one clock zone, ``locale.timezone``.

``trace`` (or ``COUNTERTOP_UI_TRACE``): a directory where the app writes one JSON line per
screen shown (its name and button centres) and a PNG of it — for the real-window test and
for support.

Touch arrives as FINGER events with x, y normalised to 0–1; SDL also synthesises mouse events
from touch (``event.touch`` true) and those are ignored, so a tap counts once. Real mouse
events (a desktop) work as taps too.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pygame

from appliance.domain.money import Currency, currency, format_amount
from appliance.messages import error_text
from ui import registry
from ui.backend import Backend
from ui.fonts import find_cjk_font
from ui.i18n import N_, I18n
from ui.screen import Screen
from ui.widgets import THEME, Button, Painter, cols

RESOLUTIONS: tuple[tuple[int, int], ...] = ((800, 480), (1024, 600), (720, 720))
IDLE_FPS, ANIMATION_FPS = 10, 30
STATUS_REFRESH_S = 5.0
INPUT_GUARD_S = 0.35  # taps ignored after a screen change (a double tap stays on its screen)
#: Buttons taken while an action is in flight (everything else waits for its answer).
WHILE_BUSY = frozenset({"cancel"})
#: Screens during which the status bar does not open the status screen (a customer prompt).
CUSTOMER_SCREENS = frozenset({"present_card", "processing"})


def parse_resolution(text: str) -> tuple[int, int]:
    """ "800x480" → (800, 480)."""
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


@dataclass(frozen=True)
class Metrics:
    """Sizes derived from the surface: every layout uses these, never fixed pixels."""

    width: int
    height: int
    scale: float
    gap: int
    pad: int
    bar_h: int
    small: int
    body: int
    title: int
    big: int
    touch: int

    @classmethod
    def for_size(cls, width: int, height: int) -> Metrics:
        """Metrics for a ``width`` × ``height`` surface (800×480 and 720×720 are scale 1)."""
        scale = min(width / 720, height / 480)
        return cls(
            width=width,
            height=height,
            scale=scale,
            gap=max(6, round(8 * scale)),
            pad=max(8, round(10 * scale)),
            bar_h=max(56, round(56 * scale)),
            small=max(20, round(20 * scale)),
            body=max(22, round(24 * scale)),
            title=max(22, round(30 * scale)),
            big=max(40, round(64 * scale)),
            touch=64,
        )


@dataclass
class Session:
    """Who is signed in, and the sign-in lockout counter."""

    operator: Any = None
    menu_by: Any = None  # who opened the supervisor menu (may differ from the operator)
    failures: int = 0
    locked_until: float = 0.0


class App:
    """The touchscreen application (one per process)."""

    def __init__(
        self,
        backend: Backend,
        *,
        size: tuple[int, int] = (800, 480),
        fullscreen: bool = False,
        language: str | None = None,
        on_tick: Callable[[], None] | None = None,
        font_path: Path | None = None,
        first_screen: Callable[[App], Screen] | None = None,
        panel_width: int = 0,
        trace: Path | None = None,
    ) -> None:
        self.backend = backend
        cfg = backend.config
        # No language given: the one chosen last time (kept with the terminal state), else
        # the config's. A language given (tests, screenshots, --lang) is used as it is.
        self.i18n = I18n(language or str(cfg.locale.language))
        self.tz = ZoneInfo(str(cfg.locale.timezone))  # the one clock: screen, lists, stubs
        self.menu_idle_s = float(cfg.ui.menu_idle_s)
        self.signout_idle_s = float(cfg.ui.signout_idle_s)
        self.result_seconds = float(cfg.ui.result_seconds)
        env_trace = os.environ.get("COUNTERTOP_UI_TRACE")
        self.trace = trace or (Path(env_trace) if env_trace else None)
        self._traced = 0
        self._trace_due = False
        self._input_after = 0.0
        self.last_input = time.monotonic()
        self.on_tick = on_tick
        font = font_path or find_cjk_font()  # fails early, naming the package to install
        pygame.display.init()
        pygame.font.init()
        flags = pygame.FULLSCREEN if fullscreen else 0
        # The demo's side panel sits right of the terminal screen in the same window.
        self.window = pygame.display.set_mode((size[0] + panel_width, size[1]), flags)
        if panel_width:
            self.surface = self.window.subsurface(pygame.Rect((0, 0), size))
        else:
            self.surface = self.window
        self.panel: Any = None
        pygame.display.set_caption("countertop")
        if fullscreen:
            pygame.mouse.set_visible(False)
        pygame.event.set_blocked([pygame.MOUSEMOTION, pygame.FINGERMOTION])
        self.painter = Painter(font)
        self.metrics = Metrics.for_size(*self.surface.get_size())
        self.clock = pygame.time.Clock()
        self.session = Session()
        self.status: Any = None
        self.status_error = ""
        self.last_txn: Any = None
        self.pressed: str | None = None
        self.running = False
        self.dirty = True
        self.frames = 0
        self.frame_ms: list[float] = []  # wall time of each frame
        self.frame_cpu_ms: list[float] = []  # this thread's CPU time (not other processes')
        self.screen_history: deque[str] = deque(maxlen=200)  # for tests and the demo
        self._status_due = 0.0
        self._status_job = False
        self._minute = ""
        self.screen: Screen = Screen(self)
        self.backend.on_start_failed = self._start_failed
        self._backend_started = False  # started after the first frame (see draw)
        # Host sign-on (working keys, batch) at start-up, so the link state is known early.
        self.backend.call(
            lambda s: s.terminal.sign_on(),
            done=self._signed_on,
            failed=self._status_failed,
            background=True,
        )
        if language is None:
            self.backend.saved_language(done=self._restore_language)
        registry.load()
        self.show(first_screen(self) if first_screen else registry.make("signin", self))

    # -- helpers screens use ----------------------------------------------------------------
    def t(self, msgid: str) -> str:
        """Translate ``msgid`` in the current language ("" stays "")."""
        return self.i18n.t(msgid) if msgid else ""

    @property
    def currency(self) -> Currency:
        """The merchant's currency."""
        return currency(self.backend.config.merchant.currency)

    def money(self, minor: int) -> str:
        """Minor units as shown on screen, with the currency symbol."""
        return format_amount(minor, self.currency, symbol=True)

    def set_language(self, language: str, *, persist: bool = True) -> None:
        """Switch language now (every label is translated at draw time) and keep the choice
        with the terminal state, so a restart comes back in it."""
        self.i18n.set_language(language)
        self.dirty = True
        if persist:
            self.backend.save_language(language)

    def _restore_language(self, language: Any) -> None:
        if language and language != self.i18n.language:
            self.set_language(str(language), persist=False)

    def local(self, moment: datetime) -> datetime:
        """``moment`` on the terminal's clock (``locale.timezone``)."""
        return moment.astimezone(self.tz)

    def now(self) -> datetime:
        """Now on the terminal's clock."""
        return datetime.now(self.tz)

    @property
    def content(self) -> pygame.Rect:
        """The area below the status bar."""
        m = self.metrics
        return pygame.Rect(0, m.bar_h, m.width, m.height - m.bar_h)

    def show(self, screen: Screen) -> None:
        """Make ``screen`` current."""
        self.screen.on_leave()
        self.screen = screen
        self.pressed = None
        self._input_after = time.monotonic() + INPUT_GUARD_S
        screen.layout(self.content)
        screen.on_enter()
        self.screen_history.append(screen.name)
        self._trace_due = self.trace is not None
        self.dirty = True

    def refresh_status(self) -> None:
        """Ask the terminal for its status now (the answer arrives as an event)."""
        self._status_due = 0.0

    def quit(self) -> None:
        """Leave the main loop after this iteration."""
        self.running = False

    # -- main loop --------------------------------------------------------------------------
    def run(self, max_seconds: float | None = None) -> None:
        """Run until ``quit()`` (or ``max_seconds``)."""
        self.running = True
        end = time.monotonic() + max_seconds if max_seconds else None
        while self.running:
            self.step()
            fast = self.screen.animating or self.backend.in_flight
            self.clock.tick(ANIMATION_FPS if fast else IDLE_FPS)
            if end is not None and time.monotonic() >= end:
                break

    def step(self) -> None:
        """One loop iteration: events, timers, status refresh, draw if needed, watchdog."""
        for event in pygame.event.get():
            self.handle(event)
        self._timers()
        if self.dirty:
            self.draw()
        if self.on_tick is not None:
            self.on_tick()

    def _timers(self) -> None:
        now = time.monotonic()
        if self.screen.tick(now):
            self.dirty = True
        minute = self.now().strftime("%H:%M")
        if minute != self._minute:
            self._minute = minute
            self.dirty = True
        if now >= self._status_due and not self._status_job and self.backend.in_flight == 0:
            self._status_job = True
            self._status_due = now + STATUS_REFRESH_S
            self.backend.call(
                lambda s: s.terminal.status(),
                done=self._status_done,
                failed=self._status_failed,
                background=True,
            )
        self._idle(now)

    def _idle(self, now: float) -> None:
        """Close the supervisor menu, then sign the operator out, after idle time."""
        if self.backend.actions_in_flight or self.screen.name in CUSTOMER_SCREENS:
            return
        idle = now - self.last_input
        session = self.session
        if self.signout_idle_s and session.operator is not None and idle >= self.signout_idle_s:
            session.operator = session.menu_by = None
            self.show(registry.make("idle", self))
            return
        elevated = session.menu_by is not None and session.menu_by is not session.operator
        if elevated and idle >= self.menu_idle_s:
            session.menu_by = None  # the supervisor's approval ends with the menu
            self.show(registry.make("home", self))

    def _start_failed(self, exc: BaseException) -> None:
        self.show(
            registry.make(
                "message",
                self,
                N_("The terminal could not start"),
                error_text(exc, self.i18n.language),
                tone="bad",
                actions=(),
                name="start_failed",
            )
        )

    def _signed_on(self, _response: Any) -> None:
        self.refresh_status()

    def set_status(self, status: Any) -> None:
        """Show ``status`` in the bar now (one read with a result, e.g. after forwarding)."""
        self.status, self.status_error = status, ""
        self.dirty = True

    def _status_done(self, status: Any) -> None:
        self._status_job = False
        self.set_status(status)

    def _status_failed(self, exc: BaseException) -> None:
        self._status_job = False
        self.status_error = error_text(exc, "en")  # for the log only: the bar shows "Offline"
        self.dirty = True

    def handle(self, event: pygame.event.Event) -> None:
        """Route one event: backend results, touch, mouse (not from touch), keys, quit."""
        if event.type == self.backend.event_type:
            self.backend.dispatch(event)
            self.dirty = True
        elif event.type == pygame.FINGERDOWN:
            self._down(self._finger_pos(event))
        elif event.type == pygame.FINGERUP:
            self._up(self._finger_pos(event))
        elif event.type == pygame.MOUSEBUTTONDOWN and event.button == 1:
            if not getattr(event, "touch", False):
                self._down(event.pos)
        elif event.type == pygame.MOUSEBUTTONUP and event.button == 1:
            if not getattr(event, "touch", False):
                self._up(event.pos)
        elif event.type == pygame.KEYDOWN:
            self.screen.on_key(event.key, event.unicode)
            self.dirty = True
        elif event.type == pygame.QUIT:
            self.quit()
        elif event.type in (pygame.WINDOWEXPOSED, pygame.VIDEOEXPOSE):
            self.dirty = True

    def _finger_pos(self, event: pygame.event.Event) -> tuple[int, int]:
        w, h = self.window.get_size()
        return min(w - 1, int(event.x * w)), min(h - 1, int(event.y * h))

    def _hit(self, pos: tuple[int, int]) -> Button | None:
        for b in [*self.screen.buttons, self._status_button()]:
            if b.enabled and b.rect.collidepoint(pos):
                return b
        return None

    def _down(self, pos: tuple[int, int]) -> None:
        if self.panel is not None and pos[0] >= self.surface.get_width():
            self.dirty = self.panel.click(pos)
            return
        now = time.monotonic()
        if now < self._input_after:
            self.pressed = None  # the screen just changed: this tap was meant for the last one
            return
        self.last_input = now
        self.screen.on_touch(pos)
        hit = self._hit(pos)
        self.pressed = hit.id if hit else None
        self.dirty = True

    def _up(self, pos: tuple[int, int]) -> None:
        hit = self._hit(pos)
        pressed, self.pressed = self.pressed, None
        self.dirty = True
        if hit is None or hit.id != pressed:
            return  # released outside the button it went down on: no tap
        allowed = getattr(self.screen, "while_busy", WHILE_BUSY)
        if self.backend.actions_in_flight and allowed is not None and hit.id not in allowed:
            return  # one action at a time: its answer decides what comes next
        if hit.id == "statusbar":
            if self.screen.name in CUSTOMER_SCREENS:
                return  # never hide the amount and Cancel while the reader waits
            if self.screen.name != "status" and self.session.operator is not None:
                self.show(registry.make("status", self, back=self.screen))
            return
        self.screen.on_button(hit.id)

    # -- drawing ----------------------------------------------------------------------------
    def draw(self) -> None:
        """Draw a full frame and flip."""
        start, cpu_start = time.perf_counter(), time.thread_time()
        p = self.painter
        p.begin_frame()
        self.surface.fill(THEME.bg)
        self._draw_status_bar()
        self.screen.draw(self.surface, p)
        if self.panel is not None:
            self.panel.draw(self.window, p)
        pygame.display.flip()
        if self._trace_due:
            self._write_trace()
        if not self._backend_started:
            # Only now: a terminal being built on the worker (imports, journal, devices) would
            # compete with the first frame for the interpreter.
            self._backend_started = True
            self.backend.start()
        self.dirty = False
        self.frames += 1
        self.frame_ms.append((time.perf_counter() - start) * 1000)
        self.frame_cpu_ms.append((time.thread_time() - cpu_start) * 1000)
        if len(self.frame_ms) > 2000:
            del self.frame_ms[:1000]
            del self.frame_cpu_ms[:1000]

    def _status_button(self) -> Button:
        m = self.metrics
        return Button("statusbar", "", pygame.Rect(0, 0, m.width, m.bar_h), style="flat")

    def status_items(self) -> list[tuple[str, tuple[int, int, int]]]:
        """The status bar's segments as (text, colour), most important first."""
        th, t, st = THEME, self.t, self.status
        items: list[tuple[str, tuple[int, int, int]]] = []
        if st is None:
            link = "unknown" if not self.status_error else "offline"
        else:
            link = str(getattr(st, "link", "unknown"))
        colour = {"online": th.ok, "degraded": th.warn}.get(link, th.bad)
        items.append(("● " + t(LINK_LABELS.get(link, "Link unknown")), colour))
        if st is not None:
            stored = int(getattr(st, "stored_count", 0) or 0)
            if stored:
                amount = self.money(int(getattr(st, "stored_amount", 0) or 0))
                items.append((t("Stored {n}: {amount}").format(n=stored, amount=amount), th.warn))
            storage = getattr(st, "storage", None) or {}
            if storage.get("level") in ("reserve", "low"):
                full = storage.get("level") == "reserve"
                items.append(
                    (
                        t(N_("Storage full") if full else N_("Storage low")),
                        th.bad if full else th.warn,
                    )
                )
            reversals = int(getattr(st, "pending_reversals", 0) or 0)
            if reversals:
                items.append((t("Reversals owed: {n}").format(n=reversals), th.warn))
            printer = str(getattr(st, "printer", "online"))
            if printer not in ("online", "busy", ""):
                label = t(PRINTER_LABELS.get(printer, "Printer problem"))
                items.append((label, th.bad if printer != "paper_low" else th.warn))
        op = self.session.operator
        if op is not None:
            items.append((t("Operator {n}").format(n=getattr(op, "number", op)), th.text))
        items.append((self._minute or self.now().strftime("%H:%M"), th.text))
        return items

    def _draw_status_bar(self) -> None:
        m, p = self.metrics, self.painter
        bar = pygame.Rect(0, 0, m.width, m.bar_h)
        pressed = self.pressed == "statusbar"
        pygame.draw.rect(self.surface, THEME.pressed if pressed else THEME.panel, bar)
        pygame.draw.line(self.surface, THEME.key_border, bar.bottomleft, bar.bottomright, 1)
        items = self.status_items()
        inner = bar.inflate(-2 * m.pad, -6)
        gap = m.gap * 2
        font = p.font(m.small)
        widths = [font.size(text)[0] for text, _ in items]
        keep = list(range(len(items)))
        # Text never shrinks below 20 px: when it does not fit, the least needed segments go
        # (the operator, then owed reversals, then stored payments); link, printer and the
        # time stay.
        for drop in (len(items) - 2, 2, 1):
            if sum(widths[i] for i in keep) + gap * (len(keep) - 1) <= inner.w:
                break
            if 0 < drop < len(items) - 1 and drop in keep and items[drop][1] != THEME.bad:
                keep.remove(drop)
        items = [items[i] for i in keep]
        weights = [max(1, widths[i]) for i in keep]
        for (text, colour), box in zip(items, cols(inner, weights, gap), strict=True):
            p.text(
                self.surface,
                text,
                box,
                size=m.small,
                color=colour,
                owner="statusbar",
                align="left" if box.x == inner.x else "center",
            )
        p.buttons.append(self._status_button())

    def _write_trace(self) -> None:
        """One JSON line and one PNG for the screen just drawn (``trace``)."""
        assert self.trace is not None
        self._trace_due = False
        self.trace.mkdir(parents=True, exist_ok=True)
        self._traced += 1
        shot = self.trace / f"{self._traced:03d}-{self.screen.name}.png"
        pygame.image.save(self.window, os.fspath(shot))
        buttons = {b.id: list(b.rect.center) for b in self.screen.buttons if b.enabled}
        for b in getattr(self.panel, "buttons", []):
            buttons[f"panel:{b.id}"] = list(b.rect.center)
        line = {
            "screen": self.screen.name,
            "kind": getattr(self.screen, "kind", ""),
            "buttons": buttons,
            "shot": str(shot),
            "language": self.i18n.language,
        }
        with open(self.trace / "screens.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")

    # -- test and demo helpers --------------------------------------------------------------
    def button_center(self, bid: str) -> tuple[int, int]:
        """Where button ``bid`` of the current screen (or "statusbar") is on the surface."""
        if bid == "statusbar":
            return self._status_button().rect.center
        return self.screen.button(bid).rect.center

    def inject_tap(self, pos: tuple[int, int]) -> None:
        """Post a finger down and up at pixel ``pos`` (as the touchscreen would)."""
        w, h = self.window.get_size()
        x, y = (pos[0] + 0.5) / w, (pos[1] + 0.5) / h
        common = {"touch_id": 1, "finger_id": 0, "dx": 0.0, "dy": 0.0, "pressure": 1.0}
        pygame.event.post(pygame.event.Event(pygame.FINGERDOWN, x=x, y=y, **common))
        self.step()
        pygame.event.post(pygame.event.Event(pygame.FINGERUP, x=x, y=y, **common))
        self.step()

    def tap(self, bid: str) -> None:
        """Tap button ``bid`` through the touch path, as a person does: after looking at the
        screen (the input guard has passed)."""
        self.input_ready()
        self.inject_tap(self.button_center(bid))

    def input_ready(self) -> None:
        """End the input guard now (a test's person has looked at the screen)."""
        self._input_after = 0.0

    def double_tap(self, bid: str) -> None:
        """Tap ``bid`` twice in quick succession (the second tap comes within the guard)."""
        pos = self.button_center(bid)
        self.input_ready()
        self.inject_tap(pos)
        self.inject_tap(pos)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Run the loop (waking on each event) until ``predicate()``; TimeoutError otherwise."""
        end = time.monotonic() + timeout
        self.step()
        while not predicate():
            if time.monotonic() > end:
                raise TimeoutError(f"still on {self.screen.name} after {timeout} s")
            event = pygame.event.wait(50)
            if event.type != pygame.NOEVENT:
                self.handle(event)
            self.step()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Run the loop until no backend call is in flight."""
        self.wait_for(lambda: self.backend.in_flight == 0, timeout)

    def save(self, path: Path) -> None:
        """Draw a fresh frame and save it as PNG."""
        self.draw()
        pygame.image.save(self.surface, os.fspath(path))

    def close(self, *, stop_backend: bool = True) -> None:
        """Stop the worker (unless another App will reuse the backend) and the display."""
        if stop_backend:
            self.backend.close()
        pygame.display.quit()


LINK_LABELS: dict[str, str] = {
    "online": N_("Online"),
    "degraded": N_("Link degraded"),
    "offline": N_("Offline"),
    "unknown": N_("Link unknown"),
}
PRINTER_LABELS: dict[str, str] = {
    "paper_out": N_("Printer out of paper"),
    "paper_low": N_("Paper low"),
    "cover_open": N_("Printer cover open"),
    "offline": N_("Printer offline"),
    "busy": N_("Printing…"),
}
