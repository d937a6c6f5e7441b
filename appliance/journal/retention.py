"""Retention: what the journal may forget once its retention period is over.

``with journal.unit() as uow: n = uow.retention.purge_before(cutoff); uow.commit()``.
"""

from __future__ import annotations

from datetime import datetime

from appliance.journal.codec import Executor, iso


class Retention:
    """Deletes rows older than a cutoff that nothing depends on any more."""

    def __init__(self, ex: Executor) -> None:
        self._ex = ex

    def purge_before(self, cutoff: datetime) -> int:
        """Delete transactions created before ``cutoff`` that owe nothing; returns how many.

        Rows still referenced stay: an owed message, a print job still waiting, the original
        of a void or refund that is itself kept. Print jobs done before ``cutoff`` go too.
        """
        ex = self._ex
        # Times are stored as UTC ISO 8601 with microseconds: text order is time order.
        since = iso(cutoff)
        doomed = [
            r[0]
            for r in ex.execute(
                """SELECT uuid FROM transactions
                   WHERE created_at < ? AND state NOT IN ('pending', 'stored', 'reversal_owed')
                     AND uuid NOT IN (SELECT txn_uuid FROM outbox)
                     AND uuid NOT IN (SELECT original_uuid FROM transactions
                                      WHERE original_uuid IS NOT NULL AND created_at >= ?)
                     AND uuid NOT IN (SELECT txn_uuid FROM print_jobs
                                      WHERE txn_uuid IS NOT NULL AND state != 'done')""",
                (since, since),
            )
        ]
        for txn_uuid in doomed:
            ex.execute("DELETE FROM print_jobs WHERE txn_uuid=?", (txn_uuid,))
            # A void/refund row that is itself purged may point at this one: unlink it first.
            ex.execute(
                "UPDATE transactions SET original_uuid=NULL WHERE original_uuid=?", (txn_uuid,)
            )
            ex.execute("DELETE FROM transactions WHERE uuid=?", (txn_uuid,))
        ex.execute("DELETE FROM print_jobs WHERE state='done' AND created_at < ?", (since,))
        return len(doomed)
