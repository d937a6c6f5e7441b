"""``countertop receipts sample`` and ``countertop receipts bench``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from PIL import Image

from appliance.cli import receipts_cmd
from appliance.domain.receipts import display_width
from appliance.receipts.samples import SAMPLE_KINDS, SAMPLE_PAN


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="countertop")
    receipts_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def names(kind: str) -> list[str]:
    """The files a sample kind is written as: both copies where there is a customer copy."""
    if kind in ("sale", "offline"):
        return [f"{kind}-merchant", f"{kind}-customer"]
    return [kind]


def test_sample_writes_a_png_and_text_of_every_kind(tmp_path: Path) -> None:
    assert run(["receipts", "sample", "--out", str(tmp_path), "--pdf"]) == 0
    written = []
    for kind in SAMPLE_KINDS:
        for name in names(kind):
            with Image.open(tmp_path / f"{name}.png") as img:
                assert img.width == 384 + 48
            text = (tmp_path / f"{name}.txt").read_text("utf-8")
            assert "10012345" in text  # every slip names the terminal
            assert SAMPLE_PAN not in text
            written.append(f"{name}.png")
    assert "商户存根" in (tmp_path / "sale-merchant.txt").read_text("utf-8")
    assert "**** 0119" in (tmp_path / "sale-customer.txt").read_text("utf-8")
    assert "重打印 REPRINT" in (tmp_path / "sale-merchant-reprint.txt").read_text("utf-8")
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == sorted([*written, "sale-merchant-reprint.png"])  # nothing named by number
    assert (tmp_path / "receipts.pdf").read_bytes().startswith(b"%PDF")


def test_sample_in_chinese_at_48_columns(tmp_path: Path) -> None:
    assert (
        run(["receipts", "sample", "--out", str(tmp_path), "--lang", "zh_CN", "--columns", "48"])
        == 0
    )
    text = (tmp_path / "sale-merchant.txt").read_text("utf-8")
    assert "商户存根" in text and "MERCHANT" not in text
    assert max(display_width(line) for line in text.splitlines()) <= 48


def test_sample_can_write_the_print_jobs_and_the_paper_they_make(tmp_path: Path) -> None:
    assert run(["receipts", "sample", "--out", str(tmp_path), "--escpos", "fs"]) == 0
    data = (tmp_path / "sale-merchant.bin").read_bytes()
    assert data.startswith(b"\x1b@") and b"\x1c&" in data
    with Image.open(tmp_path / "sale-merchant.paper.png") as img:
        assert img.width == 384


def test_bench_prints_sizes_and_wire_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["receipts", "bench"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["baud"] == 115_200
    assert result["latin_text_wire_ms"] == round(result["latin_text_bytes"] * 10 / 115.2, 1)


def test_receipts_is_registered_in_the_countertop_command(tmp_path: Path) -> None:
    from appliance.cli import main

    assert main(["receipts", "sample", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "sale-merchant.png").exists()
