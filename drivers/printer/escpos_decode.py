"""Decode the ESC/POS subset countertop and python-escpos emit, and render it as text or PNG.

This is what the mock printer "prints": tests and the laptop demo read receipts back as text
(``render_text``) or look at them as a picture of the paper (``render_png``). The decoder is
strict on purpose: a command it does not know raises ``EscposDecodeError`` naming the bytes and
their offset, so a renderer that starts emitting something new is caught in tests instead of
printing garbage on a real printer.

Understood commands (Epson ESC/POS numbering):

- text: printable bytes in the current code table (``ESC t``; tables as python-escpos's default
  profile numbers them), GB18030 between ``FS &`` and ``FS .`` (Chinese mode), LF, CR, HT
- style: ``ESC @`` ``ESC !`` ``GS !`` ``ESC E`` ``ESC G`` ``ESC -`` ``ESC M`` ``ESC a`` ``GS B``
  ``ESC {`` ``ESC r`` ``GS b`` ``GS |`` ``ESC R`` ``FS !`` ``FS W`` ``FS -`` ``FS C``
- spacing and feed: ``ESC 2`` ``ESC 3`` ``ESC A`` ``ESC +`` ``ESC d`` ``ESC J`` ``ESC D``
- images: ``GS v 0`` (raster), ``GS ( L`` functions 112/50 (graphics), ``ESC *`` (column)
- QR: ``GS ( k`` with cn=49, functions 65/67/69/80/81
- paper and peripherals: ``GS V`` (cut), ``ESC p`` (drawer kick), ``ESC =``, ``ESC c 5``,
  ``ESC B`` (buzzer), ``DLE EOT n`` (status query: no printed output)

Raw bytes >= 0x80 outside Chinese mode are decoded with the current code table, exactly as a
printer without Chinese firmware would: GB18030 sent without ``FS &`` comes out as mojibake.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from appliance.errors import DeviceError
from drivers.printer.fonts import find_cjk_font, find_mono_font

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


@functools.cache
def _code_table(n: int) -> tuple[str, ...]:
    """Characters 0x80-0xFF of ESC t table ``n`` as python-escpos numbers and encodes them."""
    from escpos.capabilities import get_profile
    from escpos.magicencode import Encoder

    name = get_profile().codePages.get(str(n), "Unknown")
    if name == "Unknown":
        raise EscposDecodeError(f"ESC t {n}: code table {n} is not one countertop can decode")
    return tuple(Encoder._get_codepage_char_list(name))


class _Decoder:
    """Walks the bytes once, keeping the printer's mode state, and collects blocks."""

    def __init__(self, data: bytes, dots: int | None, chinese_default: bool) -> None:
        self.data = data
        self.pos = 0
        self.dots = dots
        self.chinese_default = chinese_default
        self.blocks: list[Block] = []
        self._reset()

    def _reset(self) -> None:
        self.style = Style()
        self.align = "left"
        self.spacing = DEFAULT_LINE_SPACING
        self.table = 0
        self.chinese = self.chinese_default
        self.kanji_double_w = False
        self.kanji_double_h = False
        self.line: list[Glyph] = []
        self.band: Image.Image | None = None
        self.graphic: Image.Image | None = None
        self.qr_data = ""
        self.qr_module = 3
        self.qr_ec = "L"

    # -- byte access -------------------------------------------------------------------

    def error(self, what: str, start: int) -> EscposDecodeError:
        shown = self.data[start : start + 8].hex(" ").upper()
        return EscposDecodeError(f"{what} at offset {start} (bytes {shown})")

    def take(self, n: int, start: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise self.error(f"truncated {what}", start)
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self, start: int, what: str) -> int:
        return self.take(1, start, what)[0]

    # -- output --------------------------------------------------------------------------

    def flush_line(self) -> None:
        """LF: print the buffer as one line (an empty buffer feeds a blank line)."""
        if self.band is not None:
            self.blocks.append(ImageBlock(self.band, self.align, band=True))
            self.band = None
            if not self.line:
                return
        self.blocks.append(TextLine(self.line, self.align, self.spacing))
        self.line = []

    def flush_if_pending(self) -> None:
        if self.line or self.band is not None:
            self.flush_line()

    def add_glyph(self, char: str, wide: bool) -> None:
        style = self.style
        if wide and (self.kanji_double_w or self.kanji_double_h):
            style = replace(
                style,
                width=min(8, style.width * (2 if self.kanji_double_w else 1)),
                height=min(8, style.height * (2 if self.kanji_double_h else 1)),
            )
        glyph = Glyph(char, style, wide)
        if self.dots is not None and self.line:
            used = sum(g.width_dots() for g in self.line)
            if used + glyph.width_dots() > self.dots:
                self.flush_line()  # the printer wraps at the paper edge
        self.line.append(glyph)

    # -- main loop -----------------------------------------------------------------------

    def run(self) -> list[Block]:
        while self.pos < len(self.data):
            start = self.pos
            b = self.data[self.pos]
            self.pos += 1
            if b == 0x0A:
                self.flush_line()
            elif b == 0x0D:
                pass  # CR only matters with auto line feed, which receipts never enable
            elif b == 0x09:
                col = len(self.line)
                self.line.extend(Glyph(" ", self.style) for _ in range(8 - col % 8))
            elif b == _ESC:
                self.esc(start)
            elif b == _GS:
                self.gs(start)
            elif b == _FS:
                self.fs(start)
            elif b == _DLE:
                self.dle(start)
            elif b < 0x20:
                raise self.error(f"unknown control byte 0x{b:02X}", start)
            elif b < 0x80:
                self.add_glyph(chr(b), False)
            elif self.chinese:
                self.gb18030(b, start)
            else:
                char = _code_table(self.table)[b - 0x80]
                self.add_glyph(char, False)
        self.flush_if_pending()
        return _merge_bands(self.blocks)

    def gb18030(self, lead: int, start: int) -> None:
        if not 0x81 <= lead <= 0xFE:
            raise self.error("invalid GB18030 lead byte in Chinese mode", start)
        second = self.byte(start, "GB18030 character")
        raw = bytes((lead, second))
        if 0x30 <= second <= 0x39:
            raw += self.take(2, start, "GB18030 four-byte character")
        try:
            char = raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise self.error("invalid GB18030 character in Chinese mode", start) from exc
        self.add_glyph(char, unicodedata.east_asian_width(char) in "WF")

    # -- ESC -----------------------------------------------------------------------------

    def esc(self, start: int) -> None:
        cmd = self.byte(start, "ESC command")
        c = chr(cmd)
        if c == "@":
            self._reset()
        elif c == "a":
            n = self.byte(start, "ESC a")
            self.align = {0: "left", 1: "center", 2: "right"}.get(n % 48 if n >= 48 else n, "")
            if not self.align:
                raise self.error(f"ESC a with invalid alignment {n}", start)
        elif c in "EG":
            self.style = replace(self.style, bold=bool(self.byte(start, "ESC E") & 1))
        elif c == "-":
            n = self.byte(start, "ESC -")
            self.style = replace(self.style, underline=(n - 48 if n >= 48 else n) & 3)
        elif c == "!":
            n = self.byte(start, "ESC !")
            self.style = replace(
                self.style,
                font="b" if n & 0x01 else "a",
                bold=bool(n & 0x08),
                height=2 if n & 0x10 else 1,
                width=2 if n & 0x20 else 1,
                underline=1 if n & 0x80 else 0,
            )
        elif c == "M":
            n = self.byte(start, "ESC M")
            self.style = replace(self.style, font="a" if n in (0, 48) else "b")
        elif c == "d":
            n = self.byte(start, "ESC d")
            if self.line or self.band is not None:
                self.flush_line()
            for _ in range(n):
                self.flush_line()
        elif c == "J":
            n = self.byte(start, "ESC J")
            self.flush_if_pending()
            self.blocks.append(FeedBlock(n))
        elif c == "t":
            n = self.byte(start, "ESC t")
            try:
                _code_table(n)  # fail here, where the bad table is chosen
            except EscposDecodeError as exc:
                raise self.error(str(exc), start) from exc
            self.table = n
        elif c in "R{r=":
            # international set, upside-down, colour, select peripheral: no effect on layout
            self.byte(start, f"ESC {c}")
        elif c == "2":
            self.spacing = DEFAULT_LINE_SPACING
        elif c == "3":
            self.spacing = self.byte(start, "ESC 3")
        elif c == "A":
            self.spacing = round(self.byte(start, "ESC A") * 203 / 60)
        elif c == "+":
            self.spacing = round(self.byte(start, "ESC +") * 203 / 360)
        elif c == "p":
            m = self.byte(start, "ESC p")
            self.take(2, start, "ESC p pulse times")
            self.flush_if_pending()
            self.blocks.append(DrawerBlock(2 if m in (0, 48) else 5))
        elif c == "c":
            if self.byte(start, "ESC c") != ord("5"):
                raise self.error("unknown ESC c command", start)
            self.byte(start, "ESC c 5")
        elif c == "B":
            self.take(2, start, "ESC B")  # the printer's own buzzer: nothing printed
        elif c == "D":
            while self.byte(start, "ESC D tab positions") != 0:
                pass
        elif c == "*":
            self.column_image(start)
        else:
            raise self.error(f"unknown ESC/POS command ESC {c!r}", start)

    def column_image(self, start: int) -> None:
        m = self.byte(start, "ESC *")
        lo, hi = self.take(2, start, "ESC * width")
        width = lo + 256 * hi
        if m not in (0, 1, 32, 33):
            raise self.error(f"ESC * with unknown mode {m}", start)
        rows = 24 if m >= 32 else 8
        per_col = rows // 8
        raw = self.take(width * per_col, start, "ESC * image data")
        img = Image.new("1", (width, rows), 1)
        px = img.load()
        for x in range(width):
            for byte_i in range(per_col):
                value = raw[x * per_col + byte_i]
                for bit in range(8):
                    if value & (0x80 >> bit):
                        px[x, byte_i * 8 + bit] = 0
        scale_x = 1 if m in (1, 33) else 2
        scale_y = 1 if m >= 32 else 3
        if scale_x != 1 or scale_y != 1:
            img = img.resize((width * scale_x, rows * scale_y), Image.Resampling.NEAREST)
        if self.line:
            self.flush_line()
        self.band = img

    # -- GS ------------------------------------------------------------------------------

    def gs(self, start: int) -> None:
        cmd = self.byte(start, "GS command")
        c = chr(cmd)
        if c == "!":
            n = self.byte(start, "GS !")
            self.style = replace(self.style, width=(n >> 4) + 1, height=(n & 0x0F) + 1)
            if self.style.width > 8 or self.style.height > 8:
                raise self.error(f"GS ! with invalid size 0x{n:02X}", start)
        elif c == "B":
            self.style = replace(self.style, invert=bool(self.byte(start, "GS B") & 1))
        elif c in "b|":
            self.byte(start, f"GS {c}")  # smoothing, density: no effect on layout
        elif c == "V":
            m = self.byte(start, "GS V")
            if m in (65, 66):
                self.byte(start, "GS V feed")
            elif m not in (0, 1, 48, 49):
                raise self.error(f"GS V with unknown cut mode {m}", start)
            self.flush_if_pending()
            self.blocks.append(CutBlock(partial=m in (1, 49, 66)))
        elif c == "v":
            self.raster_image(start)
        elif c == "(":
            fn_class = chr(self.byte(start, "GS ( command"))
            lo, hi = self.take(2, start, f"GS ( {fn_class} length")
            body = self.take(lo + 256 * hi, start, f"GS ( {fn_class} data")
            if fn_class == "k":
                self.qr(body, start)
            elif fn_class == "L":
                self.graphics(body, start)
            else:
                raise self.error(f"unknown ESC/POS command GS ( {fn_class}", start)
        else:
            raise self.error(f"unknown ESC/POS command GS {c!r}", start)

    def raster_image(self, start: int) -> None:
        if self.byte(start, "GS v") != ord("0"):
            raise self.error("unknown GS v command (only GS v 0 is known)", start)
        m = self.byte(start, "GS v 0")
        xl, xh, yl, yh = self.take(4, start, "GS v 0 size")
        width_bytes, height = xl + 256 * xh, yl + 256 * yh
        raw = self.take(width_bytes * height, start, "GS v 0 image data")
        img = _bitmap(raw, width_bytes * 8, height)
        scale_x = 2 if m & 1 else 1
        scale_y = 2 if m & 2 else 1
        if scale_x != 1 or scale_y != 1:
            img = img.resize((img.width * scale_x, height * scale_y), Image.Resampling.NEAREST)
        self.flush_if_pending()
        self.blocks.append(ImageBlock(img, self.align))

    def graphics(self, body: bytes, start: int) -> None:
        if len(body) < 2:
            raise self.error("truncated GS ( L", start)
        fn = body[1]
        if fn == 112:  # store raster graphics: a bx by c xL xH yL yH d...
            if len(body) < 10:
                raise self.error("truncated GS ( L function 112", start)
            bx, by = body[3], body[4]
            width, height = body[6] + 256 * body[7], body[8] + 256 * body[9]
            width_bytes = (width + 7) // 8
            raw = body[10:]
            if len(raw) != width_bytes * height:
                raise self.error("GS ( L function 112 data length does not match size", start)
            img = _bitmap(raw, width_bytes * 8, height).crop((0, 0, width, height))
            if bx == 2 or by == 2:
                img = img.resize((width * bx, height * by), Image.Resampling.NEAREST)
            self.graphic = img
        elif fn == 50:  # print stored graphics
            if self.graphic is None:
                raise self.error("GS ( L print without stored graphics", start)
            self.flush_if_pending()
            self.blocks.append(ImageBlock(self.graphic, self.align))
            self.graphic = None
        else:
            raise self.error(f"unknown GS ( L function {fn}", start)

    def qr(self, body: bytes, start: int) -> None:
        if len(body) < 2 or body[0] != 49:
            raise self.error("GS ( k for a 2D code other than QR", start)
        fn, args = body[1], body[2:]
        if fn == 65:  # model
            pass
        elif fn == 67:
            self.qr_module = args[0] if args else 3
        elif fn == 69:
            level = args[0] if args else 48
            self.qr_ec = {48: "L", 49: "M", 50: "Q", 51: "H"}.get(level, "")
            if not self.qr_ec:
                raise self.error(f"GS ( k with unknown error correction {level}", start)
        elif fn == 80:
            try:
                self.qr_data = args[1:].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self.error("QR data is not UTF-8", start) from exc
        elif fn == 81:
            self.flush_if_pending()
            self.blocks.append(QrBlock(self.qr_data, self.qr_module, self.qr_ec, self.align))
        else:
            raise self.error(f"unknown GS ( k QR function {fn}", start)

    # -- FS and DLE ------------------------------------------------------------------------

    def fs(self, start: int) -> None:
        c = chr(self.byte(start, "FS command"))
        if c == "&":
            self.chinese = True
        elif c == ".":
            self.chinese = False
        elif c == "!":
            n = self.byte(start, "FS !")
            self.kanji_double_w = bool(n & 0x04)
            self.kanji_double_h = bool(n & 0x08)
        elif c == "W":
            n = self.byte(start, "FS W")
            self.kanji_double_w = self.kanji_double_h = bool(n & 1)
        elif c in "-C":
            self.byte(start, f"FS {c}")
        else:
            raise self.error(f"unknown ESC/POS command FS {c!r}", start)

    def dle(self, start: int) -> None:
        if self.byte(start, "DLE command") != 0x04:
            raise self.error("unknown DLE command (only DLE EOT is known)", start)
        n = self.byte(start, "DLE EOT")
        if n not in (1, 2, 3, 4):
            raise self.error(f"DLE EOT with unknown status type {n}", start)


def _bitmap(raw: bytes, width: int, height: int) -> Image.Image:
    """ESC/POS raster bits (1 = black, MSB first) as a Pillow "1" image (0 = black)."""
    return Image.frombytes("1", (width, height), bytes(255 - b for b in raw))


def _merge_bands(blocks: list[Block]) -> list[Block]:
    """Join consecutive ``ESC *`` bands into one image, as they appear on paper."""
    merged: list[Block] = []
    for block in blocks:
        prev = merged[-1] if merged else None
        if (
            isinstance(block, ImageBlock)
            and block.band
            and isinstance(prev, ImageBlock)
            and prev.band
        ):
            img = Image.new(
                "1",
                (
                    max(prev.bitmap.width, block.bitmap.width),
                    prev.bitmap.height + block.bitmap.height,
                ),
                1,
            )
            img.paste(prev.bitmap, (0, 0))
            img.paste(block.bitmap, (0, prev.bitmap.height))
            merged[-1] = ImageBlock(img, prev.align, band=True)
        else:
            merged.append(block)
    return merged


def decode(data: bytes, *, dots: int | None = None, chinese_default: bool = False) -> list[Block]:
    """Decode ESC/POS bytes into printed blocks (lines, images, QR codes, cuts, drawer kicks).

    ``dots``: paper width; when given, long lines wrap at the edge as on paper.
    ``chinese_default``: start in Chinese mode (firmware configured that way at power-on).
    Raises EscposDecodeError for unknown or truncated commands.
    """
    return _Decoder(data, dots, chinese_default).run()


def _offset(align: str, used: int, width: int) -> int:
    if align == "center":
        return max(0, (width - used) // 2)
    if align == "right":
        return max(0, width - used)
    return 0


def render_text(data: bytes, *, dots: int | None = None, chinese_default: bool = False) -> str:
    """The job as plain text, one printed line per text line.

    Images show as ``[image WxH]``, QR codes as ``[QR: <data>]``, cuts as ``--- cut ---`` and
    drawer kicks as ``[drawer kick]``. With ``dots`` (paper width) lines wrap at the paper edge
    and centred/right-aligned lines are padded with spaces (one per 12-dot cell).
    """
    out: list[str] = []
    for block in decode(data, dots=dots, chinese_default=chinese_default):
        if isinstance(block, TextLine):
            pad = 0
            if dots is not None:
                pad = _offset(block.align, block.width_dots(), dots) // FONT_CELLS["a"][0]
            out.append((" " * pad + block.text).rstrip())
        elif isinstance(block, ImageBlock):
            out.append(f"[image {block.bitmap.width}x{block.bitmap.height}]")
        elif isinstance(block, QrBlock):
            out.append(f"[QR: {block.data}]")
        elif isinstance(block, CutBlock):
            out.append("--- cut ---")
        elif isinstance(block, DrawerBlock):
            out.append("[drawer kick]")
    return "".join(line + "\n" for line in out)


class _GlyphPainter:
    """Draws characters into their cells, loading the fonts once per render."""

    def __init__(self) -> None:
        self._fonts: dict[tuple[str, int], ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}
        self._cache: dict[tuple[str, str, bool], Image.Image] = {}

    def font(self, cjk: bool, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        key = ("cjk" if cjk else "mono", size)
        if key not in self._fonts:
            path = find_cjk_font() if cjk else find_mono_font()
            if path is None:
                try:
                    path = find_cjk_font()
                except Exception:  # no font at all: Pillow's built-in one still shows Latin
                    self._fonts[key] = ImageFont.load_default(size)
                    return self._fonts[key]
            self._fonts[key] = ImageFont.truetype(str(path), size)
        return self._fonts[key]

    def cell(self, glyph: Glyph) -> Image.Image:
        """The glyph at 1x size, black on white ("L" mode)."""
        key = (glyph.char, glyph.style.font, glyph.wide)
        if key not in self._cache:
            cell_w, cell_h = FONT_CELLS[glyph.style.font]
            w = cell_w * (2 if glyph.wide else 1)
            img = Image.new("L", (w, cell_h), 255)
            cjk = glyph.wide or ord(glyph.char) > 0x2E7F
            size = cell_h - 2 if cjk else round(cell_h * 0.8)
            ImageDraw.Draw(img).text(
                (w // 2, cell_h // 2), glyph.char, font=self.font(cjk, size), fill=0, anchor="mm"
            )
            self._cache[key] = img
        return self._cache[key]

    def draw(self, glyph: Glyph) -> Image.Image:
        """The glyph with its style applied, at its printed size."""
        img = self.cell(glyph)
        s = glyph.style
        if s.bold:  # a one-dot smear is what double-strike firmware does too
            bolder = img.copy()
            bolder.paste(
                0,
                (0, 0, img.width, img.height),
                mask=_dark_mask(img).transform(
                    img.size, Image.Transform.AFFINE, (1, 0, -1, 0, 1, 0)
                ),
            )
            img = bolder
        if s.width != 1 or s.height != 1:
            img = img.resize((img.width * s.width, img.height * s.height), Image.Resampling.NEAREST)
        if s.underline:
            img = img.copy()  # never draw into the cached cell
            ImageDraw.Draw(img).rectangle(
                (0, img.height - s.underline, img.width - 1, img.height - 1), fill=0
            )
        if s.invert:
            img = Image.eval(img, lambda v: 255 - v)
        return img


def _dark_mask(img: Image.Image) -> Image.Image:
    return Image.eval(img, lambda v: 255 if v < 128 else 0)


def _qr_image(block: QrBlock) -> Image.Image:
    import qrcode
    from qrcode.constants import ERROR_CORRECT_H, ERROR_CORRECT_L, ERROR_CORRECT_M, ERROR_CORRECT_Q

    levels = {"L": ERROR_CORRECT_L, "M": ERROR_CORRECT_M}
    levels.update({"Q": ERROR_CORRECT_Q, "H": ERROR_CORRECT_H})
    code = qrcode.QRCode(box_size=max(1, block.module), border=1, error_correction=levels[block.ec])
    code.add_data(block.data)
    code.make(fit=True)
    return code.make_image().get_image().convert("L")


def render_png(
    data: bytes, path: str | Path, dots: int, *, chinese_default: bool = False
) -> Image.Image:
    """Draw the job as the paper would look (``dots`` wide) and save it as PNG at ``path``.

    Returns the image. Chinese characters need a CJK font: ConfigError names the package when
    none is installed.
    """
    blocks = decode(data, dots=dots, chinese_default=chinese_default)
    painter = _GlyphPainter()
    pieces: list[tuple[Image.Image | None, int, int]] = []  # (image, x, height)
    for block in blocks:
        if isinstance(block, TextLine):
            height = max([block.spacing, *(g.height_dots() for g in block.glyphs)])
            line = Image.new("L", (dots, height), 255)
            x = _offset(block.align, block.width_dots(), dots)
            for glyph in block.glyphs:
                img = painter.draw(glyph)
                line.paste(img, (x, height - img.height))  # baseline at the bottom
                x += img.width
            pieces.append((line, 0, height))
        elif isinstance(block, ImageBlock):
            img = block.bitmap.convert("L")
            pieces.append((img, _offset(block.align, img.width, dots), img.height))
        elif isinstance(block, QrBlock):
            img = _qr_image(block)
            pieces.append((img, _offset(block.align, img.width, dots), img.height))
        elif isinstance(block, CutBlock):
            cut = Image.new("L", (dots, 12), 255)
            draw = ImageDraw.Draw(cut)
            for x in range(0, dots, 12):
                draw.line((x, 6, x + 6, 6), fill=0)
            pieces.append((cut, 0, 12))
        elif isinstance(block, FeedBlock):
            pieces.append((None, 0, block.dots))
    total = max(1, sum(h for _, _, h in pieces))
    paper = Image.new("L", (dots, total), 255)
    y = 0
    for img, x, height in pieces:
        if img is not None:
            paper.paste(img, (x, y))
        y += height
    paper = paper.convert("1", dither=Image.Dither.NONE)
    paper.save(str(path), format="PNG")
    return paper
