"""How the journal stores values in SQLite: times as ISO 8601 text, transactions by column.

Private to ``appliance.journal``: the repositories turn rows into plain dataclasses with
these, so nothing above the journal ever sees a row, a column name or a stored time format.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any, Protocol

from appliance.domain.transactions import Transaction, TxnState, TxnType

_TYPES = {t.value: t for t in TxnType}
_STATES = {s.value: s for s in TxnState}

#: Column order of ``transactions`` (migrations 1 and 6); ``transaction_from_row`` reads by
#: position.
TXN_COLUMNS = (
    "uuid, type, state, amount, currency, stan, batch, invoice, masked_pan, scheme, entry_mode, "
    "aid, label, card_blob, rrn, auth_code, response_code, original_uuid, original_stan, "
    "operator, offline, note, transmitted_at, created_at, updated_at, local_date, "
    "decision, tvr, cvm"
)


class Executor(Protocol):
    """A unit of work or a reader: runs one statement on the journal's connection."""

    def execute(self, sql: str, params: Any = ()) -> Any:
        """Run one statement; returns the cursor."""
        ...


def iso(t: datetime) -> str:
    """A time as the journal stores it: UTC, ISO 8601 with microseconds."""
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(s: str) -> datetime:
    """A stored time back as an aware datetime."""
    return datetime.fromisoformat(s)


def maybe_time(s: str | None) -> datetime | None:
    """A stored time that may be NULL."""
    return datetime.fromisoformat(s) if s else None


def transaction_from_row(r: sqlite3.Row) -> Transaction:
    """A ``SELECT {TXN_COLUMNS}`` row as a ``Transaction``."""
    # Hot path of every listing (reprint by date, X report): plain lookups, no enum calls.
    return Transaction(
        uuid=r[0],
        type=_TYPES[r[1]],
        state=_STATES[r[2]],
        amount=r[3],
        currency=r[4],
        stan=r[5],
        batch=r[6],
        invoice=r[7],
        masked_pan=r[8],
        scheme=r[9],
        entry_mode=r[10],
        aid=r[11],
        label=r[12],
        rrn=r[14],
        auth_code=r[15],
        response_code=r[16],
        original_uuid=r[17],
        original_stan=r[18],
        operator=r[19],
        offline=bool(r[20]),
        note=r[21],
        transmitted_at=parse_time(r[22]),
        created_at=parse_time(r[23]),
        updated_at=parse_time(r[24]),
        decision=r[26],
        tvr=r[27],
        cvm=r[28],
    )
