"""Security checks over a whole scripted shift: no full PAN anywhere, keys checked end to end.

The shift: online sales with three schemes, a void, the host refusing connections (stored
payments), the host back (stored payments forwarded), reprints, the CLI's listings, a backup.
Then every byte the terminal left behind is searched for every test PAN in every form a careless
line of code could produce: ASCII digits, digits grouped by four, digits separated by spaces,
and packed BCD (as in track 2 on the wire).
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.domain.transactions import TxnState
from appliance.errors import KeyCheckError
from appliance.services.reprint import reprint, select
from tests.shop import SUPERVISOR, Shop

PANS = ["4761739001010119", "5413330089010434", "6234567890123456780"]


def pan_forms(pan: str) -> list[bytes]:
    """Every encoding of ``pan`` the search looks for."""
    grouped = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))
    spaced = " ".join(pan)
    bcd = bytes.fromhex(pan if len(pan) % 2 == 0 else pan + "F")
    forms = [pan.encode(), grouped.encode(), spaced.encode(), bcd]
    forms += [f.encode("utf-16-le") for f in (pan, grouped)]
    return forms


def leaks(where: str, data: bytes) -> list[str]:
    """Which PAN forms ``data`` contains, named for the failure message."""
    return [
        f"{where}: {form!r}"
        for pan in PANS
        for form in pan_forms(pan)
        if form in data or form in data.lower()
    ]


def files_of(path: Path) -> dict[str, bytes]:
    """A SQLite database's main, -wal and -shm files, as they are now."""
    out = {}
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{path}{suffix}")
        if p.exists():
            out[p.name] = p.read_bytes()
    return out


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; its stdout and stderr together."""
    main(argv)
    out, err = capsys.readouterr()
    return out + err


def test_no_full_pan_anywhere_after_a_shift(
    shop: Shop,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, at its most talkative
    logging.getLogger().setLevel(logging.DEBUG)
    term = shop.terminal
    cfg = ["--config", str(shop.cfg.path)]
    found: list[str] = []

    # Online sales, one per scheme, and a void.
    for card, amount in (("visa", 1250), ("mastercard", 3000), ("unionpay", 880)):
        term.reader.present(card)
        assert term.sale(amount, operator="01").result == "approved"
    assert term.void(term.transactions(limit=1)[0].stan, approver=SUPERVISOR).result == "approved"

    # The host refuses connections: stored payments, card data encrypted in the journal.
    shop.acquirer.set_fault("refuse")
    for card, amount in (("visa", 2000), ("unionpay", 1500)):
        term.reader.present(card)
        assert term.sale(amount, operator="01").result == "stored"
    stored = [t for t in term.transactions() if t.state == TxnState.STORED]
    assert len(stored) == 2 and all(term.journal.card_blob(t.uuid) for t in stored)

    bins = {t.masked_pan[:6] for t in term.transactions()}
    assert bins == {p[:6] for p in PANS}, bins  # every test card really took part
    assert Path(f"{shop.cfg.journal_path}-wal").stat().st_size > 0

    # Before any checkpoint: the WAL holds the freshest pages, card data included.
    for name, data in files_of(shop.cfg.journal_path).items():
        found += leaks(f"journal {name} (stored, before checkpoint)", data)

    # The host is back: forward everything owed.
    shop.acquirer.clear_faults()
    report = term.send_owed()
    assert not term.journal.owed()
    assert all(t.state != TxnState.STORED for t in term.transactions()), report

    # Reprints of every stub, printed.
    queue = term.receipts
    term.printer.paper_out()  # the roll runs out mid-shift: jobs wait (and that is logged)
    reprint(queue, term.transactions())
    queue.drain()
    term.printer.restore()
    reprint(queue, select(term.journal, last=True), copy="customer")
    queue.drain()
    for name, data in files_of(shop.cfg.journal_path).items():
        found += leaks(f"journal {name} (after forwarding)", data)

    # The CLI's listings and tools, in a second process's shoes (own terminal on the journal).
    outputs = cli(["sale", "3.00", "--card", "mastercard", *cfg], capsys)
    outputs += cli(["sale", "4.00", "--card", "unionpay", "--json", *cfg], capsys)
    outputs += cli(["journal", "export", "--format", "csv", *cfg], capsys)
    outputs += cli(["journal", "export", "--format", "json", *cfg], capsys)
    outputs += cli(["status", "--json", *cfg], capsys)
    outputs += cli(["reprint", "last", *cfg], capsys)
    outputs += cli(["backup", "--out", str(tmp_path / "b.db"), *cfg], capsys)
    outputs += cli(["journal", "verify", *cfg], capsys)
    outputs += cli(["selftest", "--json", *cfg], capsys)
    found += leaks("CLI output", outputs.encode())
    found += leaks("backup file", (tmp_path / "b.db").read_bytes())

    printer = term.printer
    assert printer.jobs, "the shift printed stubs"
    for job_id, data in printer.jobs:
        found += leaks(f"print job {job_id}", data)
    found += leaks("printed text", "\n".join(printer.texts()).encode())
    found += leaks("paper", printer.received)

    # After the terminal closes (checkpoint) and the acquirer's own books.
    shop.terminal.close()
    for name, data in files_of(shop.cfg.journal_path).items():
        found += leaks(f"journal {name} (closed)", data)
    ledger = shop.cfg.state_dir / "acquirer" / "ledger.db"
    for name, data in files_of(ledger).items():
        found += leaks(f"acquirer {name}", data)
    found += leaks("logs", caplog.text.encode())
    assert caplog.records, "the shift logged something to search"
    shop.restart()
    assert found == []


def test_sign_on_whose_key_check_value_does_not_match_is_refused_and_stores_no_keys(
    shop: Shop,
) -> None:
    """The acquirer holds a different TMK: it cannot verify the sign-on (A0, no keys issued)."""
    from appliance.bootstrap import build_terminal
    from appliance.host.keys import generate_key

    journal = shop.terminal.journal
    journal.session_set(pik="", pik_kcv="", mak="", mak_kcv="")
    shop.terminal.close()
    shop.acquirer.terminals[shop.cfg.merchant.tid] = generate_key()  # the host's TMK differs
    term = build_terminal(shop.cfg)
    shop.terminal = term
    assert not term.signed_on
    with pytest.raises(KeyCheckError, match="terminal master key loaded here is not the one"):
        term.sign_on("01")
    assert not term.signed_on
    assert not any(term.journal.session_get(k) for k in ("pik", "mak", "pik_kcv", "mak_kcv"))


def test_a_tampered_mac_is_not_taken_as_an_answer(shop: Shop) -> None:
    """The acquirer approves but corrupts the MAC: that attempt is reversed, never approved.

    (The terminal then signs on again and sends the sale once more as a new transaction,
    which the untampered answer approves.)"""
    shop.acquirer.set_fault("bad_mac", count=1)
    out = shop.terminal.sale(1000, operator="01")
    tampered = [t for t in shop.terminal.transactions() if out.txn and t.uuid != out.txn.uuid]
    assert len(tampered) == 1
    shop.terminal.send_owed()
    assert shop.terminal.journal.get(tampered[0].uuid).state == TxnState.REVERSED
    assert out.result == "approved" and out.txn is not None
    assert out.txn.stan != tampered[0].stan


def test_provisioning_with_a_wrong_component_check_value_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    c1, c2 = "0123456789ABCDEFFEDCBA9876543210", "1111111122222222333333334444444A"
    cfg_path = tmp_path / "terminal.toml"
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{c1}\n{c2}\n"))
    code = main(
        [
            "provision",
            "--config",
            str(cfg_path),
            "--component-stdin",
            "--demo",
            "--mid=898310048160009",
            "--tid=90000009",
            "--name=X",
            "--host=127.0.0.1",
            "--port=9",
            "--dialect=iso87",
            "--kcv=000000",  # not the first component's check value
            "--kcv=000000",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 1 and "component 1 check value" in err and "nothing was written" in err
    assert not cfg_path.exists() and not (tmp_path / "state").exists()
    assert c1 not in out + err and c2 not in out + err


def test_backup_holds_no_card_data_in_clear(shop: Shop, tmp_path: Path) -> None:
    """A stored payment's backup holds ciphertext only; the data key is not in it."""
    from appliance.journal.backup import backup

    shop.acquirer.set_fault("refuse")
    assert shop.terminal.sale(700, operator="01").result == "stored"
    backup(shop.cfg.journal_path, tmp_path / "b.db")
    data = (tmp_path / "b.db").read_bytes()
    assert leaks("backup", data) == []
    assert shop.cfg.data_key() not in data and shop.cfg.data_key().hex().encode() not in data
    c = sqlite3.connect(tmp_path / "b.db")
    assert (
        c.execute("SELECT COUNT(*) FROM transactions WHERE card_blob IS NOT NULL").fetchone()[0]
        == 1
    )
    c.close()


def test_the_search_finds_each_form_it_looks_for() -> None:
    """The leak search itself works: every form of a planted PAN is found."""
    for form in pan_forms(PANS[0]):
        assert leaks("planted", b"xx" + form + b"yy")
    assert leaks("masked", b"476173******0119") == []
