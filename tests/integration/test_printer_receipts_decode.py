"""Every receipt the appliance prints decodes on the mock printer, in both Chinese modes."""

from __future__ import annotations

import unicodedata

import pytest

from appliance.errors import ConfigError
from appliance.receipts.escpos import render_escpos
from appliance.receipts.samples import ALL_KINDS, sample_document
from drivers.printer import make_profile
from drivers.printer.escpos_decode import decode
from drivers.printer.escpos_model import ImageBlock, QrBlock
from drivers.printer.mock import MockPrinter


def _width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in line)


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("width", [58, 80])
def test_firmware_mode_receipts_read_back_with_their_chinese(kind: str, width: int) -> None:
    profile = make_profile(width, chinese="fs", cutter=True)
    printer = MockPrinter(profile)
    printer.print_job(
        f"{kind}-1", render_escpos(sample_document(kind, columns=profile.columns), profile)
    )
    text = printer.text()
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text), text
    assert text.rstrip().endswith("--- cut ---")
    printed = [line for line in text.splitlines() if not line.startswith("[")]
    assert all(_width(line) <= profile.columns for line in printed)


@pytest.mark.parametrize("kind", ["sale", "settlement"])
def test_image_mode_receipts_carry_chinese_only_in_pictures(kind: str) -> None:
    profile = make_profile(58, chinese="image")
    try:
        data = render_escpos(sample_document(kind, columns=profile.columns), profile)
    except ConfigError as exc:
        pytest.skip(f"no CJK font here: {exc}")
    blocks = decode(data, dots=profile.dots)
    assert any(isinstance(b, ImageBlock) for b in blocks)
    assert not any(isinstance(b, QrBlock) and not b.data.isascii() for b in blocks)
    assert b"\x1c&" not in data
