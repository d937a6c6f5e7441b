"""Forty wrong PINs at once, from threads and from processes, lock the operator after exactly five.

The count is checked and incremented in one journal write transaction, so no interleaving lets
two attempts see the same count, and none is checked once the lock is written.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.journal import Journal
from appliance.operators import LoginRefused, OperatorStore

ATTEMPTS = 40
RIGHT, WRONG = "135790", "000000"


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Journal]:
    # A cheap hash for the set-up; the hash carries its parameters, so verification is unchanged.
    monkeypatch.setattr("appliance.operators.SCRYPT_N", 2**10)
    opened = Journal.open(tmp_path / "journal.db")
    OperatorStore(opened).add("01", "Wang", "operator", RIGHT, by="test")
    yield opened
    opened.close()


def outcome(refused: LoginRefused | None) -> str:
    """One attempt's result, as a word: counted (with tries left), locking, or locked."""
    if refused is None:
        return "signed in"
    message = str(refused)
    if "now locked" in message:
        return "locked by this one"
    if "is locked until" in message:
        return "refused: locked"
    if "left" in message:
        return "counted"
    return message


def attempt(store: OperatorStore) -> str:
    try:
        store.authenticate("01", WRONG)
    except LoginRefused as refused:
        return outcome(refused)
    return outcome(None)


def attempt_in_a_process(path: str, start: Any, results: Any) -> None:
    """A separate process with its own journal connection: wait for the others, then guess."""
    journal = Journal.open(Path(path))
    store = OperatorStore(journal)
    start.wait()
    results.put(attempt(store))
    journal.close()


def assert_locked_after_exactly_five(journal: Journal, outcomes: list[str]) -> None:
    assert Counter(outcomes) == {
        "counted": 4,
        "locked by this one": 1,
        "refused: locked": ATTEMPTS - 5,
    }
    store = OperatorStore(journal)
    assert store.get("01").failed_attempts == 5
    with pytest.raises(LoginRefused, match="is locked until"):
        store.authenticate("01", RIGHT)
    actions = Counter(entry["action"] for entry in journal.audit_trail(limit=1000))
    assert actions["operator.locked"] == 1
    assert actions["login.refused"] == ATTEMPTS + 1  # 5 wrong, 35 + 1 (the right PIN) locked
    assert actions["login"] == 0


def test_forty_parallel_threads_lock_the_operator_after_exactly_five(journal: Journal) -> None:
    store = OperatorStore(journal)  # one store shared, as the kiosk shares it
    start = threading.Barrier(ATTEMPTS)
    outcomes: list[str] = []

    def run() -> None:
        start.wait()
        outcomes.append(attempt(store))

    threads = [threading.Thread(target=run) for _ in range(ATTEMPTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert_locked_after_exactly_five(journal, outcomes)


def test_forty_parallel_processes_lock_the_operator_after_exactly_five(
    journal: Journal, tmp_path: Path
) -> None:
    # Forked (not spawned) to keep 40 start-ups cheap; no connection crosses the fork: each
    # child opens its own, and the parent's is closed until the children are done.
    journal.close()
    context = multiprocessing.get_context("fork")
    start = context.Barrier(ATTEMPTS)
    results = context.Queue()
    path = str(tmp_path / "journal.db")
    processes = [
        context.Process(target=attempt_in_a_process, args=(path, start, results))
        for _ in range(ATTEMPTS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join()
        assert process.exitcode == 0
    reopened = Journal.open(tmp_path / "journal.db")
    try:
        assert_locked_after_exactly_five(reopened, outcomes)
    finally:
        reopened.close()
