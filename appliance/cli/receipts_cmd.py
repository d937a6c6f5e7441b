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
    sample.set_defaults(func=cmd_sample)

    bench = rsub.add_parser("bench", help="bytes and wire time of a merchant stub")
    bench.add_argument("--columns", type=int, choices=(32, 48), default=32)
    bench.set_defaults(func=cmd_bench)


def cmd_sample(args: argparse.Namespace) -> int:
    """Write ``<kind>[-customer].png`` and ``.txt`` for every sample kind into ``--out``."""
    from appliance.domain.receipts import document_to_text
    from appliance.receipts.raster import export_pdf, render_png
    from appliance.receipts.samples import SAMPLE_KINDS, sample_document

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    width = 384 if args.columns == 32 else 576
    docs = []
    for kind in SAMPLE_KINDS:
        variants = [("merchant", "")]
        if kind in ("sale", "offline"):
            variants.append(("customer", "-customer"))
        for copy, suffix in variants:
            doc = sample_document(kind, lang=args.lang, copy=copy, columns=args.columns)
            docs.append(doc)
            stem = out / f"{kind}{suffix}"
            render_png(doc, width).save(stem.with_suffix(".png"))
            stem.with_suffix(".txt").write_text(document_to_text(doc, args.columns), "utf-8")
    reprint = sample_document("sale", lang=args.lang, columns=args.columns, reprint=True)
    docs.append(reprint)
    render_png(reprint, width).save(out / "sale-reprint.png")
    (out / "sale-reprint.txt").write_text(document_to_text(reprint, args.columns), "utf-8")
    if args.pdf:
        export_pdf(docs, out / "receipts.pdf", width_px=width)
    print(f"wrote {len(docs)} receipts to {out}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Print ``bench_receipt()`` as JSON; exit 1 when a size target is missed."""
    from appliance.receipts.bench import bench_receipt

    result = bench_receipt(args.columns)
    print(json.dumps(result, indent=2))
    ok = result["latin_within_target"] and result["chinese_fs_within_target"]
    return 0 if ok else 1
