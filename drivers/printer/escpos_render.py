"""Render decoded ESC/POS as the paper would show it: plain text or a PNG picture.

``render_text`` is how tests and the CLI read a receipt back; ``render_png`` draws it dot for
dot at the paper width (CJK characters need a CJK font, see ``drivers.printer.fonts``).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from drivers.printer.escpos_decode import decode
from drivers.printer.escpos_model import (
    FONT_CELLS,
    CutBlock,
    DrawerBlock,
    FeedBlock,
    Glyph,
    ImageBlock,
    QrBlock,
    TextLine,
)
from drivers.printer.fonts import find_cjk_font, find_mono_font


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
