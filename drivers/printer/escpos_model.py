"""What a receipt printer puts on paper, as data: styled characters, lines, images, QR codes,
cuts, drawer kicks and feeds (the blocks ``escpos_decode.decode`` returns).

Sizes are in printer dots (203 dpi): a character cell of font A is 12 x 24 dots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from appliance.errors import DeviceError

#: Dots per text line before any ``ESC 3``: 1/6 inch at 203 dpi, rounded as most firmware does.
DEFAULT_LINE_SPACING = 30

#: Character cell (width, height) in dots for font A and font B.
FONT_CELLS: dict[str, tuple[int, int]] = {"a": (12, 24), "b": (9, 17)}

_ESC, _GS, _FS, _DLE = 0x1B, 0x1D, 0x1C, 0x10


class EscposDecodeError(DeviceError, ValueError):
    """The ESC/POS bytes contain a command the decoder does not know, or are truncated."""


@dataclass(frozen=True)
class Style:
    """Character style in force when a character was received."""

    bold: bool = False
    underline: int = 0
    width: int = 1  # multiplier 1-8
    height: int = 1
    invert: bool = False
    font: str = "a"


@dataclass(frozen=True)
class Glyph:
    """One printed character; ``wide`` characters (CJK) take two cells."""

    char: str
    style: Style
    wide: bool = False

    def width_dots(self) -> int:
        """Width of this character on paper, in dots."""
        cell_w, _ = FONT_CELLS[self.style.font]
        return cell_w * (2 if self.wide else 1) * self.style.width

    def height_dots(self) -> int:
        """Height of this character on paper, in dots."""
        _, cell_h = FONT_CELLS[self.style.font]
        return cell_h * self.style.height


@dataclass
class TextLine:
    """A printed line of text (possibly empty: a blank line)."""

    glyphs: list[Glyph]
    align: str = "left"
    spacing: int = DEFAULT_LINE_SPACING

    @property
    def text(self) -> str:
        """The characters of the line."""
        return "".join(g.char for g in self.glyphs)

    def width_dots(self) -> int:
        """Width of the line's characters in dots."""
        return sum(g.width_dots() for g in self.glyphs)


@dataclass
class ImageBlock:
    """A bitmap (mode "1", black = 0) printed by ``GS v 0``, ``GS ( L`` or ``ESC *``."""

    bitmap: Image.Image
    align: str = "left"
    band: bool = field(default=False, repr=False)  # ESC * band: merged with its neighbours


@dataclass
class QrBlock:
    """A QR code printed natively by the printer (``GS ( k``)."""

    data: str
    module: int = 3
    ec: str = "L"
    align: str = "left"


@dataclass
class CutBlock:
    """The paper was cut."""

    partial: bool = False


@dataclass
class DrawerBlock:
    """A cash drawer kick pulse on connector pin 2 or 5."""

    pin: int = 2


@dataclass
class FeedBlock:
    """Paper fed by a number of dots without printing (``ESC J``)."""

    dots: int


Block = TextLine | ImageBlock | QrBlock | CutBlock | DrawerBlock | FeedBlock
