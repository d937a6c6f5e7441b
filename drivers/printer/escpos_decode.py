"""Decode the ESC/POS subset countertop and python-escpos emit into printed blocks.

This is what the mock printer "prints": tests and the laptop demo read receipts back as text
(``escpos_render.render_text``) or look at them as a picture of the paper
(``escpos_render.render_png``). The decoder is strict on purpose: a command it does not know
raises ``EscposDecodeError`` naming the bytes and their offset, so a renderer that starts
emitting something new is caught in tests instead of printing garbage on a real printer.

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

The decoder (``Decoder``: byte access, mode state, the main loop and text) lives here; the
command handlers in ``escpos_commands``, the blocks in ``escpos_model``.

Raw bytes >= 0x80 outside Chinese mode are decoded with the current code table, exactly as a
printer without Chinese firmware would: GB18030 sent without ``FS &`` comes out as mojibake.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace

from PIL import Image

from drivers.printer.escpos_commands import COMMANDS, code_table
from drivers.printer.escpos_model import (
    DEFAULT_LINE_SPACING,
    Block,
    EscposDecodeError,
    Glyph,
    ImageBlock,
    Style,
    TextLine,
)


class Decoder:
    """Walks the bytes once, keeping the printer's mode state, and collects blocks.

    The command handlers (``escpos_commands``) read parameters with ``byte`` / ``take``,
    change the mode state (``style``, ``align``, ``spacing``, ``table``, ``chinese`` …) and
    print with ``flush_line`` / ``flush_if_pending`` / ``blocks.append``.
    """

    def __init__(self, data: bytes, dots: int | None, chinese_default: bool) -> None:
        self.data = data
        self.pos = 0
        self.dots = dots
        self.chinese_default = chinese_default
        self.blocks: list[Block] = []
        self.reset()

    def reset(self) -> None:
        """ESC @ (and the start): every mode back to its power-on value."""
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
        """An EscposDecodeError naming ``what`` and the bytes at ``start``."""
        shown = self.data[start : start + 8].hex(" ").upper()
        return EscposDecodeError(f"{what} at offset {start} (bytes {shown})")

    def take(self, n: int, start: int, what: str) -> bytes:
        """The next ``n`` bytes of the command that began at ``start`` (error if truncated)."""
        if self.pos + n > len(self.data):
            raise self.error(f"truncated {what}", start)
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self, start: int, what: str) -> int:
        """The next byte of the command that began at ``start`` (error if truncated)."""
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
        """Print the buffer when something is in it (before a block that is no text)."""
        if self.line or self.band is not None:
            self.flush_line()

    def add_glyph(self, char: str, wide: bool) -> None:
        """Add a character in the current style, wrapping at the paper edge."""
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
        """Decode all the bytes; the printed blocks in order."""
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
            elif b in COMMANDS:
                COMMANDS[b](self, start)
            elif b < 0x20:
                raise self.error(f"unknown control byte 0x{b:02X}", start)
            elif b < 0x80:
                self.add_glyph(chr(b), False)
            elif self.chinese:
                self.gb18030(b, start)
            else:
                char = code_table(self.table)[b - 0x80]
                self.add_glyph(char, False)
        self.flush_if_pending()
        return _merge_bands(self.blocks)

    def gb18030(self, lead: int, start: int) -> None:
        """One GB18030 character in Chinese mode (``lead`` already consumed)."""
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
    return Decoder(data, dots, chinese_default).run()
