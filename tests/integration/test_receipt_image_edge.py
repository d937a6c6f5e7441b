"""Image mode: text drawn as raster stays inside the printable width, pixel for pixel.

A glyph's ink reaches a little past its cell (the monospaced face advances 0.6 em, bold
overstrikes one dot to the right), so a right-aligned line ending in the last column used to
put ink one dot past the paper's edge, where the raster cut it off.
"""

from __future__ import annotations

import pytest
from PIL import Image

from appliance.domain.receipts import Line
from appliance.receipts.raster import DOTS_PER_COLUMN, draw_text_line, raster_lines
from drivers.printer.fonts import find_cjk_font


@pytest.fixture(autouse=True)
def cjk_font() -> None:
    try:
        find_cjk_font()
    except Exception as exc:
        pytest.skip(f"image mode needs a CJK font (fonts-wqy-microhei): {exc}")


def ink(img: Image.Image) -> int:
    return sum(img.convert("L").histogram()[:128])


@pytest.mark.parametrize("dots,columns", [(384, 32), (576, 48)])
@pytest.mark.parametrize("bold", [False, True])
@pytest.mark.parametrize("double", [False, True])
def test_right_aligned_text_in_the_last_column_keeps_all_its_ink_inside_the_paper(
    dots: int, columns: int, bold: bool, double: bool
) -> None:
    word = "余额不足W"  # ends in a wide Latin glyph, the widest overhang
    width = 2 * len(word) - 1
    per_line = columns // (2 if double else 1)
    text = " " * (per_line - width) + word
    cell = dots // columns
    assert cell == DOTS_PER_COLUMN
    line = Line(text, bold=bold, double=double)

    # The same line on a canvas with room to spare: how much ink it has, and where.
    spare = Image.new("1", (dots + 4 * cell, 4 * cell * 2), 1)
    draw_text_line(spare, text, 0, 0, cell, bold=bold, double=double, limit=dots)
    assert spare.crop((dots, 0, spare.width, spare.height)).convert("L").getextrema()[0] == 255
    total = ink(spare)
    assert total > 0

    # What the printer gets: exactly the paper's width, and none of the ink lost.
    printed = raster_lines([line], dots, cell)
    assert printed.width == dots
    assert ink(printed) == total
    # The right-most ink touches (or nearly) the edge: the line is still right-aligned.
    bbox = Image.eval(printed.convert("L"), lambda v: 255 - v).getbbox()
    assert bbox is not None and bbox[2] >= dots - cell
