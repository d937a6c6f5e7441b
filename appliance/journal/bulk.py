"""Bulk loading: many finished transactions in one statement (benches and load tests).

``with journal.unit() as uow: uow.bulk.insert(txns, tz=journal.tz); uow.commit()``. Rows go
in as they are given, outside the state machine: only for building a journal of a known
size quickly, never for payments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import tzinfo
from typing import Any, Protocol

from appliance.domain.transactions import Transaction
from appliance.journal.codec import iso


class BulkExecutor(Protocol):
    """A unit of work: one statement, or one statement over many parameter rows."""

    def execute(self, sql: str, params: Any = ()) -> Any:
        """Run one statement."""
        ...

    def executemany(self, sql: str, rows: Iterable[Any]) -> Any:
        """Run one statement for each parameter row."""
        ...


class Bulk:
    """Loads finished transactions and moves the STAN counter past them."""

    def __init__(self, ex: BulkExecutor) -> None:
        self._ex = ex

    def insert(self, txns: Sequence[Transaction], *, tz: tzinfo) -> None:
        """Insert ``txns`` (their business day in ``tz``) in one statement."""
        self._ex.executemany(
            "INSERT INTO transactions (uuid, type, state, amount, currency, stan, batch, "
            "invoice, masked_pan, scheme, entry_mode, rrn, auth_code, response_code, operator, "
            "transmitted_at, created_at, updated_at, local_date) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    t.uuid,
                    t.type.value,
                    t.state.value,
                    t.amount,
                    t.currency,
                    t.stan,
                    t.batch,
                    t.invoice,
                    t.masked_pan,
                    t.scheme,
                    t.entry_mode,
                    t.rrn,
                    t.auth_code,
                    t.response_code,
                    t.operator,
                    iso(t.transmitted_at),
                    iso(t.created_at),
                    iso(t.updated_at),
                    t.created_at.astimezone(tz).date().isoformat(),
                )
                for t in txns
            ],
        )

    def set_stan(self, stan: int) -> None:
        """The last STAN used (the next request gets the one after it)."""
        self._ex.execute("UPDATE counters SET value=? WHERE name='stan'", (stan,))
