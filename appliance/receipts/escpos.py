"""Receipt documents rendered to ESC/POS bytes with python-escpos (``Dummy().output``).

Layout comes from ``appliance.domain.receipts.layout`` (display-width aware: a CJK character
takes two columns), so alignment is done with spaces and only the QR code needs ``ESC a``.

Compactness: python-escpos's ``set()`` sends a command per argument given (and
``normal_textsize`` sends two ``ESC !``), so the renderer tracks the current style and sends
only what changes: ``ESC E n`` for bold and ``GS ! n`` for double size (``GS !`` leaves bold
alone, unlike ``ESC !``).

Chinese, per ``PrinterProfile.chinese``:

* ``"fs"``: a line holding non-ASCII text is sent as GB18030 between ``FS &`` (1C 26) and
  ``FS .`` (1C 2E). python-escpos would send GB18030 without ``FS &`` (garbage on most
  printers), so these bytes go through ``_raw``.
* ``"image"``: consecutive non-ASCII lines are drawn with the CJK font on the column grid and
  sent as one raster image (``GS v 0``); ASCII lines stay text.
"""

from __future__ import annotations

from escpos.printer import Dummy

from appliance.domain.receipts import Document, Line, has_cjk, layout
from appliance.errors import ConfigError
from appliance.receipts.raster import DOTS_PER_COLUMN, raster_lines
from drivers.printer.base import PrinterProfile

FS_KANJI_ON = b"\x1c\x26"  # FS &: select Chinese character mode
FS_KANJI_OFF = b"\x1c\x2e"  # FS .: cancel Chinese character mode
FEED_WITHOUT_CUTTER = 4  # lines to feed so the last line clears the tear bar
QR_MODULE_DOTS = {32: 4, 48: 5}


class _Writer:
    """A python-escpos Dummy plus the style it is in, so unchanged settings are not resent."""

    def __init__(self, profile: PrinterProfile) -> None:
        self.p = Dummy()
        # Give python-escpos the paper width: image() otherwise prints a warning to stdout.
        data = dict(self.p.profile.profile_data)
        data["media"] = {"width": {"pixels": profile.dots, "mm": profile.width_mm}, "dpi": 203}
        self.p.profile.profile_data = data
        self.bold = False
        self.double = False
        self.align = "left"
        self.p.hw("INIT")

    def style(self, *, bold: bool, double: bool) -> None:
        if double != self.double:
            if double:
                self.p.set(custom_size=True, width=2, height=2)
            else:
                self.p.set(custom_size=True, width=1, height=1)
            self.double = double
        if bold != self.bold:
            self.p.set(bold=bold)
            self.bold = bold

    def set_align(self, align: str) -> None:
        if align != self.align:
            self.p.set(align=align)
            self.align = align


def render_escpos(doc: Document, profile: PrinterProfile) -> bytes:
    """The whole print job for ``doc`` on a printer described by ``profile``.

    Raises ConfigError for an unknown ``profile.chinese`` mode, or (image mode) when the CJK
    font is not installed.
    """
    if profile.chinese not in ("fs", "image"):
        raise ConfigError(f"unknown printer chinese mode {profile.chinese!r}: use fs or image")
    if profile.dots < profile.columns * DOTS_PER_COLUMN // 2:
        raise ConfigError(f"printer dots {profile.dots} too few for {profile.columns} columns")
    w = _Writer(profile)
    pending: list[Line] = []  # image mode: CJK lines waiting to go out as one raster

    def flush_images() -> None:
        if pending:
            w.style(bold=False, double=False)
            w.set_align("left")
            w.p.image(raster_lines(pending, profile.dots, profile.dots // profile.columns))
            pending.clear()

    for line in layout(doc, profile.columns):
        if line.kind == "text" and has_cjk(line.text) and profile.chinese == "image":
            pending.append(line)
            continue
        flush_images()
        if line.kind == "text":
            w.style(bold=line.bold, double=line.double)
            text = line.text.rstrip()
            if has_cjk(text):
                body = text.lstrip(" ")
                indent = b" " * (len(text) - len(body))
                w.p._raw(indent + FS_KANJI_ON + body.encode("gb18030") + FS_KANJI_OFF + b"\n")
            else:
                w.p.text(text + "\n")
        elif line.kind == "feed":
            w.p.text("\n")
        elif line.kind == "qr":
            w.style(bold=False, double=False)
            w.set_align("center")
            w.p.qr(line.text, native=True, size=QR_MODULE_DOTS.get(profile.columns, 4))
            w.set_align("left")
        elif line.kind == "cut":
            w.style(bold=False, double=False)
            if profile.cutter:
                w.p.cut()
            else:
                w.p.print_and_feed(FEED_WITHOUT_CUTTER)
    flush_images()
    return w.p.output
