"""The ESC/POS decoder reads back what python-escpos writes, and refuses what it does not know."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from escpos.printer import Dummy
from PIL import Image, ImageChops, ImageDraw

from appliance.errors import ConfigError
from drivers.printer.escpos_decode import decode
from drivers.printer.escpos_model import (
    CutBlock,
    DrawerBlock,
    EscposDecodeError,
    ImageBlock,
    QrBlock,
    TextLine,
)
from drivers.printer.escpos_render import render_png, render_text
from drivers.printer.fonts import find_cjk_font

FS_ON, FS_OFF = b"\x1c&", b"\x1c."


@pytest.fixture
def p() -> Dummy:
    printer = Dummy()
    # python-escpos prints a notice for every image when the profile has no paper width
    printer.profile.profile_data = {
        **printer.profile.profile_data,
        "media": {"width": {"pixels": 576, "mm": 80}, "dpi": 203},
    }
    return printer


def _texts(blocks: list) -> list[str]:
    return [b.text for b in blocks if isinstance(b, TextLine)]


def _cjk_font_or_skip() -> Path:
    try:
        return find_cjk_font()
    except ConfigError as exc:
        pytest.skip(f"no CJK font here: {exc}")


def test_plain_text_comes_back_line_by_line(p: Dummy) -> None:
    p.hw("INIT")
    p.text("Hello\nWorld\n")
    assert render_text(p.output) == "Hello\nWorld\n"


def test_styles_set_by_python_escpos_are_attached_to_the_characters(p: Dummy) -> None:
    p.text("plain\n")
    p.set(align="center", bold=True, double_height=True, underline=1)
    p.text("TOTAL\n")
    p.set(custom_size=True, width=3, height=2)
    p.text("X\n")
    plain, total, big = [b for b in decode(p.output) if isinstance(b, TextLine)]
    assert plain.align == "left" and not plain.glyphs[0].style.bold
    style = total.glyphs[0].style
    assert total.align == "center"
    assert (style.bold, style.height, style.width, style.underline) == (True, 2, 1, 1)
    assert (big.glyphs[0].style.width, big.glyphs[0].style.height) == (3, 2)


def test_set_with_default_returns_to_plain_text(p: Dummy) -> None:
    p.set(bold=True, double_width=True, invert=True, align="right")
    p.set_with_default()
    p.text("x\n")
    (line,) = decode(p.output)
    assert isinstance(line, TextLine)
    assert line.align == "left"
    assert line.glyphs[0].style.width == 1 and not line.glyphs[0].style.bold
    assert not line.glyphs[0].style.invert


def test_centred_and_right_aligned_lines_are_padded_to_the_paper_width(p: Dummy) -> None:
    p.set(align="center")
    p.text("abcd\n")
    p.set(align="right")
    p.text("xy\n")
    assert render_text(p.output, dots=384) == " " * 14 + "abcd\n" + " " * 30 + "xy\n"


def test_long_lines_wrap_at_the_paper_edge(p: Dummy) -> None:
    p.text("a" * 40 + "\n")
    assert render_text(p.output, dots=384) == "a" * 32 + "\n" + "a" * 8 + "\n"


def test_characters_from_other_code_tables_survive_the_round_trip(p: Dummy) -> None:
    p.text("Café 5€ Ω ñ\n")
    assert render_text(p.output) == "Café 5€ Ω ñ\n"


def test_chinese_between_fs_and_fs_dot_is_decoded_as_gb18030() -> None:
    data = b"\x1b@" + FS_ON + "消费 合计 ¥12.30\n".encode("gb18030") + FS_OFF + b"END\n"
    assert render_text(data) == "消费 合计 ¥12.30\nEND\n"
    line = decode(data)[0]
    assert isinstance(line, TextLine)
    assert [g.wide for g in line.glyphs[:3]] == [True, True, False]


def test_chinese_sent_without_fs_prints_garbage_as_on_a_printer_without_chinese_mode(
    p: Dummy,
) -> None:
    p.text("消费\n")  # python-escpos sends raw GB18030 with no FS &
    assert "消费" not in render_text(p.output)
    assert render_text(p.output, chinese_default=True) == "消费\n"


def test_four_byte_gb18030_characters_are_decoded() -> None:
    data = FS_ON + "𠀀€\n".encode("gb18030") + FS_OFF
    assert render_text(data) == "𠀀€\n"


def test_fs_exclamation_doubles_only_the_chinese_characters() -> None:
    data = FS_ON + b"\x1c!\x0c" + "付A\n".encode("gb18030")
    (line,) = decode(data)
    assert isinstance(line, TextLine)
    wide, narrow = line.glyphs
    assert (wide.style.width, wide.style.height) == (2, 2)
    assert (narrow.style.width, narrow.style.height) == (1, 1)


def test_a_raster_image_decodes_to_the_same_pixels(p: Dummy) -> None:
    img = Image.new("1", (40, 17), 1)
    ImageDraw.Draw(img).rectangle((3, 2, 30, 12), fill=0)
    p.set(align="center")
    p.image(img)
    (block,) = decode(p.output)
    assert isinstance(block, ImageBlock) and block.align == "center"
    assert block.bitmap.size == (40, 17)
    assert ImageChops.difference(block.bitmap.convert("L"), img.convert("L")).getbbox() is None
    assert render_text(p.output) == "[image 40x17]\n"


@pytest.mark.parametrize("impl", ["graphics", "bitImageColumn"])
def test_the_other_image_commands_decode_to_the_same_picture(p: Dummy, impl: str) -> None:
    img = Image.new("1", (48, 24), 1)
    ImageDraw.Draw(img).ellipse((0, 0, 47, 23), fill=0)
    p.image(img, impl=impl)
    blocks = [b for b in decode(p.output) if isinstance(b, ImageBlock)]
    assert len(blocks) == 1
    got = blocks[0].bitmap.crop((0, 0, 48, 24)).convert("L")
    assert ImageChops.difference(got, img.convert("L")).getbbox() is None


def test_native_qr_codes_keep_their_data_and_size(p: Dummy) -> None:
    p.qr("https://pay.example/r/000123", native=True, size=5, ec=2)
    blocks = decode(p.output)
    assert blocks == [QrBlock("https://pay.example/r/000123", module=5, ec="Q")]
    assert render_text(p.output) == "[QR: https://pay.example/r/000123]\n"


def test_image_qr_codes_show_as_images(p: Dummy) -> None:
    p.qr("hello")
    assert "[image " in render_text(p.output)


def test_cut_and_drawer_kick_are_marked(p: Dummy) -> None:
    p.text("stub\n")
    p.cashdraw(2)
    p.cut()
    p.cut(mode="PART", feed=False)
    blocks = decode(p.output)
    assert DrawerBlock(2) in blocks
    assert [b for b in blocks if isinstance(b, CutBlock)] == [CutBlock(False), CutBlock(True)]
    lines = render_text(p.output).splitlines()
    assert lines[0] == "stub" and lines[1] == "[drawer kick]"
    assert lines[-1] == "--- cut ---" and lines.count("--- cut ---") == 2


def test_feed_prints_blank_lines(p: Dummy) -> None:
    p.text("a")
    p.print_and_feed(2)
    assert render_text(p.output) == "a\n\n\n"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"ok\x1bV\x01", "ESC 'V'"),  # an ESC command the decoder does not know
        (b"\x1dk\x04123\x00", "GS 'k'"),  # barcodes are not part of the subset
        (b"\x1b", "truncated ESC command"),
        (b"\x1dv0\x00\x02\x00\x02\x00\xff", "truncated GS v 0 image data"),
        (b"\x00", "control byte 0x00"),
        (b"\x1bt\x06", "code table 6"),
        (FS_ON + b"\xff\xff", "GB18030"),
    ],
)
def test_unknown_or_truncated_commands_raise_with_their_offset(data: bytes, words: str) -> None:
    with pytest.raises(EscposDecodeError, match="offset") as caught:
        decode(data)
    assert words in str(caught.value)


def test_status_queries_in_the_stream_print_nothing() -> None:
    assert render_text(b"a\n\x10\x04\x01b\n") == "a\nb\n"


def test_png_is_paper_width_with_the_image_where_it_was_printed(tmp_path: Path, p: Dummy) -> None:
    img = Image.new("1", (64, 32), 0)
    p.set(align="right")
    p.image(img)
    out = render_png(p.output, tmp_path / "r.png", dots=384)
    assert (tmp_path / "r.png").read_bytes().startswith(b"\x89PNG")
    assert out.size == (384, 32)
    saved = Image.open(tmp_path / "r.png").convert("L")
    assert ImageChops.invert(saved).getbbox() == (384 - 64, 0, 384, 32)


def test_png_draws_text_and_the_qr_code(tmp_path: Path, p: Dummy) -> None:
    p.text("TOTAL 12.30\n")
    p.qr("hello", native=True, size=4)
    p.cut()
    out = render_png(p.output, tmp_path / "r.png", dots=576)
    dark = ImageChops.invert(out.convert("L"))
    text_box = dark.crop((0, 0, 576, 30)).getbbox()
    assert text_box is not None and text_box[2] <= 11 * 12  # eleven 12-dot cells
    qr_box = dark.crop((0, 30, 576, 30 + 200)).getbbox()
    assert qr_box is not None and qr_box[2] - qr_box[0] >= 21 * 4  # version 1 QR, 4-dot modules


def test_png_draws_chinese_with_the_cjk_font(tmp_path: Path) -> None:
    _cjk_font_or_skip()
    data = FS_ON + "消费\n".encode("gb18030") + FS_OFF
    out = render_png(data, tmp_path / "zh.png", dots=384)
    box = ImageChops.invert(out.convert("L")).getbbox()
    assert box is not None and 30 < box[2] <= 48  # two 24-dot wide characters


def test_python_escpos_does_not_print_notices_for_this_profile(p: Dummy, capsys) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p.image(Image.new("1", (8, 8)))
    assert capsys.readouterr().out == ""


def test_underlined_text_does_not_underline_the_same_letters_later(tmp_path: Path) -> None:
    data = b"\x1b-\x01ab\n\x1b-\x00ab\n"
    out = render_png(data, tmp_path / "u.png", dots=384).convert("L")
    first, second = out.crop((0, 29, 24, 30)), out.crop((0, 59, 24, 60))
    assert ImageChops.invert(first).getbbox() is not None  # underline on the first line
    assert ImageChops.invert(second).getbbox() is None
