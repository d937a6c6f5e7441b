"""Receipt documents drawn as images: raster lines for the printer, PNG and PDF for export.

Every character is drawn at its column position (CJK characters take two columns), so an image
shows exactly the lines ``document_to_text`` and the ESC/POS text show, with the same masking.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw

from appliance.domain.receipts import Document, Line, display_width, layout
from appliance.errors import ConfigError
from appliance.receipts.fonts import load_font
from drivers.printer.fonts import find_cjk_font

DOTS_PER_COLUMN = 12  # 32 columns on 384 dots (58 mm), 48 on 576 (80 mm): font A is 12 x 24


def columns_for_width(width_px: int) -> int:
    """Receipt columns for an image ``width_px`` wide: 48 from 576 px up, else 32."""
    return 48 if width_px >= 576 else 32


@lru_cache(maxsize=4096)
def _glyph(ch: str, size: int, font_path: str) -> Image.Image:
    """One character drawn once as an "L" mask, ``size`` high and its columns wide."""
    width = display_width(ch) * size // 2
    # Room past the cell: the monospaced face advances 0.6 em, a little wider than half a cell.
    mask = Image.new("L", (width + size // 4, size), 0)
    ImageDraw.Draw(mask).text((0, 0), ch, font=load_font(size, font_path), fill=255)
    return mask


def draw_text_line(
    img: Image.Image,
    text: str,
    x0: int,
    y0: int,
    cell: int,
    *,
    bold: bool,
    double: bool,
    limit: int | None = None,
) -> None:
    """Draw one laid-out line, character by character on the column grid (glyphs cached).

    No ink goes right of ``limit`` (default: the image's width, the paper's printable edge):
    a glyph's ink may reach a little past its cell (the face advances 0.6 em, bold overstrikes
    one dot to the right), so a line that would cross the edge is moved left by that much.
    """
    scale = 2 if double else 1
    size = 2 * cell * scale
    font_path = str(find_cjk_font())
    placed = []
    col = 0
    for ch in text:
        if ch != " ":
            placed.append((x0 + col * cell * scale, _glyph(ch, size, font_path)))
        col += display_width(ch)
    if not placed:
        return
    edge = img.width if limit is None else limit
    ink = max(x + (box[2] if (box := g.getbbox()) else 0) + (1 if bold else 0) for x, g in placed)
    shift = max(0, ink - edge)
    for x, glyph in placed:
        x -= shift
        img.paste(0, (x, y0, x + glyph.width, y0 + glyph.height), glyph)
        if bold:
            # The font has no bold face: overstrike one dot to the right.
            img.paste(0, (x + 1, y0, x + 1 + glyph.width, y0 + glyph.height), glyph)


def line_height(line: Line, cell: int) -> int:
    """Height in pixels of a laid-out text line."""
    return 2 * cell * (2 if line.double else 1)


def raster_lines(lines: Sequence[Line], width: int, cell: int = DOTS_PER_COLUMN) -> Image.Image:
    """Text lines as one 1-bit image ``width`` dots wide (what the printer gets in image mode).

    Each line gets ``cell // 2`` dots of spacing (30-dot pitch for 12 x 24 text, like the
    printer's default line spacing) so raster lines sit like the text lines around them.
    """
    gap = cell // 2
    height = sum(line_height(line, cell) + gap for line in lines)
    img = Image.new("1", (width, max(height, 1)), 1)
    y = 0
    for line in lines:
        draw_text_line(img, line.text, 0, y + gap // 2, cell, bold=line.bold, double=line.double)
        y += line_height(line, cell) + gap
    return img


def qr_image(data: str, box: int) -> Image.Image:
    """A QR code (error correction M) as a grayscale image, ``box`` pixels per module."""
    import qrcode

    code = qrcode.QRCode(box_size=box, border=1, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    return code.make_image().get_image().convert("L")


def render_png(doc: Document, width_px: int = 384, *, columns: int | None = None) -> Image.Image:
    """The document as a grayscale image ``width_px`` wide (plus margins), like the paper slip.

    ``columns`` defaults to 32 below 576 px and 48 from 576 px. Save with ``.save(path)``.
    """
    cols = columns or columns_for_width(width_px)
    cell = width_px // cols
    if cell < 4:
        raise ConfigError(f"image width {width_px} px is too narrow for {cols} columns")
    margin = cell * 2
    lines = layout(doc, cols)
    qrs = {
        i: qr_image(line.text, max(2, cell // 3))
        for i, line in enumerate(lines)
        if line.kind == "qr"
    }
    height = 0
    for i, line in enumerate(lines):
        if line.kind == "qr":
            height += qrs[i].height + cell
        elif line.kind == "cut":
            height += 3 * cell
        else:
            height += line_height(line, cell)
    img = Image.new("L", (width_px + 2 * margin, height + 2 * margin), 255)
    draw = ImageDraw.Draw(img)
    y = margin
    for i, line in enumerate(lines):
        if line.kind == "text":
            draw_text_line(
                img,
                line.text,
                margin,
                y,
                cell,
                bold=line.bold,
                double=line.double,
                limit=margin + width_px,
            )
            y += line_height(line, cell)
        elif line.kind == "feed":
            y += line_height(line, cell)
        elif line.kind == "qr":
            q = qrs[i]
            img.paste(q, (margin + (width_px - q.width) // 2, y))
            y += q.height + cell
        elif line.kind == "cut":
            y += cell
            for x in range(0, img.width, cell):  # dashed tear line
                draw.line((x, y, x + cell // 2, y), fill=128)
            y += 2 * cell
    return img


def export_pdf(docs: Iterable[Document], path: str | Path, *, width_px: int = 384) -> Path:
    """Write the documents to one PDF, one receipt per page; return the path.

    Raises ConfigError when there is nothing to export.
    """
    pages = [render_png(doc, width_px).convert("RGB") for doc in docs]
    if not pages:
        raise ConfigError("no receipts to export")
    out = Path(path)
    # 203 dpi is the thermal head's resolution, so the PDF page has the slip's real size.
    pages[0].save(out, "PDF", resolution=203.0, save_all=True, append_images=pages[1:])
    return out
