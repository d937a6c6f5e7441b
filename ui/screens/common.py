"""Reusable screens: keypad entry, message/result, progress, and a paged list.

Flows (sale, void, refund, …) are built from these with callbacks, so each flow is a few lines
and every screen shares one tested layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pygame

from ui.i18n import LANGUAGE_NAMES, LANGUAGES, N_
from ui.registry import register
from ui.screens.base import Screen
from ui.widgets import THEME, Button, Color, Painter, cols, grid, rows

if TYPE_CHECKING:
    from ui.app import App

Action = tuple[str, str, str]  # (id, label msgid, style)
KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "back"]
KEY_LABELS = {"clear": N_("Clear"), "back": "←"}
TONES: dict[str, Color] = {
    "ok": THEME.ok,
    "bad": THEME.bad,
    "warn": THEME.warn,
    "info": THEME.text,
}


def draw_spinner(surface: pygame.Surface, box: pygame.Rect, seconds: float) -> None:
    """A ring of dots whose bright end turns once a second (drawn from the clock)."""
    radius = min(box.h, box.w) // 2 - 4
    centre = box.center
    phase = seconds * 2 * math.pi
    for i in range(12):
        angle = phase + i * math.pi / 6
        shade = 60 + 195 * i // 11
        x = centre[0] + int(math.cos(angle) * radius * 0.8)
        y = centre[1] + int(math.sin(angle) * radius * 0.8)
        pygame.draw.circle(surface, (shade, shade, shade), (x, y), max(3, radius // 7))


def landscape(rect: pygame.Rect) -> bool:
    """True when the content area is wide enough for side-by-side panels."""
    return rect.w >= rect.h * 1.3


def language_switch(app: App, button: Button) -> None:
    """Label a language switch with every language, the one in use marked (● 中文 ○ English):
    the names are not translated, so each reads in its own language."""
    button.raw = True
    button.label = "\n".join(
        f"{'●' if code == app.i18n.language else '○'} {LANGUAGE_NAMES[code]}" for code in LANGUAGES
    )


def action_buttons(
    app: App,
    rect: pygame.Rect,
    actions: Sequence[Action],
    weights: Sequence[float] | None = None,
) -> list[Button]:
    """A row of action buttons filling ``rect``, equally wide unless ``weights`` are given."""
    if not actions:
        return []
    cells = cols(rect, list(weights) if weights else [1] * len(actions), app.metrics.gap)
    return [
        Button(a, label, c, style=style)
        for (a, label, style), c in zip(actions, cells, strict=True)
    ]


@dataclass
class Field:
    """One value typed on the keypad. ``kind``: "amount" (cents-shift), "digits", "secret"."""

    label: str
    kind: str = "digits"
    max_len: int = 12
    value: str = ""
    advance: bool = False  # move to the next field once ``max_len`` digits are typed
    fresh: bool = False  # ``value`` is a suggestion: the first digit typed replaces it

    def shown(self, app: App) -> str:
        """The value as displayed (amounts formatted, secrets as dots)."""
        if self.kind == "amount":
            return app.money(int(self.value or 0))
        if self.kind == "secret":
            return "●" * len(self.value)
        return self.value

    @property
    def number(self) -> int:
        """The value as an integer (0 when empty)."""
        return int(self.value or 0)


class EntryScreen(Screen):
    """Fields filled from a numeric keypad, with action buttons.

    ``on_action(action_id, screen)`` runs for every action button; the screen's ``fields``,
    ``message`` and ``tone`` are the state it reads and sets.
    """

    name = "entry"

    def __init__(
        self,
        app: App,
        title: str,
        fields: list[Field],
        actions: Sequence[Action],
        on_action: Callable[[str, EntryScreen], None],
        *,
        name: str = "entry",
        hint: str = "",
    ) -> None:
        super().__init__(app)
        self.title = title
        self.fields = fields
        self.actions = list(actions)
        self.on_action = on_action
        self.name = name
        self.focus = 0
        self.message = hint
        self.tone = "info"
        self.enabled = True

    @property
    def field(self) -> Field:
        """The focused field."""
        return self.fields[self.focus]

    def layout(self, rect: pygame.Rect) -> None:
        """Keypad on the right (landscape) or below (square/portrait); the actions span the
        bottom in both, the main one on the right (where the next screen puts no way out)."""
        super().layout(rect)
        m = self.app.metrics
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        nf = len(self.fields)
        if landscape(rect):
            body, actions_box = rows(inner, [4.3, 1.0], m.gap)
            left, keypad = cols(body, [45, 55], m.gap * 2)
            parts = rows(left, [0.7] + [1.2] * nf + [0.8], m.gap)
        else:
            weights = [0.5] + [0.8] * nf + [0.45, 4.0, 0.8]
            parts = rows(inner, weights, m.gap)
            keypad = parts.pop(-2)
            actions_box = parts[-1]
        self.title_box = parts[0]
        self.field_boxes = parts[1 : 1 + nf]
        self.message_box = parts[1 + nf]
        self.buttons = [
            Button(f"field{i}", "", box, style="flat") for i, box in enumerate(self.field_boxes)
        ]
        for key, cell in zip(KEYS, grid(keypad, 4, 3, m.gap), strict=True):
            style = "key" if key.isdigit() else "flat"
            self.buttons.append(
                Button(
                    f"k{key}" if key.isdigit() else key,
                    KEY_LABELS.get(key, key),
                    cell,
                    style=style,
                    raw=key.isdigit(),
                    size=int(cell.h * 0.45),
                )
            )
        self.buttons += action_buttons(self.app, actions_box, self.actions)

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """Title, fields (focused one outlined), message line, keypad and actions."""
        m, th = self.app.metrics, THEME
        painter.text(
            surface, self.t(self.title), self.title_box, size=m.title, align="left", owner="title"
        )
        for b in self.buttons:
            if not b.id.startswith("field"):
                b.enabled = self.enabled
        self.draw_buttons(surface, painter)  # first: the field boxes are drawn over their buttons
        for i, (fld, box) in enumerate(zip(self.fields, self.field_boxes, strict=True)):
            focused = i == self.focus and len(self.fields) > 1
            pygame.draw.rect(surface, th.panel, box, border_radius=8)
            pygame.draw.rect(
                surface,
                th.pressed if focused else th.key_border,
                box,
                width=3 if focused else 1,
                border_radius=8,
            )
            inner_box = box.inflate(-2 * m.pad, -4)
            # The label gets what it needs (at least a third): it is never cut or shrunk.
            need = painter.font(m.small).size(self.t(fld.label))[0] + m.gap
            share = max(32.0, min(60.0, 100 * need / max(inner_box.w, 1)))
            label_box, value_box = cols(inner_box, [share, 100 - share], m.gap)
            painter.text(
                surface,
                self.t(fld.label),
                label_box,
                size=m.small,
                color=th.dim,
                align="left",
                owner=f"field{i}",
            )
            size = m.big if fld.kind == "amount" else m.title
            painter.text(
                surface, fld.shown(self.app), value_box, size=size, align="right", owner=f"field{i}"
            )
        if self.message:
            painter.paragraph(
                surface,
                self.message,
                self.message_box,
                size=m.small,
                color=TONES.get(self.tone, th.text),
                align="left",
                owner="message",
            )

    def on_button(self, bid: str) -> None:
        """Keys edit the focused field; field boxes take focus; actions go to ``on_action``."""
        if bid.startswith("field"):
            self.focus = int(bid[5:])
            return
        if not self.enabled:
            return
        fld = self.field
        if self.tone == "bad" and (bid.startswith("k") or bid in ("clear", "back")):
            self.message, self.tone = "", "info"  # typing answers "type the amount first"
        if bid.startswith("k") or bid in ("clear", "back"):
            fresh, fld.fresh = fld.fresh, False
        else:
            fresh = False
        if bid.startswith("k") and bid[1:].isdigit():
            digits = ("" if fresh else fld.value) + bid[1:]
            if fld.kind == "amount":
                digits = digits.lstrip("0")
            if len(digits) <= fld.max_len:
                fld.value = digits
            full = fld.kind == "digits" and len(fld.value) == fld.max_len
            if full and fld.advance and self.focus + 1 < len(self.fields):
                self.focus += 1  # an operator number is complete at two digits: on to the PIN
        elif bid == "clear":
            fld.value = ""
        elif bid == "back":
            fld.value = fld.value[:-1]
        else:
            self.on_action(bid, self)

    def on_key(self, key: int, text: str) -> None:
        """Digits, backspace and Enter from a desktop keyboard."""
        if text.isdigit():
            self.on_button("k" + text)
        elif key == pygame.K_BACKSPACE:
            self.on_button("back")
        elif key in (pygame.K_RETURN, pygame.K_KP_ENTER) and self.actions:
            main = [a for a, _label, style in self.actions if style == "primary"]
            self.on_button(main[0] if main else self.actions[-1][0])

    def say(self, message: str, tone: str = "bad") -> None:
        """Show a message line under the fields."""
        self.message, self.tone = message, tone
        self.app.dirty = True


@register("message")
class MessageScreen(Screen):
    """A titled message with optional detail rows and action buttons (results, errors, info)."""

    def __init__(
        self,
        app: App,
        title: str,
        message: str = "",
        *,
        tone: str = "info",
        details: Sequence[tuple[str, str]] = (),
        actions: Sequence[Action] = (("ok", N_("OK"), "primary"),),
        on_action: Callable[[str], None] | None = None,
        name: str = "message",
        translate: bool = True,
        action_width: float = 1.0,
    ) -> None:
        super().__init__(app)
        self.title = title
        self.message = message
        self.action_width = action_width
        self.tone = tone
        self.details = list(details)
        self.actions = list(actions)
        self.on_action = on_action
        self.name = name
        self.translate = translate

    def _t(self, text: str) -> str:
        return self.t(text) if self.translate else text

    def layout(self, rect: pygame.Rect) -> None:
        """Title band, message, detail table, action row."""
        super().layout(rect)
        m = self.app.metrics
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        nd = len(self.details)
        # Room for a message even when there is none yet (e.g. "Printing…" appears later).
        weights = [1.0, 1.3 if self.message else 0.5]
        if nd:
            weights.append(0.45 * nd)
        weights.append(1.0)
        parts = rows(inner, weights, m.gap)
        self.title_box, self.message_box = parts[0], parts[1]
        self.details_box = parts[2] if nd else None
        row = parts[-1]
        # At the bottom and no taller than a fifth of the screen: the menu button that opened
        # this screen (mid-grid) is never under its Back.
        h = min(row.h, max(m.touch, inner.h // 5))
        row = pygame.Rect(row.x, row.bottom - h, int(row.w * self.action_width), h)
        self.buttons = action_buttons(self.app, row, self.actions)

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """Coloured title, wrapped message, label/value rows, buttons."""
        m, th = self.app.metrics, THEME
        colour = TONES.get(self.tone, th.text)
        pygame.draw.rect(surface, th.panel, self.title_box, border_radius=8)
        pygame.draw.rect(surface, colour, self.title_box, width=3, border_radius=8)
        painter.text(
            surface,
            self._t(self.title),
            self.title_box.inflate(-2 * m.pad, -4),
            size=m.title,
            color=colour,
            owner="title",
        )
        if self.message:
            painter.paragraph(
                surface, self._t(self.message), self.message_box, size=m.body, owner="message"
            )
        self.draw_details(surface, painter)
        self.draw_buttons(surface, painter)

    def draw_details(self, surface: pygame.Surface, painter: Painter) -> None:
        """The label/value rows."""
        if self.details_box is None:
            return
        m, th = self.app.metrics, THEME
        for (label, value), row in zip(
            self.details, rows(self.details_box, [1] * len(self.details), 2), strict=True
        ):
            lbox, vbox = cols(row.inflate(-2 * m.pad, 0), [40, 60], m.gap)
            painter.text(
                surface,
                self._t(label),
                lbox,
                size=m.small,
                color=th.dim,
                align="left",
                owner="details",
            )
            painter.text(surface, value, vbox, size=m.small, align="right", owner="details")

    def on_button(self, bid: str) -> None:
        """Forward the action."""
        if self.on_action is not None:
            self.on_action(bid)


class ProgressScreen(Screen):
    """Work in progress: a spinner, a message, a progress bar when the total is known."""

    animating = True

    def __init__(
        self,
        app: App,
        title: str,
        message: str = "",
        *,
        name: str = "progress",
        actions: Sequence[Action] = (),
        on_action: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(app)
        self.title = title
        self.message = message
        self.name = name
        self.actions = list(actions)
        self.on_action = on_action
        self.done_n = 0
        self.total = 0
        self.started = self.now()
        self.phases: dict[str, str] = {}  # phase reported by the service → message msgid

    def progress(self, value: tuple[Any, ...]) -> None:
        """Report ``(done, total)`` or ``(done, total, phase)``; a known phase names the step."""
        self.done_n, self.total = int(value[0]), int(value[1])
        if len(value) > 2 and str(value[2]) in self.phases:
            self.message = self.phases[str(value[2])]
        self.app.dirty = True

    def layout(self, rect: pygame.Rect) -> None:
        """Title, spinner, message, bar, optional actions."""
        super().layout(rect)
        m = self.app.metrics
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        parts = rows(inner, [1, 2, 1, 0.5, 1], m.gap)
        self.title_box, self.spin_box, self.message_box, self.bar_box = parts[:4]
        self.buttons = action_buttons(self.app, parts[4], self.actions)

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """Spinner angle comes from the clock, so every frame moves it."""
        m, th = self.app.metrics, THEME
        painter.text(surface, self.t(self.title), self.title_box, size=m.title, owner="title")
        draw_spinner(surface, self.spin_box, self.now() - self.started)
        if self.message:
            painter.paragraph(
                surface, self.t(self.message), self.message_box, size=m.body, owner="message"
            )
        if self.total:
            bar = self.bar_box.inflate(-self.bar_box.w // 5, -self.bar_box.h // 3)
            pygame.draw.rect(surface, th.panel, bar, border_radius=6)
            filled = bar.copy()
            filled.w = bar.w * min(self.done_n, self.total) // self.total
            pygame.draw.rect(surface, th.ok, filled, border_radius=6)
            painter.text(
                surface, f"{self.done_n} / {self.total}", bar, size=m.small, owner="progress"
            )
        self.draw_buttons(surface, painter)

    def on_button(self, bid: str) -> None:
        """Forward the action (e.g. cancel)."""
        if self.on_action is not None:
            self.on_action(bid)


class ListScreen(Screen):
    """A paged list of rows (each a touch target), with page and back buttons."""

    def __init__(
        self,
        app: App,
        title: str,
        items: Sequence[tuple[str, str, str]],
        on_pick: Callable[[str], None],
        on_back: Callable[[], None],
        *,
        empty: str = N_("Nothing to show"),
        name: str = "list",
        extra: Sequence[Action] = (),
        on_action: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(app)
        self.title = title
        self.items = list(items)
        self.on_pick = on_pick
        self.on_back = on_back
        self.extra = list(extra)  # more actions between the page buttons and Back
        self.on_action = on_action
        self.empty = empty
        self.name = name
        self.page = 0

    def layout(self, rect: pygame.Rect) -> None:
        """As many ≥64 px rows as fit, then the page/back row."""
        super().layout(rect)
        m = self.app.metrics
        inner = rect.inflate(-2 * m.pad, -2 * m.pad)
        title_h = m.title + 2 * m.gap
        action_h = max(m.touch, inner.h // 6)
        self.title_box = pygame.Rect(inner.x, inner.y, inner.w, title_h)
        body = pygame.Rect(
            inner.x,
            self.title_box.bottom + m.gap,
            inner.w,
            inner.h - title_h - action_h - 2 * m.gap,
        )
        self.per_page = max(1, (body.h + m.gap) // (m.touch + m.gap))
        self.row_boxes = rows(body, [1] * self.per_page, m.gap)
        self.actions_box = pygame.Rect(inner.x, inner.bottom - action_h, inner.w, action_h)
        self._rebuild()

    @property
    def pages(self) -> int:
        """Number of pages (at least one)."""
        return max(1, math.ceil(len(self.items) / self.per_page))

    def _rebuild(self) -> None:
        start = self.page * self.per_page
        shown = self.items[start : start + self.per_page]
        self.buttons = [
            Button(f"item:{iid}", "", box, style="key")
            for (iid, _l, _r), box in zip(shown, self.row_boxes, strict=False)
        ]
        self.shown = shown
        # An extra action takes width from Back (one short word), not from the arrows: the
        # arrows keep the left half, where the screen an extra opens may put its Cancel, and
        # "Order no." stays on one line in a 720 px wide row.
        back = 1.0 - 0.25 * len(self.extra)
        self.buttons += action_buttons(
            self.app,
            self.actions_box,
            [
                ("prev", "▲", "flat"),
                ("next", "▼", "flat"),
                *self.extra,
                ("back", N_("Back"), "normal"),
            ],
            [1.0, 1.0, *[1.25] * len(self.extra), max(back, 0.5)],
        )
        self.button("prev").enabled = self.page > 0
        self.button("next").enabled = self.page < self.pages - 1

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """Rows show a left and a right text; the title shows the page."""
        m = self.app.metrics
        title = self.t(self.title)
        if self.pages > 1:
            title += f"  ({self.page + 1}/{self.pages})"
        painter.text(surface, title, self.title_box, size=m.title, align="left", owner="title")
        if not self.items:
            painter.paragraph(
                surface, self.t(self.empty), self.row_boxes[0], size=m.body, owner="empty"
            )
        self.draw_buttons(surface, painter)
        for (_iid, left, right), b in zip(self.shown, self.buttons, strict=False):
            pressed = self.app.pressed == b.id
            colour = (0, 0, 0) if pressed else THEME.text
            lbox, rbox = cols(b.rect.inflate(-2 * m.pad, -4), [62, 38], m.gap)
            painter.text(surface, left, lbox, size=m.body, color=colour, align="left", owner=b.id)
            painter.text(surface, right, rbox, size=m.body, color=colour, align="right", owner=b.id)

    def draw_buttons(self, surface: pygame.Surface, painter: Painter) -> None:
        """Row buttons carry their own two texts; draw them with an empty label."""
        for b in self.buttons:
            label = "" if b.id.startswith("item:") else (b.label if b.raw else self.t(b.label))
            painter.button(surface, b, label, pressed=self.app.pressed == b.id)

    def on_button(self, bid: str) -> None:
        """Page, go back, or pick a row."""
        if bid == "prev" and self.page > 0:
            self.page -= 1
            self._rebuild()
        elif bid == "next" and self.page < self.pages - 1:
            self.page += 1
            self._rebuild()
        elif bid == "back":
            self.on_back()
        elif bid.startswith("item:"):
            self.on_pick(bid[5:])
        elif self.on_action is not None and any(a[0] == bid for a in self.extra):
            self.on_action(bid)
