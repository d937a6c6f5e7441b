"""The screen base class: a screen lays itself out in a rect, draws, and reacts to buttons."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pygame

from ui.widgets import Button, Painter

if TYPE_CHECKING:
    from ui.app import App


class Screen:
    """One full screen below the status bar.

    Subclasses must override ``layout`` (compute ``self.buttons`` and regions from the rect;
    called on entry and whenever the surface size changes) and ``draw``; they may override
    ``on_button``, ``on_key``, ``on_enter``, ``on_leave`` and ``tick``.
    """

    #: A short name for tests and screenshots ("home", "present_card", …).
    name = "screen"
    #: Whether the screen moves by itself (spinner): the loop then ticks faster.
    animating = False
    #: Buttons taken while an operator's action is in flight (None: every button; a screen
    #: whose every tap stops what runs, like the technician's read test).
    while_busy: frozenset[str] | None = frozenset({"cancel"})

    def __init__(self, app: App) -> None:
        self.app = app
        self.buttons: list[Button] = []
        self.rect = pygame.Rect(0, 0, 0, 0)

    def t(self, msgid: str) -> str:
        """Translate ``msgid`` in the current language."""
        return self.app.t(msgid)

    def layout(self, rect: pygame.Rect) -> None:
        """Compute button rects and regions for ``rect``."""
        self.rect = rect

    def draw(self, surface: pygame.Surface, painter: Painter) -> None:
        """Draw the screen (the base draws the buttons)."""
        self.draw_buttons(surface, painter)

    def draw_buttons(self, surface: pygame.Surface, painter: Painter) -> None:
        """Draw every button, showing the pressed one inverted."""
        for b in self.buttons:
            label = b.label if b.raw else self.t(b.label)
            painter.button(surface, b, label, pressed=self.app.pressed == b.id)

    def button(self, bid: str) -> Button:
        """The button with id ``bid`` (KeyError if the screen has none)."""
        for b in self.buttons:
            if b.id == bid:
                return b
        raise KeyError(bid)

    def on_button(self, bid: str) -> None:
        """A button was tapped (pressed and released inside it)."""

    def on_touch(self, pos: tuple[int, int]) -> None:
        """A finger or the mouse went down at ``pos`` (before any button handling)."""

    def on_key(self, key: int, text: str) -> None:
        """A key on a desktop keyboard (optional convenience; touch is the real input)."""

    def on_enter(self) -> None:
        """The screen became current."""

    def on_leave(self) -> None:
        """The screen stopped being current."""

    def tick(self, now: float) -> bool:
        """Called every loop iteration; return True when the screen must be redrawn."""
        return self.animating

    @staticmethod
    def now() -> float:
        """Monotonic seconds (for countdowns)."""
        return time.monotonic()
