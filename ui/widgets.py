"""Drawing primitives: theme, layout helpers, buttons, and a painter that records what it drew.

Every piece of text is drawn through ``Painter`` into a box; the painter shrinks the font until
the text fits and records ``DrawnText(text, rect, box, owner)`` for the frame, so tests can
check at every resolution and language that nothing is cut or overlapping.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import pygame

Color = tuple[int, int, int]


@dataclass(frozen=True)
class Theme:
    """High-contrast colours (white on near-black; saturated action colours)."""

    bg: Color = (14, 20, 28)
    panel: Color = (30, 40, 54)
    text: Color = (245, 247, 250)
    dim: Color = (170, 182, 196)
    key: Color = (52, 66, 86)
    key_border: Color = (120, 140, 165)
    primary: Color = (22, 128, 60)
    danger: Color = (190, 40, 40)
    warn: Color = (214, 150, 0)
    pressed: Color = (250, 210, 60)
    disabled: Color = (40, 46, 56)
    ok: Color = (40, 190, 90)
    bad: Color = (235, 70, 70)
    led_off: Color = (60, 66, 76)
    led_on: Color = (60, 220, 110)


THEME = Theme()
MIN_TOUCH = 64  # px: the smallest touch target the layout may produce
MIN_TEXT = 20  # px: no text is drawn smaller (readable at arm's length on a 7" 800×480)
CACHE_ENTRIES = 160  # rendered texts kept (a screen draws at most ~60)


def cols(rect: pygame.Rect, weights: list[float], gap: int = 0) -> list[pygame.Rect]:
    """Split ``rect`` horizontally by ``weights`` with ``gap`` px between parts."""
    total = sum(weights)
    free = rect.w - gap * (len(weights) - 1)
    out, x = [], rect.x
    for i, w in enumerate(weights):
        width = rect.right - x if i == len(weights) - 1 else round(free * w / total)
        out.append(pygame.Rect(x, rect.y, width, rect.h))
        x += width + gap
    return out


def rows(rect: pygame.Rect, weights: list[float], gap: int = 0) -> list[pygame.Rect]:
    """Split ``rect`` vertically by ``weights`` with ``gap`` px between parts."""
    total = sum(weights)
    free = rect.h - gap * (len(weights) - 1)
    out, y = [], rect.y
    for i, w in enumerate(weights):
        height = rect.bottom - y if i == len(weights) - 1 else round(free * w / total)
        out.append(pygame.Rect(rect.x, y, rect.w, height))
        y += height + gap
    return out


def grid(rect: pygame.Rect, nrows: int, ncols: int, gap: int) -> list[pygame.Rect]:
    """Cells of an ``nrows`` × ``ncols`` grid, row by row."""
    return [c for r in rows(rect, [1] * nrows, gap) for c in cols(r, [1] * ncols, gap)]


@dataclass
class Button:
    """A touch target. ``label`` is a msgid (translated when drawn) unless ``raw``."""

    id: str
    label: str
    rect: pygame.Rect
    style: str = "normal"  # normal | primary | danger | key | flat
    enabled: bool = True
    raw: bool = False
    size: int = 0  # font size; 0 = derived from the button height


@dataclass(frozen=True)
class DrawnText:
    """One run of text drawn this frame: where it landed and the box it had to stay inside."""

    text: str
    rect: pygame.Rect
    box: pygame.Rect
    owner: str
    size: int = 0


@dataclass
class Painter:
    """Fonts by size, a render cache, and the registry of text and buttons drawn this frame."""

    font_path: Path
    theme: Theme = THEME
    texts: list[DrawnText] = field(default_factory=list)
    buttons: list[Button] = field(default_factory=list)
    _fonts: dict[int, pygame.font.Font] = field(default_factory=dict)
    _cache: OrderedDict[tuple[str, int, Color], pygame.Surface] = field(default_factory=OrderedDict)

    def begin_frame(self) -> None:
        """Forget the previous frame's registry."""
        self.texts = []
        self.buttons = []

    def font(self, size: int) -> pygame.font.Font:
        """The font at ``size`` px (loaded once)."""
        f = self._fonts.get(size)
        if f is None:
            f = self._fonts[size] = pygame.font.Font(str(self.font_path), size)
        return f

    def render(self, text: str, size: int, color: Color) -> pygame.Surface:
        """Rendered text, cached (fonts are the slow part of a frame).

        Least recently used first out, and few entries: big amount digits are ~50 KB each and
        every sale has a new amount, so an unbounded cache is what would grow over a shift.
        """
        key = (text, size, color)
        surf = self._cache.get(key)
        if surf is None:
            surf = self._cache[key] = self.font(size).render(text, True, color)
            if len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return surf

    def fit_size(self, text: str, box: pygame.Rect, size: int, min_size: int = 12) -> int:
        """The largest size ≤ ``size`` at which ``text`` fits in ``box`` on one line.

        Text width grows about linearly with the size, so one estimate lands within a step or
        two: few sizes are tried, and few fonts get loaded (each costs ≈0.3 MB).
        """
        w, h = self.font(size).size(text)
        if (w <= box.w and h <= box.h) or size <= min_size:
            return size
        estimate = int(size * min(box.w / max(w, 1), box.h / max(h, 1)))
        size = max(min_size, min(size - 1, estimate))
        while size > min_size:
            w, h = self.font(size).size(text)
            if w <= box.w and h <= box.h:
                break
            size -= 1
        return size

    def text(
        self,
        surface: pygame.Surface,
        text: str,
        box: pygame.Rect,
        *,
        size: int,
        color: Color | None = None,
        align: str = "center",
        owner: str = "",
        min_size: int = MIN_TEXT,
    ) -> pygame.Rect:
        """Draw one line into ``box`` (shrinking to fit, never below ``MIN_TEXT``), record
        it, and return its rect."""
        if not text:
            return pygame.Rect(box.x, box.y, 0, 0)
        size = self.fit_size(text, box, max(size, MIN_TEXT), max(min_size, MIN_TEXT))
        surf = self.render(text, size, color or self.theme.text)
        rect = surf.get_rect()
        rect.centery = box.centery
        if align == "left":
            rect.left = box.left
        elif align == "right":
            rect.right = box.right
        else:
            rect.centerx = box.centerx
        surface.blit(surf, rect)
        self.texts.append(DrawnText(text, rect, box, owner, size))
        return rect

    def wrap(self, text: str, width: int, size: int) -> list[str]:
        """Break ``text`` into lines no wider than ``width`` (words, or characters for CJK)."""
        font = self.font(size)
        lines: list[str] = []
        for para in text.split("\n"):
            line = ""
            tokens = _tokens(para)
            for tok in tokens:
                trial = line + tok
                if line and font.size(trial.rstrip())[0] > width:
                    lines.append(line.rstrip())
                    line = tok.lstrip()
                else:
                    line = trial
            lines.append(line.rstrip())
        return lines

    def paragraph(
        self,
        surface: pygame.Surface,
        text: str,
        box: pygame.Rect,
        *,
        size: int,
        color: Color | None = None,
        align: str = "center",
        owner: str = "",
        min_size: int = MIN_TEXT,
    ) -> None:
        """Draw wrapped text into ``box``, vertically centred, shrinking until it fits."""
        min_size = max(min_size, MIN_TEXT)
        size = max(size, min_size)
        while True:
            lines = self.wrap(text, box.w, size)
            font = self.font(size)
            # Rendered text can be taller than the line spacing: the taller one keeps it whole.
            line_h = max(font.get_linesize(), *(font.size(line)[1] for line in lines))
            widest = max(self.font(size).size(line)[0] for line in lines)
            if (line_h * len(lines) <= box.h and widest <= box.w) or size <= min_size:
                break
            size -= 2 if size > 24 else 1
        y = box.centery - line_h * len(lines) // 2
        for line in lines:
            line_box = pygame.Rect(box.x, y, box.w, line_h)
            self.text(
                surface,
                line,
                line_box,
                size=size,
                color=color,
                align=align,
                owner=owner,
                min_size=size,
            )
            y += line_h

    def button(self, surface: pygame.Surface, button: Button, label: str, pressed: bool) -> None:
        """Draw a button (pressed state inverted with a bright border) and register it."""
        th = self.theme
        fill = {
            "primary": th.primary,
            "danger": th.danger,
            "key": th.key,
            "flat": th.panel,
        }.get(button.style, th.key)
        color = th.text
        if not button.enabled:
            fill, color = th.disabled, th.dim
        if pressed:
            fill, color = th.pressed, (0, 0, 0)
        radius = max(4, min(button.rect.h, button.rect.w) // 8)
        pygame.draw.rect(surface, fill, button.rect, border_radius=radius)
        if button.style != "flat":
            border = th.pressed if pressed else th.key_border
            pygame.draw.rect(surface, border, button.rect, width=2, border_radius=radius)
        pad = max(4, radius // 2 + 4)
        inner = button.rect.inflate(-2 * pad, -2 * max(2, pad // 2))
        size = button.size or max(14, min(int(button.rect.h * 0.42), 40))
        self.paragraph(surface, label, inner, size=size, color=color, owner=button.id)
        self.buttons.append(button)


def _tokens(text: str) -> list[str]:
    """Wrap units: Latin words with their trailing space, single CJK characters."""
    out: list[str] = []
    word = ""
    for ch in text:
        if ord(ch) > 0x2E80:  # CJK and fullwidth: may break anywhere
            if word:
                out.append(word)
                word = ""
            out.append(ch)
        elif ch == " ":
            out.append(word + " ")
            word = ""
        else:
            word += ch
    if word:
        out.append(word)
    return out
