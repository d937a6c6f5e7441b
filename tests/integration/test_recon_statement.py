"""Reconciliation of the reference acquirer's statement against the journal (loopback shop)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from appliance.errors import ConfigError, NotFound
from appliance.services.reconcile import Reconciler
from appliance.sim.acquirer.statement import statement_text
from tests.shop import Shop


def day() -> object:
    return datetime.now(UTC).date()


def busy_day(shop: Shop) -> None:
    term = shop.terminal
    for a in (1000, 2000, 3000, 4000):
        assert term.sale(a, operator="01").result == "approved"
    voided = term.sale(5000, operator="01").txn
    assert voided is not None
    assert term.void(voided.stan, operator="01").result == "approved"


def run(shop: Shop, *inject: str) -> object:
    fees = shop.cfg.settlement.fees_bp
    text = statement_text(shop.acquirer.books, day(), fees, inject)  # type: ignore[arg-type]
    return Reconciler(shop.terminal).reconcile_text(text, name="statement.csv")


def test_the_acquirers_own_statement_matches_the_journal(shop: Shop) -> None:
    busy_day(shop)
    r = run(shop)
    assert r.clean, r.as_dict()  # type: ignore[attr-defined]
    assert r.matched_count == 4  # type: ignore[attr-defined]
    assert r.stated_net == r.expected_net  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("inject", "kind"),
    [
        ("missing", "terminal_only"),
        ("amount", "amount_mismatch"),
        ("fee", "fee_mismatch"),
        ("unknown", "acquirer_only"),
        ("reversed_charged", "reversed_charged"),
    ],
)
def test_each_injected_discrepancy_is_found_with_its_evidence(
    shop: Shop, inject: str, kind: str
) -> None:
    busy_day(shop)
    r = run(shop, inject)
    found = [(d.kind, d) for d in r.discrepancies]  # type: ignore[attr-defined]
    assert [k for k, _ in found] == [kind]
    d = found[0][1]
    assert d.trace and d.rrn and d.masked_pan and d.amount > 0 and d.when is not None
    if kind != "acquirer_only":
        assert d.txn_uuid is not None and d.auth_code


def test_all_discrepancies_at_once_and_the_net_deposit_difference(shop: Shop) -> None:
    busy_day(shop)
    r = run(shop, "missing", "amount", "fee", "unknown", "reversed_charged")
    counts = r.as_dict()["counts"]  # type: ignore[attr-defined]
    assert counts == {
        "terminal_only": 1,
        "acquirer_only": 1,
        "reversed_charged": 1,
        "duplicate": 0,
        "amount_mismatch": 1,
        "fee_mismatch": 1,
        "qr_charged_not_paid": 0,  # QR cases (docs/qr.md): none on a card-only day
        "qr_cancel_owed": 0,
    }
    assert r.stated_net != r.expected_net  # type: ignore[attr-defined]


def test_the_last_result_is_kept_for_the_ui_and_print_queues_the_evidence(shop: Shop) -> None:
    busy_day(shop)
    rc = Reconciler(shop.terminal)
    with pytest.raises(NotFound):
        rc.last()
    r = run(shop, "missing", "unknown")
    last = rc.last()
    assert last["counts"]["terminal_only"] == 1 and last["statement"] == "statement.csv"
    before = len(shop.terminal.receipts.jobs())  # type: ignore[union-attr]
    jobs = rc.print(r)  # type: ignore[arg-type]
    assert len(jobs) == 2  # the reconciliation slip + the missing sale's merchant stub
    whats = [j.what for j in shop.terminal.receipts.jobs()[before:]]  # type: ignore[union-attr]
    assert whats[0].startswith("reconciliation") and whats[1].startswith("reprint")


def test_injections_need_enough_lines(shop: Shop) -> None:
    assert shop.terminal.sale(1000).result == "approved"
    with pytest.raises(ConfigError, match="needed"):
        run(shop, "missing", "amount")
    with pytest.raises(ConfigError, match="no reversed"):
        run(shop, "reversed_charged")
    with pytest.raises(ConfigError, match="unknown discrepancy"):
        run(shop, "typo")


def test_an_empty_statement_reports_every_approval_as_not_at_host(shop: Shop) -> None:
    from appliance.domain.reconcile import statement_csv

    sold = [shop.terminal.sale(a, operator="01").txn for a in (1000, 2000)]
    empty = statement_csv([])  # a header and no lines: the acquirer lists nothing
    result = Reconciler(shop.terminal).reconcile_text(empty, name="empty.csv")
    assert not result.clean
    assert sorted((d.kind, d.amount) for d in result.discrepancies) == [
        ("terminal_only", 1000),
        ("terminal_only", 2000),
    ]
    assert {d.txn_uuid for d in result.discrepancies} == {t.uuid for t in sold if t}
    dated = Reconciler(shop.terminal).reconcile_text(empty, dates=[day().isoformat()])
    assert len(dated.discrepancies) == 2
    other_day = Reconciler(shop.terminal).reconcile_text(empty, dates=["2001-01-01"])
    assert other_day.clean  # a statement of a day without sales lacks nothing


def test_the_reconcile_command_heads_a_one_sided_approval_not_at_host(
    shop: Shop, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    from appliance.cli import main
    from appliance.domain.reconcile import statement_csv

    shop.terminal.sale(1000, operator="01")
    path = tmp_path / "empty.csv"
    path.write_text(statement_csv([]), encoding="utf-8")
    assert main(["--config", str(shop.cfg.path), "reconcile", str(path)]) != 0
    out = capsys.readouterr().out
    assert "NOT AT HOST" in out and "all lines match" not in out
