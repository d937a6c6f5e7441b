"""When the journal cannot record the bank's answer, the terminal reverses and says so.

The answer's write is made to fail the way a full disk fails it (JournalWriteError, nothing
committed); the real reference acquirer answers. No root needed (the tmpfs sweep in
tests/e2e/test_storage_full.py does the same with a real full file system).
"""

from __future__ import annotations

from typing import Any

import pytest

from appliance.domain.transactions import TxnState
from appliance.errors import JournalWriteError
from tests.shop import Shop, agreement


def fail_outcome_writes(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_a: Any, **_k: Any) -> None:
        raise JournalWriteError("journal write failed: database or disk is full", durable=False)

    monkeypatch.setattr(shop.terminal.journal, "record_outcome", full)
    monkeypatch.setattr(shop.terminal.journal, "owe_reversal", full)


def test_an_approval_that_cannot_be_recorded_is_reversed_at_once_and_reported(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_outcome_writes(shop, monkeypatch)
    out = shop.terminal.sale(5000)
    assert (out.result, out.code) == ("failed", "storage.unrecorded_reversed")
    assert out.txn is not None and out.txn.state == TxnState.PENDING
    assert "nothing is charged" in out.message_en and "未扣款" in out.message_zh
    ledger = [r for r in shop.acquirer.ledger() if int(r["stan"]) == out.txn.stan]
    assert [r["status"] for r in ledger if r["type"] == "sale"] == ["reversed"]
    monkeypatch.undo()
    # The PENDING row is reversed from the journal before the next payment; the host
    # acknowledges the repeated reversal; the retry is charged once.
    retry = shop.terminal.sale(5000)
    assert retry.result == "approved"
    assert shop.terminal.journal.get(out.txn.uuid).state == TxnState.REVERSED
    assert agreement(shop) == []


def test_an_unrecorded_approval_whose_reversal_fails_says_do_not_charge_again(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_outcome_writes(shop, monkeypatch)
    monkeypatch.setattr(shop.terminal, "_reverse_unjournaled", lambda _txn: False)
    out = shop.terminal.sale(5000)
    assert (out.result, out.code) == ("failed", "storage.unrecorded_reversal_owed")
    assert "Do not take the payment again" in out.message_en
    monkeypatch.undo()
    shop.restart()  # a new process: start-up recovery owes the reversal
    assert [o.txn_uuid for o in shop.terminal.journal.owed("reversal")] == [out.txn.uuid]
    assert shop.terminal.sale(5000).result == "approved"  # the reversal goes first
    assert shop.terminal.journal.get(out.txn.uuid).state == TxnState.REVERSED
    assert agreement(shop) == []


def test_the_outcome_and_its_stub_commit_together_or_not_at_all(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stub's job is written in the outcome's unit: a stub that cannot be written is an
    outcome that cannot be written, and is reversed like one (never approved without a stub)."""
    assert shop.terminal.receipts is not None

    def no_room(*_a: Any, **_k: Any) -> Any:
        def hook(uow: Any, _txn: Any) -> None:
            uow.execute("INSERT INTO print_jobs (id) VALUES (NULL)")  # fails inside the unit

        return hook

    monkeypatch.setattr(shop.terminal.receipts, "stub_hook", no_room)
    out = shop.terminal.sale(5000)
    assert (out.result, out.code) == ("failed", "storage.unrecorded_reversed")
    assert out.txn is not None
    assert shop.terminal.journal.get(out.txn.uuid).state == TxnState.PENDING
