"""Size and wire time of receipts: ``countertop receipts bench``."""

from __future__ import annotations

from appliance.receipts.escpos import render_escpos
from appliance.receipts.samples import sample_document
from drivers.printer.base import PrinterProfile

BAUD = 115_200
BITS_PER_BYTE = 10  # 8N1: start + 8 data + stop

# Targets for a merchant stub (sale, 32 columns).
TARGET_LATIN_BYTES = 1536
TARGET_FS_BYTES = 3072


def wire_ms(nbytes: int, baud: int = BAUD) -> float:
    """Milliseconds to send ``nbytes`` over a serial line at ``baud`` (8N1)."""
    return nbytes * BITS_PER_BYTE / baud * 1000


def bench_receipt(columns: int = 32) -> dict[str, object]:
    """Bytes and 115,200-baud wire time of a sale merchant stub, Latin text and Chinese FS & mode.

    The Latin stub uses an ASCII merchant name so it is pure text; the Chinese stubs use the
    bilingual layout with a Chinese merchant name. Image mode is reported for comparison.
    """
    from dataclasses import replace

    from appliance.receipts import samples

    dots = 384 if columns == 32 else 576
    fs = PrinterProfile(columns=columns, dots=dots, chinese="fs")  # type: ignore[arg-type]
    image = replace(fs, chinese="image")
    latin_merchant = replace(samples.SAMPLE_MERCHANT, name="FRESH MART")
    latin_doc = samples.build_receipt(
        "sale",
        samples.sample_transaction("sale"),
        latin_merchant,
        copy="merchant",
        lang="en",
        cvm_limit=samples.SAMPLE_CVM_LIMIT,
        tz=samples.SAMPLE_TZ,
    )
    zh_doc = sample_document("sale", lang="bilingual")
    zh_only = sample_document("sale", lang="zh_CN")
    sizes = {
        "latin_text": len(render_escpos(latin_doc, fs)),
        "chinese_fs_bilingual": len(render_escpos(zh_doc, fs)),
        "chinese_fs_zh_CN": len(render_escpos(zh_only, fs)),
        "chinese_image_bilingual": len(render_escpos(zh_doc, image)),
    }
    result: dict[str, object] = {"columns": columns, "baud": BAUD}
    for name, n in sizes.items():
        result[f"{name}_bytes"] = n
        result[f"{name}_wire_ms"] = round(wire_ms(n), 1)
    result["latin_within_target"] = sizes["latin_text"] <= TARGET_LATIN_BYTES
    result["chinese_fs_within_target"] = (
        max(sizes["chinese_fs_bilingual"], sizes["chinese_fs_zh_CN"]) <= TARGET_FS_BYTES
    )
    return result
