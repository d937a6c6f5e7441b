"""A payment's stub journaled as a snapshot builds the very slip it would have been queued as,
for every card slip kind, copy and language, and a document-shaped job still reads back."""

from __future__ import annotations

import json

import pytest

from appliance.domain.receipt_data import from_data, stub_snapshot, to_data
from appliance.domain.receipts import LANGS, build_receipt
from appliance.receipts.samples import (
    SAMPLE_CVM_LIMIT,
    SAMPLE_MERCHANT,
    SAMPLE_PAN,
    SAMPLE_STUB_KINDS,
    SAMPLE_TZ,
    sample_transaction,
)


def journaled(data: dict[str, object]) -> dict[str, object]:
    """``data`` as the print job's JSON column gives it back."""
    return json.loads(json.dumps(data, ensure_ascii=False))  # type: ignore[no-any-return]


@pytest.mark.parametrize(("sample", "kind"), SAMPLE_STUB_KINDS)
@pytest.mark.parametrize("copy", ["merchant", "customer"])
@pytest.mark.parametrize("lang", LANGS)
def test_a_snapshot_builds_the_same_slip_as_the_document_it_replaces(
    sample: str, kind: str | None, copy: str, lang: str
) -> None:
    txn = sample_transaction(sample)
    opts = {"copy": copy, "lang": lang, "cvm_limit": SAMPLE_CVM_LIMIT, "tz": SAMPLE_TZ}
    snap = stub_snapshot(kind, txn, SAMPLE_MERCHANT, **opts)  # type: ignore[arg-type]
    assert from_data(journaled(snap)) == build_receipt(kind, txn, SAMPLE_MERCHANT, **opts)  # type: ignore[arg-type]


def test_a_snapshot_holds_the_masked_card_number_only() -> None:
    snap = stub_snapshot(
        None,
        sample_transaction("sale"),
        SAMPLE_MERCHANT,
        copy="merchant",
        lang="bilingual",
        cvm_limit=SAMPLE_CVM_LIMIT,
        tz=SAMPLE_TZ,
    )
    text = json.dumps(snap)
    assert SAMPLE_PAN not in text and SAMPLE_PAN[-4:] in text


def test_a_job_journaled_as_a_document_still_reads_back() -> None:
    doc = build_receipt(None, sample_transaction("sale"), SAMPLE_MERCHANT, tz=SAMPLE_TZ)
    assert from_data(journaled(to_data(doc))) == doc
