"""``countertop receipts …``: sample slips of every kind, and the receipt size bench."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from appliance.domain.receipts import LANGS


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``receipts sample`` and ``receipts bench``."""
    parser = sub.add_parser("receipts", help="receipt samples and size bench")
    rsub = parser.add_subparsers(dest="receipts_command", metavar="ACTION", required=True)

    sample = rsub.add_parser("sample", help="render one receipt of each kind to PNG and .txt")
    sample.add_argument("--out", required=True, metavar="DIR", help="output directory")
    sample.add_argument("--lang", choices=LANGS, default="bilingual")
    sample.add_argument("--columns", type=int, choices=(32, 48), default=32)
    sample.add_argument("--pdf", action="store_true", help="also write all samples to receipts.pdf")
    sample.add_argument(
        "--escpos",
        choices=("fs", "image"),
        help="also write each ESC/POS job (.bin) and the mock printer's picture of it (.paper.png)",
    )
    sample.set_defaults(func=cmd_sample)

    bench = rsub.add_parser("bench", help="bytes and wire time of a merchant stub")
    bench.add_argument("--columns", type=int, choices=(32, 48), default=32)
    bench.set_defaults(func=cmd_bench)


def cmd_sample(args: argparse.Namespace) -> int:
    """Write ``<kind>.png`` and ``.txt`` for every sample kind into ``--out``.

    Files are named by what they are: a kind printed in two copies has both, as
    ``sale-merchant.png`` and ``sale-customer.png``; the others are ``settlement.png``,
    ``void.png``, …; the reprint is ``sale-merchant-reprint.png``.

    With ``--escpos MODE`` also the print job (``.bin``) and, decoded by the mock printer's
    renderer, what the paper would show (``.paper.png``).
    """
    from appliance.domain.receipts import document_to_text
    from appliance.receipts.raster import export_pdf, render_png
    from appliance.receipts.samples import SAMPLE_KINDS, sample_document

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    width = 384 if args.columns == 32 else 576
    docs = []
    for kind in SAMPLE_KINDS:
        variants = [("merchant", "")]
        if kind in ("sale", "offline"):  # the kinds with a cardholder copy
            variants = [("merchant", "-merchant"), ("customer", "-customer")]
        for copy, suffix in variants:
            doc = sample_document(kind, lang=args.lang, copy=copy, columns=args.columns)
            docs.append(doc)
            stem = out / f"{kind}{suffix}"
            render_png(doc, width).save(stem.with_suffix(".png"))
            stem.with_suffix(".txt").write_text(document_to_text(doc, args.columns), "utf-8")
            if args.escpos:
                _write_job(doc, stem, args.columns, args.escpos)
    reprint = sample_document("sale", lang=args.lang, columns=args.columns, reprint=True)
    docs.append(reprint)
    render_png(reprint, width).save(out / "sale-merchant-reprint.png")
    (out / "sale-merchant-reprint.txt").write_text(document_to_text(reprint, args.columns), "utf-8")
    if args.pdf:
        export_pdf(docs, out / "receipts.pdf", width_px=width)
    print(f"wrote {len(docs)} receipts to {out}")
    return 0


def _write_job(doc: object, stem: Path, columns: int, chinese: str) -> None:
    """The ESC/POS job of ``doc`` and the mock printer's rendering of those bytes."""
    from appliance.receipts.escpos import render_escpos
    from drivers.printer.base import PrinterProfile
    from drivers.printer.escpos_render import render_png as paper_png

    dots = 384 if columns == 32 else 576
    profile = PrinterProfile(
        columns=columns,  # type: ignore[arg-type]
        width_mm=58 if columns == 32 else 80,
        dots=dots,
        chinese=chinese,  # type: ignore[arg-type]
        cutter=True,
    )
    data = render_escpos(doc, profile)  # type: ignore[arg-type]
    stem.with_suffix(".bin").write_bytes(data)
    paper_png(data, stem.with_suffix(".paper.png"), dots)


def cmd_bench(args: argparse.Namespace) -> int:
    """Print ``bench_receipt()`` as JSON; exit 1 when a size target is missed."""
    from appliance.bench.receipts import bench_receipt

    result = bench_receipt(args.columns)
    print(json.dumps(result, indent=2))
    ok = result["latin_within_target"] and result["chinese_fs_within_target"]
    return 0 if ok else 1
