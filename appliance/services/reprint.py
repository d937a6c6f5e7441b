"""Stub reprint (存根补打) and export: from the journal, keeping the original numbers.

Every reprint is marked REPRINT 重打印 with the reprint time and recorded in the audit trail
(who, when, what). Lookups use the journal's indexes on trace and local date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.domain.transactions import Transaction, TxnState
from appliance.errors import NotFound
from appliance.journal import Journal
from appliance.services.printing import PrintQueue

# States that have a stub worth reprinting (a PENDING row has no outcome yet).
PRINTABLE = tuple(s for s in TxnState if s is not TxnState.PENDING)


@dataclass(frozen=True)
class Reprinted:
    """One reprinted stub."""

    trace: str
    copy: str
    kind: str
    job_id: str
    txn_uuid: str

    def as_dict(self) -> dict[str, Any]:
        """Machine-readable form."""
        return self.__dict__.copy()


def select(
    journal: Journal, *, last: bool = False, trace: int | None = None, on_date: date | None = None
) -> list[Transaction]:
    """The transactions a reprint request names: the last one, one trace, or a whole day."""
    if last:
        rows = journal.transactions(states=PRINTABLE, limit=1, newest_first=True)
        if not rows:
            raise NotFound(
                "the journal has no transaction to reprint yet", code="reprint.nothing_yet"
            )
        return rows
    if trace is not None:
        try:
            return [journal.find(trace=trace)]
        except NotFound as exc:
            raise NotFound(
                str(exc), code="reprint.not_found", params={"trace": f"{trace:06d}"}
            ) from exc
    if on_date is not None:
        rows = journal.transactions(states=PRINTABLE, local_date=on_date.isoformat())
        if not rows:
            raise NotFound(
                f"no transactions on {on_date.isoformat()} in the journal",
                code="reprint.none_on_date",
                params={"date": on_date.isoformat()},
            )
        return rows
    raise NotFound("say which stub: last, --trace N or --date YYYY-MM-DD")


def reprint(
    queue: PrintQueue,
    txns: list[Transaction],
    *,
    copy: str = "merchant",
    operator: str = "-",
    now: datetime | None = None,
) -> list[Reprinted]:
    """Queue a REPRINT of each transaction's ``copy`` stub and audit each one."""
    from appliance.domain.receipts import kind_for

    when = now or queue.journal.clock()
    out = []
    for t in txns:
        kind = kind_for(t)
        job = queue.transaction_stub(t, copy, kind=kind, reprint_at=when)
        queue.journal.audit(operator, "reprint", f"trace {t.trace} {kind} {copy} copy job {job}")
        out.append(Reprinted(t.trace, copy, kind, job, t.uuid))
    return out


def export_stubs(
    queue: PrintQueue, start: date, end: date, out: Path, *, operator: str = "-"
) -> int:
    """Write every merchant stub from ``start`` to ``end`` (inclusive) to one PDF; returns count."""
    from appliance.receipts.raster import export_pdf

    if end < start:
        raise NotFound(f"--to {end} is before --from {start}")
    docs = []
    day = start
    while day <= end:
        for t in queue.journal.transactions(states=PRINTABLE, local_date=day.isoformat()):
            docs.append(queue.receipt_document(t, "merchant"))
        day += timedelta(days=1)
    if not docs:
        raise NotFound(f"no transactions from {start} to {end} in the journal")
    width = 576 if queue.printer.profile.columns == 48 else 384
    export_pdf(docs, out, width_px=width)
    queue.journal.audit(operator, "stubs_export", f"{start}..{end}: {len(docs)} stubs to {out}")
    return len(docs)


def purge_expired(journal: Journal, retention_days: int, *, now: datetime | None = None) -> int:
    """Delete transactions older than the retention period that owe nothing; returns count.

    Rows still referenced (an owed message, a waiting print job, a void/refund's original that
    is itself kept) stay.
    """
    cutoff = (now or journal.clock()) - timedelta(days=retention_days)
    with journal.unit() as uow:
        purged = uow.retention.purge_before(cutoff)
        uow.commit()
    return purged
