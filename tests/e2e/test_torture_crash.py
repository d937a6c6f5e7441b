"""The crash torture test: a scripted shift killed with SIGKILL at random moments, restarted,
drained, and checked against the acquirer's ledger after every trial (appliance.sim.torture)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.sim.torture import DEFAULT_SHIFT_CMD, FAULT_SETTINGS, Torture, run_fault_trial

TRIALS = 50


def test_a_reversal_encodes_for_every_crash_to_be_reversed() -> None:
    """Every crash after a request left needs a reversal: if one cannot be built, the torture
    below fails (it is never skipped), and this says why first."""
    from datetime import UTC, datetime

    from appliance.host.dialects import get_dialect
    from appliance.host.messages import HostRequest, MessageKind, OriginalRef

    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
    req = HostRequest(
        MessageKind.REVERSAL,
        "10000001",
        "898310048160001",
        2,
        now,
        amount=100,
        currency="156",
        batch=1,
        original=OriginalRef(MessageKind.SALE, 1, now, 100, batch=1),
    )
    assert get_dialect("iso87").encode_request(req, bytes(16))


def test_fifty_killed_shifts_lose_nothing_and_charge_nothing_twice(tmp_path: Path) -> None:
    report = Torture(tmp_path, seed=20261122, shift_cmd=DEFAULT_SHIFT_CMD).run(TRIALS)
    assert report.trials == TRIALS
    assert report.killed > TRIALS // 2  # most trials really were killed mid-shift
    assert report.told > 0
    assert report.as_dict()["failures"] == []


def test_an_unkilled_shift_tells_every_outcome_and_leaves_the_books_in_agreement(
    tmp_path: Path,
) -> None:
    torture = Torture(tmp_path, seed=7, shift_cmd=DEFAULT_SHIFT_CMD)
    try:
        result = torture.trial(0, kill=False)
    finally:
        torture.close()
    assert result.kill_after_ms is None
    assert result.told >= 7  # 4 online sales, a void, 3 offline sales (some may be refused)
    assert result.violations == []


@pytest.mark.parametrize("fault", sorted(FAULT_SETTINGS))
def test_invariants_hold_under_each_network_fault(tmp_path: Path, fault: str) -> None:
    assert run_fault_trial(tmp_path, fault, seed=3) == []
