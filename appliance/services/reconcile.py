"""Reconciliation use case: import a statement file, match it, keep the result, print it.

The matching is ``appliance.domain.reconcile.reconcile`` (pure); this shell reads the file,
chooses the journal rows in scope, stores the last result in the journal (table
``reconciliations``, for the UI) and queues the slip and the merchant stub reprints.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.domain.receipts import ReconLine, ReconReport
from appliance.domain.reconcile import Reconciliation, in_scope, parse_statement, reconcile
from appliance.errors import ConfigError, NotFound

if TYPE_CHECKING:
    from appliance.services.terminal import Terminal

# How each discrepancy is named on the printed slip (receipts' issue names).
_SLIP_ISSUE = {
    "terminal_only": "missing_at_host",
    "acquirer_only": "missing_at_terminal",
    "duplicate": "missing_at_terminal",
    "reversed_charged": "reversed_charged",
    "amount_mismatch": "amount_mismatch",
    "fee_mismatch": "fee_mismatch",
    "qr_charged_not_paid": "reversed_charged",
    "qr_cancel_owed": "reversed_charged",
}


class Reconciler:
    """Reconcile acquirer statements against the terminal's journal."""

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self.journal = terminal.journal
        self.config = terminal.config

    def reconcile_text(
        self, text: str, *, name: str = "", dates: Sequence[str] = ()
    ) -> Reconciliation:
        """Match statement CSV ``text``; the result is stored as the last reconciliation.

        The statement covers the business days of its lines and ``dates`` (YYYY-MM-DD). A
        statement with no lines and no ``dates`` names no day: it is taken to cover every day
        the journal holds, so each approval in it is reported not at host (an empty
        statement never "matches" a journal with approvals).
        """
        lines, bad = parse_statement(text)
        journal = self.journal.transactions()
        days = {line.settlement_date.isoformat() for line in lines} | set(dates)
        if not days and not bad:
            days = {t.updated_at.astimezone(UTC).date().isoformat() for t in journal}
        dates = sorted(days)
        from appliance.domain.qr_books import is_qr_line

        qr_lines = [line for line in lines if is_qr_line(line.scheme)]
        lines = [line for line in lines if not is_qr_line(line.scheme)]
        result = reconcile(
            lines,
            journal,
            tid=self.terminal.tid,
            in_scope=in_scope(journal, dates, UTC),
            fees_bp=self.config.settlement.fees_bp,
            bad_lines=bad,
            statement=name,
        )
        result = self._with_qr(result, qr_lines, dates)
        self._store(result)
        return result

    def _with_qr(self, result: Reconciliation, lines: Sequence[Any], dates: Sequence[str]) -> Any:
        """Add the QR lines' matching (``appliance.domain.qr_books``) to a card reconciliation."""
        from dataclasses import replace

        from appliance.domain.qr_books import counts_in_qr_totals, match_qr, qr_in_scope
        from appliance.domain.reconcile import Discrepancy, expected_fee, line_net
        from appliance.journal import qr as qr_journal

        orders = qr_journal.orders(self.journal)
        scope = qr_in_scope(orders, dates, UTC)
        if not lines and not scope:
            return result
        m = match_qr(lines, orders, in_scope=scope)
        fees_bp = self.config.settlement.fees_bp
        expected_net = expected_fees = 0
        wanted = set(scope)
        for o in orders:
            if o.order in wanted and counts_in_qr_totals(o):
                typ = "sale" if o.kind.value == "pay" else "refund"
                f = expected_fee(typ, o.amount, o.wallet, fees_bp)
                expected_fees += f
                expected_net += line_net(typ, o.amount, f)
        found = tuple(Discrepancy(**d) for d in m.found)
        return replace(
            result,
            line_count=result.line_count + len(lines),
            matched_count=result.matched_count + m.matched_count,
            matched_amount=result.matched_amount + m.matched_amount,
            discrepancies=result.discrepancies + found,
            expected_net=result.expected_net + expected_net,
            stated_net=result.stated_net + sum(line.net for line in lines),
            stated_fees=result.stated_fees + sum(line.fee for line in lines),
            expected_fees=result.expected_fees + expected_fees,
            dates=tuple(
                sorted(set(result.dates) | {line.settlement_date.isoformat() for line in lines})
            ),
        )

    def reconcile_file(self, path: Path, dates: Sequence[str] = ()) -> Reconciliation:
        """Match the statement at ``path`` (covering its lines' days and ``dates``)."""
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the statement {path}: {exc}") from exc
        return self.reconcile_text(text, name=path.name, dates=dates)

    def _store(self, result: Reconciliation) -> None:
        with self.journal.unit() as uow:
            uow.reconciliations.add(
                at=self.journal.clock(), statement=result.statement, result=result.as_dict()
            )
            uow.commit()

    def last(self) -> dict[str, Any]:
        """The last imported reconciliation (as stored); NotFound if none."""
        with self.journal.read() as r:
            last = r.reconciliations.last()
        if last is None:
            raise NotFound("no statement has been reconciled yet")
        return {"imported_at": last.imported_at.isoformat(timespec="microseconds"), **last.result}

    def slip_report(self, result: Reconciliation) -> ReconReport:
        """The reconciliation as the printed slip's input."""
        lines = []
        for d in result.discrepancies:
            when = d.when
            if not isinstance(when, datetime):  # an unknown line: only its business day
                when = datetime.combine(when or date.min, time(0), tzinfo=UTC)
            lines.append(
                ReconLine(
                    issue=_SLIP_ISSUE[d.kind],  # type: ignore[arg-type]
                    trace=d.trace,
                    rrn=d.rrn,
                    auth_code=d.auth_code,
                    date=when,
                    masked_pan=d.masked_pan,
                    amount=d.amount,
                    host_amount=d.stated_amount if d.kind == "amount_mismatch" else None,
                    type="refund" if d.type == "refund" else "sale",
                )
            )
        return ReconReport(
            batch=self.journal.batch,
            currency=self.terminal.cur.alpha,
            matched_count=result.matched_count,
            matched_amount=result.matched_amount,
            lines=tuple(lines),
            statement=result.statement,
        )

    def print(self, result: Reconciliation, operator: str = "") -> list[str]:
        """Queue the reconciliation slip and, for each discrepancy the journal knows, a reprint
        of its merchant stub (the evidence to hand over). Returns the print job ids."""
        from appliance.domain.receipts import build_reconciliation

        receipts = self.terminal.receipts
        if receipts is None or not hasattr(receipts, "document"):
            return []
        now = self.journal.clock()
        doc = build_reconciliation(
            self.slip_report(result),
            merchant_info(self.config),
            lang=self.config.locale.receipt_language,
            tz=self.config.locale.timezone,
            printed_at=now,
            operator=operator,
        )
        jobs = [receipts.document(doc, f"reconciliation {result.statement}")]
        seen: set[str] = set()
        for d in result.discrepancies:
            if d.txn_uuid and d.txn_uuid not in seen:
                seen.add(d.txn_uuid)
                txn = self.journal.get(d.txn_uuid)
                jobs.append(receipts.transaction_stub(txn, "merchant", reprint_at=now))
        return jobs


def merchant_info(config: Any) -> Any:
    """The merchant block of the slips from config."""
    from appliance.domain.receipts import MerchantInfo

    m = config.merchant
    return MerchantInfo(name=m.name, mid=m.mid, tid=m.tid)
