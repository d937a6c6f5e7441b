"""Fixed sample data for every receipt kind: the ``receipts sample`` command, benches and tests.

All times are fixed so that rendered samples are byte-for-byte reproducible.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from appliance.domain.receipts import (
    ALL_KINDS,
    BatchTotals,
    Document,
    MerchantInfo,
    OperatorTotals,
    ReconLine,
    ReconReport,
    SchemeTotals,
    SettlementResult,
    Totals,
    build_interim,
    build_receipt,
    build_reconciliation,
    build_self_test,
    build_settlement,
)
from appliance.domain.transactions import Transaction, TxnState, TxnType

SAMPLE_PAN = "6212345678900119"  # a made-up UnionPay-style number (Luhn not needed here)
SAMPLE_TIME = datetime(2026, 11, 22, 6, 30, 15, tzinfo=UTC)
SAMPLE_MERCHANT = MerchantInfo(name="鲜果便利店 FRESH MART", mid="898310048161234", tid="10012345")
SAMPLE_TZ = "Asia/Shanghai"
SAMPLE_CVM_LIMIT = 100_000  # CNY 1000.00


def sample_transaction(kind: str = "sale", amount: int = 12_50) -> Transaction:
    """A journal row of the given receipt kind (masked PAN only, as the journal holds it)."""
    from appliance.domain.card import mask_pan

    txn = Transaction(
        uuid="0d6f7c1e-0000-4000-8000-000000000123",
        type=TxnType.SALE,
        state=TxnState.APPROVED,
        amount=amount,
        currency="CNY",
        stan=123,
        batch=1,
        invoice=123,
        created_at=SAMPLE_TIME,
        updated_at=SAMPLE_TIME,
        transmitted_at=SAMPLE_TIME,
        masked_pan=mask_pan(SAMPLE_PAN),
        scheme="UNIONPAY",
        entry_mode="071",
        aid="A000000333010101",
        label="UnionPay Debit",
        rrn="633012345678",
        auth_code="A1B2C3",
        response_code="00",
        operator="01",
    )
    later = datetime(2026, 11, 22, 7, 45, 0, tzinfo=UTC)
    if kind == "void":
        return replace(txn, type=TxnType.VOID, stan=124, original_stan=123, rrn="633012345679")
    if kind == "refund":
        return replace(
            txn,
            type=TxnType.REFUND,
            stan=125,
            original_stan=88,
            rrn="633012345680",
            auth_code="D4E5F6",
        )
    if kind == "offline":
        return replace(
            txn, state=TxnState.STORED, offline=True, rrn=None, auth_code=None, response_code=None
        )
    if kind == "forwarded":
        return replace(txn, offline=True, updated_at=later)
    if kind == "forwarded_declined":
        return replace(
            txn,
            state=TxnState.FORWARD_DECLINED,
            offline=True,
            updated_at=later,
            rrn="633012345690",
            auth_code=None,
            response_code="51",
        )
    if kind == "declined":
        return replace(
            txn, state=TxnState.DECLINED, rrn="633012345681", auth_code=None, response_code="51"
        )
    return txn


def sample_batch() -> BatchTotals:
    """Two schemes, two operators, fees at 0.60 % and 0.38 %."""
    return BatchTotals(
        batch=1,
        currency="CNY",
        schemes=(
            SchemeTotals("UNIONPAY", 42, 1_234_500, 2, 5_000, fee=4_691),
            SchemeTotals("VISA", 7, 356_000, 0, 0, fee=2_136),
        ),
        operators=(
            OperatorTotals("01", 30, 1_000_000, 1, 2_000),
            OperatorTotals("02", 19, 590_500, 1, 3_000),
        ),
        opened_at=datetime(2026, 11, 22, 0, 5, 0, tzinfo=UTC),
        closed_at=datetime(2026, 11, 22, 13, 59, 0, tzinfo=UTC),
    )


def sample_recon() -> ReconReport:
    """48 matched, one 单边账 and one amount mismatch."""
    return ReconReport(
        batch=1,
        currency="CNY",
        matched_count=48,
        matched_amount=1_580_500,
        statement="acq-20261122.csv",
        lines=(
            ReconLine(
                "missing_at_host",
                "000077",
                "633012340077",
                "Z9Y8X7",
                SAMPLE_TIME,
                "621234******0119",
                8_800,
            ),
            ReconLine(
                "amount_mismatch",
                "000090",
                "633012340090",
                "K1L2M3",
                SAMPLE_TIME,
                "476173******0010",
                10_000,
                host_amount=1_000,
            ),
        ),
    )


def sample_document(
    kind: str,
    *,
    lang: str = "bilingual",
    copy: str = "merchant",
    columns: int = 32,
    reprint: bool = False,
) -> Document:
    """One sample document of ``kind`` (any of ``ALL_KINDS`` or "forwarded_declined")."""
    when = datetime(2026, 11, 22, 14, 0, 0, tzinfo=UTC)
    reprint_at = when if reprint else None
    common = {"lang": lang, "tz": SAMPLE_TZ}
    if kind == "settlement":
        host = Totals(49, 1_590_500, 1, 2_000)
        return build_settlement(
            sample_batch(),
            SettlementResult(False, host, uploaded=True, settled_at=when),
            SAMPLE_MERCHANT,
            printed_at=when,
            operator="01",
            reprint_at=reprint_at,
            **common,
        )
    if kind == "settlement_balanced":
        return build_settlement(
            sample_batch(),
            SettlementResult(True, settled_at=when),
            SAMPLE_MERCHANT,
            printed_at=when,
            operator="01",
            reprint_at=reprint_at,
            **common,
        )
    if kind == "interim":
        return build_interim(
            sample_batch(),
            SAMPLE_MERCHANT,
            printed_at=when,
            operator="01",
            reprint_at=reprint_at,
            **common,
        )
    if kind == "reconciliation":
        return build_reconciliation(
            sample_recon(),
            SAMPLE_MERCHANT,
            printed_at=when,
            operator="01",
            reprint_at=reprint_at,
            **common,
        )
    if kind == "self_test":
        return build_self_test(
            SAMPLE_MERCHANT,
            printed_at=when,
            version="0.1.0",
            printer=f"{columns} columns",
            columns=columns,
            **common,
        )
    txn_kind = "forwarded" if kind == "forwarded_declined" else kind
    return build_receipt(
        txn_kind,
        sample_transaction(kind),
        SAMPLE_MERCHANT,
        copy=copy,  # type: ignore[arg-type]
        cvm_limit=SAMPLE_CVM_LIMIT,
        reprint_at=reprint_at,
        **common,
    )


SAMPLE_KINDS: tuple[str, ...] = (
    *ALL_KINDS[:5],
    "forwarded_declined",
    *ALL_KINDS[5:],
    "settlement_balanced",
)


#: The card slips a payment's outcome queues: (sample transaction, the kind the stub hook
#: passes; None lets the transaction's state decide, as a sale's hook does).
SAMPLE_STUB_KINDS: tuple[tuple[str, str | None], ...] = (
    ("sale", None),
    ("void", None),
    ("refund", None),
    ("declined", "declined"),
    ("offline", "offline"),
    ("forwarded", "forwarded"),
    ("forwarded_declined", "forwarded"),
)
