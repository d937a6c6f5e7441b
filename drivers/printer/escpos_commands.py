"""The ESC/POS command table: one handler per command prefix (ESC, GS, FS, DLE).

Each handler reads its command's parameters through the ``Decoder`` (which raises
``EscposDecodeError`` naming the offset of a truncated or unknown command) and changes the
printer's mode state or appends what it prints. ``COMMANDS`` maps a prefix byte to its handler.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from PIL import Image

from drivers.printer.escpos_model import (
    DEFAULT_LINE_SPACING,
    CutBlock,
    DrawerBlock,
    EscposDecodeError,
    FeedBlock,
    ImageBlock,
    QrBlock,
)

if TYPE_CHECKING:
    from drivers.printer.escpos_decode import Decoder

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10


@functools.cache
def code_table(n: int) -> tuple[str, ...]:
    """Characters 0x80-0xFF of ESC t table ``n`` as python-escpos numbers and encodes them."""
    from escpos.capabilities import get_profile
    from escpos.magicencode import Encoder

    name = get_profile().codePages.get(str(n), "Unknown")
    if name == "Unknown":
        raise EscposDecodeError(f"ESC t {n}: code table {n} is not one countertop can decode")
    return tuple(Encoder._get_codepage_char_list(name))


def bitmap(raw: bytes, width: int, height: int) -> Image.Image:
    """ESC/POS raster bits (1 = black, MSB first) as a Pillow "1" image (0 = black)."""
    return Image.frombytes("1", (width, height), bytes(255 - b for b in raw))


# ---- ESC -----------------------------------------------------------------------------


def esc(d: Decoder, start: int) -> None:
    """An ``ESC`` command (the ESC byte at ``start`` already consumed)."""
    cmd = d.byte(start, "ESC command")
    c = chr(cmd)
    if c == "@":
        d.reset()
    elif c == "a":
        n = d.byte(start, "ESC a")
        d.align = {0: "left", 1: "center", 2: "right"}.get(n % 48 if n >= 48 else n, "")
        if not d.align:
            raise d.error(f"ESC a with invalid alignment {n}", start)
    elif c in "EG":
        d.style = replace(d.style, bold=bool(d.byte(start, "ESC E") & 1))
    elif c == "-":
        n = d.byte(start, "ESC -")
        d.style = replace(d.style, underline=(n - 48 if n >= 48 else n) & 3)
    elif c == "!":
        n = d.byte(start, "ESC !")
        d.style = replace(
            d.style,
            font="b" if n & 0x01 else "a",
            bold=bool(n & 0x08),
            height=2 if n & 0x10 else 1,
            width=2 if n & 0x20 else 1,
            underline=1 if n & 0x80 else 0,
        )
    elif c == "M":
        n = d.byte(start, "ESC M")
        d.style = replace(d.style, font="a" if n in (0, 48) else "b")
    elif c == "d":
        n = d.byte(start, "ESC d")
        if d.line or d.band is not None:
            d.flush_line()
        for _ in range(n):
            d.flush_line()
    elif c == "J":
        n = d.byte(start, "ESC J")
        d.flush_if_pending()
        d.blocks.append(FeedBlock(n))
    elif c == "t":
        n = d.byte(start, "ESC t")
        try:
            code_table(n)  # fail here, where the bad table is chosen
        except EscposDecodeError as exc:
            raise d.error(str(exc), start) from exc
        d.table = n
    elif c in "R{r=":
        # international set, upside-down, colour, select peripheral: no effect on layout
        d.byte(start, f"ESC {c}")
    elif c == "2":
        d.spacing = DEFAULT_LINE_SPACING
    elif c == "3":
        d.spacing = d.byte(start, "ESC 3")
    elif c == "A":
        d.spacing = round(d.byte(start, "ESC A") * 203 / 60)
    elif c == "+":
        d.spacing = round(d.byte(start, "ESC +") * 203 / 360)
    elif c == "p":
        m = d.byte(start, "ESC p")
        d.take(2, start, "ESC p pulse times")
        d.flush_if_pending()
        d.blocks.append(DrawerBlock(2 if m in (0, 48) else 5))
    elif c == "c":
        if d.byte(start, "ESC c") != ord("5"):
            raise d.error("unknown ESC c command", start)
        d.byte(start, "ESC c 5")
    elif c == "B":
        d.take(2, start, "ESC B")  # the printer's own buzzer: nothing printed
    elif c == "D":
        while d.byte(start, "ESC D tab positions") != 0:
            pass
    elif c == "*":
        _column_image(d, start)
    else:
        raise d.error(f"unknown ESC/POS command ESC {c!r}", start)


def _column_image(d: Decoder, start: int) -> None:
    m = d.byte(start, "ESC *")
    lo, hi = d.take(2, start, "ESC * width")
    width = lo + 256 * hi
    if m not in (0, 1, 32, 33):
        raise d.error(f"ESC * with unknown mode {m}", start)
    rows = 24 if m >= 32 else 8
    per_col = rows // 8
    raw = d.take(width * per_col, start, "ESC * image data")
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
    if d.line:
        d.flush_line()
    d.band = img


# ---- GS ------------------------------------------------------------------------------


def gs(d: Decoder, start: int) -> None:
    """A ``GS`` command (the GS byte at ``start`` already consumed)."""
    cmd = d.byte(start, "GS command")
    c = chr(cmd)
    if c == "!":
        n = d.byte(start, "GS !")
        d.style = replace(d.style, width=(n >> 4) + 1, height=(n & 0x0F) + 1)
        if d.style.width > 8 or d.style.height > 8:
            raise d.error(f"GS ! with invalid size 0x{n:02X}", start)
    elif c == "B":
        d.style = replace(d.style, invert=bool(d.byte(start, "GS B") & 1))
    elif c in "b|":
        d.byte(start, f"GS {c}")  # smoothing, density: no effect on layout
    elif c == "V":
        m = d.byte(start, "GS V")
        if m in (65, 66):
            d.byte(start, "GS V feed")
        elif m not in (0, 1, 48, 49):
            raise d.error(f"GS V with unknown cut mode {m}", start)
        d.flush_if_pending()
        d.blocks.append(CutBlock(partial=m in (1, 49, 66)))
    elif c == "v":
        _raster_image(d, start)
    elif c == "(":
        fn_class = chr(d.byte(start, "GS ( command"))
        lo, hi = d.take(2, start, f"GS ( {fn_class} length")
        body = d.take(lo + 256 * hi, start, f"GS ( {fn_class} data")
        if fn_class == "k":
            _qr(d, body, start)
        elif fn_class == "L":
            _graphics(d, body, start)
        else:
            raise d.error(f"unknown ESC/POS command GS ( {fn_class}", start)
    else:
        raise d.error(f"unknown ESC/POS command GS {c!r}", start)


def _raster_image(d: Decoder, start: int) -> None:
    if d.byte(start, "GS v") != ord("0"):
        raise d.error("unknown GS v command (only GS v 0 is known)", start)
    m = d.byte(start, "GS v 0")
    xl, xh, yl, yh = d.take(4, start, "GS v 0 size")
    width_bytes, height = xl + 256 * xh, yl + 256 * yh
    raw = d.take(width_bytes * height, start, "GS v 0 image data")
    img = bitmap(raw, width_bytes * 8, height)
    scale_x = 2 if m & 1 else 1
    scale_y = 2 if m & 2 else 1
    if scale_x != 1 or scale_y != 1:
        img = img.resize((img.width * scale_x, height * scale_y), Image.Resampling.NEAREST)
    d.flush_if_pending()
    d.blocks.append(ImageBlock(img, d.align))


def _graphics(d: Decoder, body: bytes, start: int) -> None:
    if len(body) < 2:
        raise d.error("truncated GS ( L", start)
    fn = body[1]
    if fn == 112:  # store raster graphics: a bx by c xL xH yL yH d...
        if len(body) < 10:
            raise d.error("truncated GS ( L function 112", start)
        bx, by = body[3], body[4]
        width, height = body[6] + 256 * body[7], body[8] + 256 * body[9]
        width_bytes = (width + 7) // 8
        raw = body[10:]
        if len(raw) != width_bytes * height:
            raise d.error("GS ( L function 112 data length does not match size", start)
        img = bitmap(raw, width_bytes * 8, height).crop((0, 0, width, height))
        if bx == 2 or by == 2:
            img = img.resize((width * bx, height * by), Image.Resampling.NEAREST)
        d.graphic = img
    elif fn == 50:  # print stored graphics
        if d.graphic is None:
            raise d.error("GS ( L print without stored graphics", start)
        d.flush_if_pending()
        d.blocks.append(ImageBlock(d.graphic, d.align))
        d.graphic = None
    else:
        raise d.error(f"unknown GS ( L function {fn}", start)


def _qr(d: Decoder, body: bytes, start: int) -> None:
    if len(body) < 2 or body[0] != 49:
        raise d.error("GS ( k for a 2D code other than QR", start)
    fn, args = body[1], body[2:]
    if fn == 65:  # model
        pass
    elif fn == 67:
        d.qr_module = args[0] if args else 3
    elif fn == 69:
        level = args[0] if args else 48
        d.qr_ec = {48: "L", 49: "M", 50: "Q", 51: "H"}.get(level, "")
        if not d.qr_ec:
            raise d.error(f"GS ( k with unknown error correction {level}", start)
    elif fn == 80:
        try:
            d.qr_data = args[1:].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise d.error("QR data is not UTF-8", start) from exc
    elif fn == 81:
        d.flush_if_pending()
        d.blocks.append(QrBlock(d.qr_data, d.qr_module, d.qr_ec, d.align))
    else:
        raise d.error(f"unknown GS ( k QR function {fn}", start)


# ---- FS and DLE ------------------------------------------------------------------------


def fs(d: Decoder, start: int) -> None:
    """An ``FS`` command: Chinese mode on/off and kanji character size."""
    c = chr(d.byte(start, "FS command"))
    if c == "&":
        d.chinese = True
    elif c == ".":
        d.chinese = False
    elif c == "!":
        n = d.byte(start, "FS !")
        d.kanji_double_w = bool(n & 0x04)
        d.kanji_double_h = bool(n & 0x08)
    elif c == "W":
        n = d.byte(start, "FS W")
        d.kanji_double_w = d.kanji_double_h = bool(n & 1)
    elif c in "-C":
        d.byte(start, f"FS {c}")
    else:
        raise d.error(f"unknown ESC/POS command FS {c!r}", start)


def dle(d: Decoder, start: int) -> None:
    """A ``DLE EOT n`` real-time status query: nothing printed."""
    if d.byte(start, "DLE command") != 0x04:
        raise d.error("unknown DLE command (only DLE EOT is known)", start)
    n = d.byte(start, "DLE EOT")
    if n not in (1, 2, 3, 4):
        raise d.error(f"DLE EOT with unknown status type {n}", start)


#: The handler for each command prefix byte.
COMMANDS: dict[int, Callable[[Decoder, int], None]] = {ESC: esc, GS: gs, FS: fs, DLE: dle}
