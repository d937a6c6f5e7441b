"""Layout helpers and text wrapping of the touchscreen."""

from __future__ import annotations

import os

import pygame
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import itertools

from ui.app import Metrics, parse_resolution
from ui.fonts import find_cjk_font
from ui.widgets import MIN_TEXT, Painter, cols, grid, rows


def test_cols_and_rows_fill_the_rect_exactly_with_gaps() -> None:
    r = pygame.Rect(10, 20, 301, 97)
    parts = cols(r, [1, 2, 1], 7)
    assert parts[0].left == r.left and parts[-1].right == r.right
    assert [b.left - a.right for a, b in itertools.pairwise(parts)] == [7, 7]
    parts = rows(r, [1, 1, 1], 5)
    assert parts[0].top == r.top and parts[-1].bottom == r.bottom


def test_grid_cells_do_not_overlap() -> None:
    cells = grid(pygame.Rect(0, 0, 400, 300), 4, 3, 8)
    assert len(cells) == 12
    for i, a in enumerate(cells):
        assert not any(a.colliderect(b) for b in cells[i + 1 :])


@pytest.mark.parametrize("size", ["800x480", "1024x600", "720x720"])
def test_metrics_keep_the_status_bar_and_fonts_readable(size: str) -> None:
    m = Metrics.for_size(*parse_resolution(size))
    assert m.bar_h >= 40 and m.small >= 14 and m.big > m.title > m.body


@pytest.fixture(scope="module")
def painter() -> Painter:
    pygame.font.init()
    return Painter(find_cjk_font())


def test_wrap_breaks_english_at_spaces_and_chinese_anywhere(painter: Painter) -> None:
    lines = painter.wrap("Printer out of paper: 3 stubs waiting", 120, 18)
    assert len(lines) > 1 and all(painter.font(18).size(ln)[0] <= 120 for ln in lines)
    assert " ".join(lines) == "Printer out of paper: 3 stubs waiting"
    zh = painter.wrap("打印机缺纸：3 张存根待打印。装纸后会自动打印。", 100, 18)
    assert (
        len(zh) > 1
        and "".join(zh).replace(" ", "") == "打印机缺纸：3张存根待打印。装纸后会自动打印。"
    )


def test_text_shrinks_to_fit_its_box_and_is_recorded(painter: Painter) -> None:
    surface = pygame.Surface((400, 100))
    box = pygame.Rect(10, 10, 260, 30)
    rect = painter.text(surface, "Reconciliation results", box, size=40, owner="b")
    assert box.contains(rect)
    assert MIN_TEXT <= painter.texts[-1].size < 40
    assert painter.texts[-1].text == "Reconciliation results" and painter.texts[-1].owner == "b"
