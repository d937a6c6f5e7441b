"""``countertop backup``, ``restore`` and ``journal verify`` through the command line."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from appliance.cli import main
from tests.shop import Shop


def test_backup_restore_verify_round_trip(
    shop: Shop, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = ["--config", str(shop.cfg.path)]
    shop.terminal.sale(1200, operator="01")
    out = tmp_path / "backups" / "journal-1.db"
    assert main(["backup", "--out", str(out), "--json", *cfg]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["transactions"] == 1 and Path(doc["path"]) == out
    assert oct(out.stat().st_mode & 0o777) == "0o600"

    shop.terminal.sale(300, operator="01")  # after the backup: online, nothing owed
    shop.terminal.close()
    assert main(["restore", str(out), *cfg]) == 0
    text = capsys.readouterr().out
    assert "previous journal kept as" in text and "sign on again" in text
    assert main(["journal", "verify", *cfg]) == 0
    assert "OK" in capsys.readouterr().out
    shop.restart()


def test_verify_exits_non_zero_and_lists_each_problem(
    shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.terminal.sale(1200, operator="01")
    shop.terminal.close()
    c = sqlite3.connect(shop.cfg.journal_path)
    c.execute("UPDATE transactions SET card_blob=x'00'")
    c.execute("UPDATE counters SET value=-1 WHERE name='stan'")
    c.commit()
    c.close()
    assert main(["journal", "verify", "--config", str(shop.cfg.path)]) == 1
    err = capsys.readouterr().err
    assert "still holds encrypted card data" in err and "STAN counter -1" in err
    assert "2 problem(s)" in err
    shop.restart()


def test_restore_refuses_a_file_that_is_not_a_journal(
    shop: Shop, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    shop.terminal.close()
    assert main(["restore", str(junk), "--config", str(shop.cfg.path)]) == 1
    assert "junk.db" in capsys.readouterr().err
    assert not list(shop.cfg.state_dir.glob("journal.db.replaced-*"))
    shop.restart()
