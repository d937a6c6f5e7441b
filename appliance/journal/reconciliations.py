"""The reconciliations repository: each imported statement's result (table
``reconciliations``), newest last; the UI shows the last one.

``with journal.unit() as uow: uow.reconciliations.add(…); uow.commit()`` and
``with journal.read() as r: r.reconciliations.last()``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.journal.codec import Executor, iso, parse_time


@dataclass(frozen=True)
class StoredReconciliation:
    """One imported statement's result as it was kept."""

    imported_at: datetime
    statement: str
    result: dict[str, Any]  # ``appliance.domain.reconcile.Reconciliation.as_dict()``


class Reconciliations:
    """The ``reconciliations`` table."""

    def __init__(self, ex: Executor) -> None:
        self._ex = ex

    def add(self, *, at: datetime, statement: str, result: dict[str, Any]) -> None:
        """Keep the result of matching ``statement`` (imported at ``at``)."""
        self._ex.execute(
            "INSERT INTO reconciliations (imported_at, statement, result) VALUES (?,?,?)",
            (iso(at), statement, json.dumps(result)),
        )

    def last(self) -> StoredReconciliation | None:
        """The newest imported statement's result (None: none yet)."""
        r = self._ex.execute(
            "SELECT imported_at, statement, result FROM reconciliations ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if r is None:
            return None
        return StoredReconciliation(parse_time(r[0]), r[1], json.loads(r[2]))
