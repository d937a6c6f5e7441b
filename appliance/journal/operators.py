"""The operators table and the audit trail, as statements inside one journal unit of work.

``appliance.operators.OperatorStore`` decides (PIN rules, lockout, roles); this module is the
only place that writes its SQL. Every method runs inside the ``UnitOfWork`` it was given, so a
change, its audit row and a lockout counter commit together or not at all::

    with journal.unit() as uow:
        records = OperatorRecords(uow)
        records.insert(...)
        records.audit(...)
        uow.commit()

The ``unit()`` takes SQLite's write lock (``BEGIN IMMEDIATE``) before the first read, so a
read-check-write inside one unit (the lockout counter) is serialised against every other thread
and process that opens the same journal.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from appliance.journal.journal import UnitOfWork


@dataclass(frozen=True)
class OperatorRow:
    """One row of ``operators`` as stored (times are ISO 8601 text, UTC)."""

    number: str
    name: str
    role: str
    password_hash: str
    failed_attempts: int
    locked_until: str | None


_SELECT = "SELECT number, name, role, password_hash, failed_attempts, locked_until FROM operators"


class OperatorRecords:
    """Operator rows and audit entries read and written through one unit of work."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def get(self, number: str) -> OperatorRow | None:
        """The row of operator ``number``, or None."""
        row = self._uow.execute(f"{_SELECT} WHERE number = ?", (number,)).fetchone()
        return None if row is None else OperatorRow(*row)

    def all(self) -> list[OperatorRow]:
        """Every operator row, by number."""
        return [
            OperatorRow(*row) for row in self._uow.execute(f"{_SELECT} ORDER BY number").fetchall()
        ]

    def insert(self, number: str, name: str, role: str, password_hash: str, at: str) -> bool:
        """Add an operator; False (nothing written) if ``number`` is taken."""
        try:
            self._uow.execute(
                "INSERT INTO operators (number, name, role, password_hash, created_at,"
                " password_set_at) VALUES (?, ?, ?, ?, ?, ?)",
                (number, name, role, password_hash, at, at),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def delete(self, number: str) -> bool:
        """Remove an operator; False if there was none."""
        return self._uow.execute("DELETE FROM operators WHERE number = ?", (number,)).rowcount == 1

    def set_password(self, number: str, password_hash: str, at: str) -> None:
        """A new PIN hash; the failure count and any lock are cleared with it."""
        self._uow.execute(
            "UPDATE operators SET password_hash = ?, password_set_at = ?,"
            " failed_attempts = 0, locked_until = NULL WHERE number = ?",
            (password_hash, at, number),
        )

    def set_failures(self, number: str, failures: int, locked_until: str | None) -> None:
        """The consecutive wrong-PIN count and the end of a lock (None: not locked)."""
        self._uow.execute(
            "UPDATE operators SET failed_attempts = ?, locked_until = ? WHERE number = ?",
            (failures, locked_until, number),
        )

    def audit(self, at: str, by: str, action: str, detail: str = "") -> None:
        """Append an entry to the audit trail (committed with the unit, or not at all)."""
        self._uow.execute(
            "INSERT INTO audit (at, operator, action, detail) VALUES (?, ?, ?, ?)",
            (at, by, action, detail),
        )
