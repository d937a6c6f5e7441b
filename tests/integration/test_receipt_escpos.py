"""ESC/POS rendering of receipts: exact bytes, text read back, Chinese modes, sizes, PNG/PDF."""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from appliance.bench.receipts import TARGET_FS_BYTES, TARGET_LATIN_BYTES, bench_receipt
from appliance.domain.receipt_data import from_data, stub_snapshot
from appliance.domain.receipts import LANGS, Line, build_receipt, has_cjk, layout
from appliance.errors import ConfigError
from appliance.receipts import samples
from appliance.receipts.escpos import render_escpos
from appliance.receipts.raster import export_pdf, render_png
from appliance.receipts.samples import SAMPLE_KINDS, SAMPLE_PAN, sample_document
from drivers.printer import fonts as printer_fonts
from drivers.printer.base import PrinterProfile
from drivers.printer.escpos_render import render_text

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "receipts"
# COUNTERTOP_REGEN_GOLDEN=1 rewrites the golden .bin files; review them before committing.
REGEN = os.environ.get("COUNTERTOP_REGEN_GOLDEN") == "1"

P32 = PrinterProfile(columns=32, width_mm=58, dots=384, chinese="fs", cutter=True)
P48 = PrinterProfile(columns=48, width_mm=80, dots=576, chinese="fs", cutter=False)


# ------------------------------------------------------------------ a strict little decoder


def decode(data: bytes) -> list[tuple]:
    """Decode the ESC/POS subset the renderer may emit; anything else fails the test.

    Items: ("text", str, bold, double), ("qr", data), ("image", width, height), ("feed", n),
    ("cut",). Raw bytes >= 0x80 outside FS & … FS . are an error (they would be garbage).
    """
    out: list[tuple] = []
    bold = double = False
    buf = b""
    i = 0

    def flush() -> None:
        nonlocal buf
        out.append(("text", buf.decode("gb18030"), bold, double))
        buf = b""

    assert data[:2] == b"\x1b@", "job must start with ESC @"
    i = 2
    while i < len(data):
        b = data[i]
        two = data[i : i + 2]
        if b == 0x0A:
            flush()
            i += 1
        elif two == b"\x1bt":
            i += 3
        elif two == b"\x1bE":
            bold = bool(data[i + 2])
            i += 3
        elif two == b"\x1d!":
            assert data[i + 2] in (0x00, 0x11)
            double = data[i + 2] == 0x11
            i += 3
        elif two == b"\x1ba":
            i += 3
        elif two == b"\x1c&":
            end = data.index(b"\x1c.", i)
            buf += data[i + 2 : end]
            i = end + 2
        elif two == b"\x1bd":
            out.append(("feed", data[i + 2]))
            i += 3
        elif two == b"\x1dV":
            out.append(("cut",))
            i += 3 if data[i + 2] in (0, 1, 48, 49) else 4
        elif data[i : i + 3] == b"\x1d(k":
            n = data[i + 3] + 256 * data[i + 4]
            body = data[i + 5 : i + 5 + n]
            if body[:3] == b"1P0":
                out.append(("qr", body[3:].decode("ascii")))
            i += 5 + n
        elif data[i : i + 3] == b"\x1dv0":
            wb = data[i + 4] + 256 * data[i + 5]
            h = data[i + 6] + 256 * data[i + 7]
            out.append(("image", wb * 8, h))
            i += 8 + wb * h
        elif 0x20 <= b < 0x7F:
            buf += bytes([b])
            i += 1
        else:
            raise AssertionError(f"unexpected byte {b:#04x} at {i}: {data[i : i + 8]!r}")
    assert buf == b"", "text left without a line feed"
    return out


def expected(lines: list[Line], profile: PrinterProfile) -> list[tuple]:
    """What ``decode`` must give for laid-out lines in FS & mode."""
    out: list[tuple] = []
    for line in lines:
        if line.kind == "text":
            out.append(("text", line.text.rstrip(), line.bold, line.double))
        elif line.kind == "feed":
            out.append(("text", "", False, False))
        elif line.kind == "qr":
            out.append(("qr", line.text))
        elif line.kind == "cut":
            out += [("feed", 6), ("cut",)] if profile.cutter else [("feed", 4)]
    return out


def _merge_blank_styles(items: list[tuple]) -> list[tuple]:
    # A blank line's style is invisible; the renderer may leave the previous style on.
    return [("text", "", False, False) if it[:2] == ("text", "") else it for it in items]


# ------------------------------------------------------------------ text read back


@pytest.mark.parametrize("kind", SAMPLE_KINDS)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("profile", [P32, P48], ids=["32", "48"])
def test_fs_mode_bytes_print_exactly_the_laid_out_lines(
    kind: str, lang: str, profile: PrinterProfile
) -> None:
    doc = sample_document(kind, lang=lang, columns=profile.columns)
    got = _merge_blank_styles(decode(render_escpos(doc, profile)))
    assert got == _merge_blank_styles(expected(layout(doc, profile.columns), profile))


def printed_text(lines: list[Line], profile: PrinterProfile) -> str:
    """What the printer's own decoder (``render_text``) must read back from the job."""
    out: list[str] = []
    for line in lines:
        if line.kind == "text":
            out.append(line.text.rstrip())
        elif line.kind == "feed":
            out.append("")
        elif line.kind == "qr":
            out.append(f"[QR: {line.text}]")
        elif line.kind == "cut":
            out += [""] * 6 + ["--- cut ---"] if profile.cutter else [""] * 4
    return "".join(row + "\n" for row in out)


@pytest.mark.parametrize("kind", SAMPLE_KINDS)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("profile", [P32, P48], ids=["32", "48"])
def test_the_printer_decoder_reads_back_exactly_the_laid_out_text(
    kind: str, lang: str, profile: PrinterProfile
) -> None:
    doc = sample_document(kind, lang=lang, columns=profile.columns)
    got = render_text(render_escpos(doc, profile))
    assert got == printed_text(layout(doc, profile.columns), profile)


def test_chinese_in_fs_mode_is_gb18030_inside_fs_ampersand() -> None:
    data = render_escpos(sample_document("sale", lang="zh_CN"), P32)
    assert b"\x1c&" + "消费".encode("gb18030") in data
    assert "商户存根".encode("gb18030") + b"\x1c.\n" in data
    # decode() refuses any byte >= 0x80 outside FS & … FS .: it must not raise.
    decode(data)


def test_english_slip_with_ascii_merchant_has_no_chinese_mode_at_all() -> None:
    doc = build_receipt(
        "sale",
        samples.sample_transaction(),
        replace(samples.SAMPLE_MERCHANT, name="FRESH MART"),
        lang="en",
    )
    data = render_escpos(doc, P32)
    assert b"\x1c&" not in data
    assert all(b < 0x80 for b in data)  # commands, ASCII text and the ASCII QR payload


def test_style_commands_are_sent_only_when_the_style_changes() -> None:
    doc = sample_document("settlement", lang="bilingual")
    lines = [ln for ln in layout(doc, 32) if ln.kind == "text" and ln.text.strip()]
    bolds = [ln.bold for ln in lines]
    bold_changes = sum(1 for a, b in zip([False, *bolds], bolds, strict=False) if a != b)
    data = render_escpos(doc, P32)
    assert data.count(b"\x1bE") == bold_changes
    assert b"\x1b!" not in data  # ESC ! would reset bold; sizes use GS !


# ------------------------------------------------------------------ golden bytes


@pytest.mark.parametrize("kind", SAMPLE_KINDS)
def test_golden_bytes_for_one_receipt_per_kind(kind: str) -> None:
    data = render_escpos(sample_document(kind, lang="bilingual"), P32)
    path = GOLDEN / f"{kind}-bilingual-32-fs.bin"
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        pytest.skip(f"regenerated {path.name}")
    assert data == path.read_bytes()


@pytest.mark.parametrize(("kind", "stub_kind"), samples.SAMPLE_STUB_KINDS)
def test_a_stub_journaled_as_a_snapshot_prints_the_golden_bytes(
    kind: str, stub_kind: str | None
) -> None:
    snap = stub_snapshot(
        stub_kind,
        samples.sample_transaction(kind),
        samples.SAMPLE_MERCHANT,
        copy="merchant",
        lang="bilingual",
        cvm_limit=samples.SAMPLE_CVM_LIMIT,
        tz=samples.SAMPLE_TZ,
    )
    doc = from_data(json.loads(json.dumps(snap)))
    assert render_escpos(doc, P32) == (GOLDEN / f"{kind}-bilingual-32-fs.bin").read_bytes()


# ------------------------------------------------------------------ image mode


def test_image_mode_prints_chinese_lines_as_raster_and_latin_as_text() -> None:
    profile = PrinterProfile(columns=32, dots=384, chinese="image", cutter=True)
    doc = sample_document("sale", lang="bilingual")
    items = decode(render_escpos(doc, profile))
    assert b"\x1c&" not in render_escpos(doc, profile)
    texts = [it[1] for it in items if it[0] == "text"]
    images = [it for it in items if it[0] == "image"]
    lines = layout(doc, 32)
    ascii_lines = [ln.text.rstrip() for ln in lines if ln.kind == "text" and not has_cjk(ln.text)]
    assert [t for t in texts if t] == [t for t in ascii_lines if t]
    assert images and all(w == 384 for _, w, _ in images)
    cjk = [ln for ln in lines if ln.kind == "text" and has_cjk(ln.text)]
    cjk_height = sum((48 if ln.double else 24) + 6 for ln in cjk)  # 6 dots of line spacing
    assert sum(h for _, _, h in images) == cjk_height


def test_image_mode_without_a_cjk_font_names_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("COUNTERTOP_CJK_FONT", raising=False)
    monkeypatch.setattr(printer_fonts, "CJK_FONT_CANDIDATES", (tmp_path / "no-such-font.ttc",))
    profile = PrinterProfile(columns=32, dots=384, chinese="image")
    with pytest.raises(ConfigError, match="fonts-wqy-microhei"):
        render_escpos(sample_document("sale", lang="zh_CN"), profile)


def test_unknown_chinese_mode_is_a_config_error() -> None:
    bad = PrinterProfile(chinese="utf8")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="chinese mode"):
        render_escpos(sample_document("sale"), bad)


# ------------------------------------------------------------------ sizes


def test_merchant_stub_sizes_are_within_target() -> None:
    for columns in (32, 48):
        result = bench_receipt(columns)
        assert result["latin_text_bytes"] <= TARGET_LATIN_BYTES, result
        assert result["chinese_fs_bilingual_bytes"] <= TARGET_FS_BYTES, result
        assert result["chinese_fs_zh_CN_bytes"] <= TARGET_FS_BYTES, result
        assert result["latin_within_target"] and result["chinese_fs_within_target"]


def test_no_printed_job_of_any_kind_holds_the_full_pan() -> None:
    for kind in SAMPLE_KINDS:
        for copy in ("merchant", "customer"):
            for lang in LANGS:
                data = render_escpos(sample_document(kind, lang=lang, copy=copy), P48)
                assert SAMPLE_PAN.encode() not in data


# ------------------------------------------------------------------ PNG and PDF


def test_png_is_the_slip_at_the_requested_width_with_ink_on_it() -> None:
    img = render_png(sample_document("sale", lang="bilingual"), 384)
    margin = 2 * (384 // 32)
    assert img.width == 384 + 2 * margin
    assert img.height > 800
    assert img.getextrema()[0] == 0  # black ink somewhere


def test_pdf_export_has_one_page_per_receipt(tmp_path: Path) -> None:
    docs = [sample_document(k, lang="zh_CN") for k in ("sale", "void", "settlement")]
    path = export_pdf(docs, tmp_path / "stubs.pdf")
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert b"/Count 3" in data
    assert len(re.findall(rb"/Type /Page\b", data)) == 3


def test_pdf_export_of_nothing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no receipts"):
        export_pdf([], tmp_path / "empty.pdf")


def test_png_round_trips_through_a_file(tmp_path: Path) -> None:
    render_png(sample_document("interim", lang="en"), 576).save(tmp_path / "x.png")
    with Image.open(tmp_path / "x.png") as img:
        assert img.width == 576 + 2 * 2 * 12
