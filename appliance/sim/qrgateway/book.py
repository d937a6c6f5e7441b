"""The QR gateway's books: trades and refunds in the reference acquirer's own ledger file.

The tables live in the same SQLite file as the card ledger (``ledger.db``, WAL, FULL), so the
acquirer's statement lists card and QR payments of a day together. Every call is one
transaction; a trade waiting for the customer (WAIT_BUYER_PAY) becomes SUCCESS when its
``pay_after`` time has passed, read lazily on every access (the ``userpaying`` fault), and a
refund PROCESSING becomes SUCCESS at its ``ready_at`` (``refund_pending``).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from appliance.errors import JournalError

# Trade numbers carry the date in China Standard Time, as the wallets' do; the business day
# of the books is UTC, as the card ledger's (reconciliation matches them on the same day).
CST = timezone(timedelta(hours=8))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS qr_trades (
    out_trade_no TEXT PRIMARY KEY, tid TEXT NOT NULL, mid TEXT NOT NULL,
    wallet TEXT NOT NULL, mode TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL,
    state TEXT NOT NULL, trade_no TEXT NOT NULL UNIQUE, buyer TEXT NOT NULL DEFAULT '',
    refunded INTEGER NOT NULL DEFAULT 0, pay_after REAL, created_at TEXT NOT NULL,
    paid_at TEXT, closed_at TEXT, action TEXT NOT NULL DEFAULT '',
    business_date TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS qr_refunds (
    out_refund_no TEXT PRIMARY KEY, out_trade_no TEXT NOT NULL REFERENCES qr_trades,
    amount INTEGER NOT NULL, status TEXT NOT NULL, refund_id TEXT NOT NULL UNIQUE,
    ready_at REAL NOT NULL, created_at TEXT NOT NULL, business_date TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS qr_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

_PREFIX = {"WECHATPAY": "42", "ALIPAY": "20", "UNIONPAYQR": "62", "": "90"}


class QrBook:
    """Trades and refunds of the QR gateway; every public method is one transaction."""

    def __init__(self, path: str | Path, *, clock: Any = None) -> None:
        self.path = Path(path)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30
            )
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=30000")
            with self.tx() as db:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        db.execute(stmt)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the QR gateway's books {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def now(self) -> datetime:
        """The gateway's clock (UTC)."""
        return self._clock()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction (BEGIN IMMEDIATE … COMMIT, rolled back on error)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ---- inside a transaction ------------------------------------------------------------

    def _next(self, db: sqlite3.Connection, name: str) -> int:
        db.execute("INSERT OR IGNORE INTO qr_counters VALUES (?, 0)", (name,))
        db.execute("UPDATE qr_counters SET value = value + 1 WHERE name = ?", (name,))
        return int(db.execute("SELECT value FROM qr_counters WHERE name=?", (name,)).fetchone()[0])

    def trade(self, db: sqlite3.Connection, out_trade_no: str) -> dict[str, Any] | None:
        """The trade, with a due customer confirmation applied (WAIT_BUYER_PAY → SUCCESS)."""
        row = db.execute("SELECT * FROM qr_trades WHERE out_trade_no=?", (out_trade_no,)).fetchone()
        if row is None:
            return None
        t = dict(row)
        if (
            t["state"] == "WAIT_BUYER_PAY"
            and t["pay_after"] is not None
            and t["pay_after"] <= self.now().timestamp()
        ):
            self._mark_paid(db, t)
        return t

    def _mark_paid(self, db: sqlite3.Connection, t: dict[str, Any]) -> None:
        now = self.now()
        db.execute(
            "UPDATE qr_trades SET state='SUCCESS', paid_at=?, pay_after=NULL, business_date=? "
            "WHERE out_trade_no=?",
            (now.isoformat(), now.astimezone(UTC).date().isoformat(), t["out_trade_no"]),
        )
        t.update(state="SUCCESS", paid_at=now.isoformat(), pay_after=None)

    def create(
        self,
        db: sqlite3.Connection,
        *,
        out_trade_no: str,
        tid: str,
        mid: str,
        wallet: str,
        mode: str,
        amount: int,
        currency: str,
        state: str,
        buyer: str = "",
        pay_after: float | None = None,
    ) -> dict[str, Any]:
        """Record a new trade (its trade number is allocated here)."""
        now = self.now()
        seq = self._next(db, "trade")
        trade_no = f"{_PREFIX.get(wallet, '90')}{now.astimezone(CST):%Y%m%d}{seq:010d}"
        db.execute(
            "INSERT INTO qr_trades (out_trade_no, tid, mid, wallet, mode, amount, currency, "
            "state, trade_no, buyer, pay_after, created_at, paid_at, closed_at, business_date) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                out_trade_no,
                tid,
                mid,
                wallet,
                mode,
                amount,
                currency,
                state,
                trade_no,
                buyer,
                pay_after,
                now.isoformat(),
                now.isoformat() if state == "SUCCESS" else None,
                now.isoformat() if state == "CLOSED" else None,
                now.astimezone(UTC).date().isoformat(),
            ),
        )
        t = self.trade(db, out_trade_no)
        assert t is not None
        return t

    def pay_now(self, db: sqlite3.Connection, t: dict[str, Any], wallet: str, buyer: str) -> None:
        """The customer confirmed a waiting trade (a merchant-presented code was scanned)."""
        db.execute(
            "UPDATE qr_trades SET wallet=?, buyer=? WHERE out_trade_no=?",
            (wallet, buyer, t["out_trade_no"]),
        )
        t.update(wallet=wallet, buyer=buyer)
        self._mark_paid(db, t)

    def close_trade(self, db: sqlite3.Connection, t: dict[str, Any], action: str) -> None:
        """Close a trade (cancel): ``action`` is "close" (never paid) or "refund" (paid)."""
        db.execute(
            "UPDATE qr_trades SET state='CLOSED', closed_at=?, action=?, pay_after=NULL "
            "WHERE out_trade_no=?",
            (self.now().isoformat(), action, t["out_trade_no"]),
        )
        t.update(state="CLOSED", action=action)

    def refund(self, db: sqlite3.Connection, out_refund_no: str) -> dict[str, Any] | None:
        """A refund, with a due PROCESSING → SUCCESS applied."""
        row = db.execute(
            "SELECT * FROM qr_refunds WHERE out_refund_no=?", (out_refund_no,)
        ).fetchone()
        if row is None:
            return None
        r = dict(row)
        if r["status"] == "PROCESSING" and r["ready_at"] <= self.now().timestamp():
            db.execute(
                "UPDATE qr_refunds SET status='SUCCESS' WHERE out_refund_no=?", (out_refund_no,)
            )
            r["status"] = "SUCCESS"
        return r

    def add_refund(
        self,
        db: sqlite3.Connection,
        t: dict[str, Any],
        out_refund_no: str,
        amount: int,
        ready_in: float,
    ) -> dict[str, Any]:
        """Record a refund of ``amount`` (reserved against the trade at once)."""
        now = self.now()
        seq = self._next(db, "refund")
        db.execute(
            "INSERT INTO qr_refunds VALUES (?,?,?,?,?,?,?,?)",
            (
                out_refund_no,
                t["out_trade_no"],
                amount,
                "PROCESSING" if ready_in > 0 else "SUCCESS",
                f"50{now.astimezone(CST):%Y%m%d}{seq:010d}",
                now.timestamp() + ready_in,
                now.isoformat(),
                now.astimezone(UTC).date().isoformat(),
            ),
        )
        refunded = t["refunded"] + amount
        state = "REFUNDED" if refunded >= t["amount"] else t["state"]
        db.execute(
            "UPDATE qr_trades SET refunded=?, state=? WHERE out_trade_no=?",
            (refunded, state, t["out_trade_no"]),
        )
        t.update(refunded=refunded, state=state)
        r = self.refund(db, out_refund_no)
        assert r is not None
        return r

    # ---- reading -------------------------------------------------------------------------

    def trades(self) -> list[dict[str, Any]]:
        """Every trade, due confirmations applied, in creation order."""
        with self.tx() as db:
            names = [r[0] for r in db.execute("SELECT out_trade_no FROM qr_trades ORDER BY rowid")]
            return [t for n in names if (t := self.trade(db, n)) is not None]

    def refunds(self) -> list[dict[str, Any]]:
        """Every refund, due completions applied."""
        with self.tx() as db:
            names = [
                r[0] for r in db.execute("SELECT out_refund_no FROM qr_refunds ORDER BY rowid")
            ]
            return [r for n in names if (r := self.refund(db, n)) is not None]

    def statement(self, day: date) -> list[dict[str, Any]]:
        """The QR lines of ``day``: paid trades (not cancelled) and successful refunds."""
        out: list[dict[str, Any]] = []
        for t in self.trades():
            if t["business_date"] == day.isoformat() and t["state"] in ("SUCCESS", "REFUNDED"):
                out.append({**t, "type": "sale"})
            elif (
                t["business_date"] == day.isoformat()
                and t["state"] == "CLOSED"
                and t["action"] == "refund"
            ):
                continue  # paid, then cancelled: the money went back the same day
        by_trade = {t["out_trade_no"]: t for t in self.trades()}
        for r in self.refunds():
            if r["business_date"] == day.isoformat() and r["status"] == "SUCCESS":
                t = by_trade[r["out_trade_no"]]
                out.append(
                    {
                        **t,
                        "type": "refund",
                        "amount": r["amount"],
                        "out_trade_no": r["out_refund_no"],
                        "trade_no": r["refund_id"],
                    }
                )
        return out


def buyer_of(code: str, wallet: str) -> str:
    """A stable buyer reference for a payment code, in each wallet's style (never the code)."""
    h = hashlib.sha256(code.encode()).hexdigest()
    if wallet == "WECHATPAY":
        return "oUpF8" + h[:23]  # an openid
    if wallet == "ALIPAY":
        return "2088" + str(int(h[:12], 16))[:12].rjust(12, "0")  # buyer_user_id
    return "62" + str(int(h[:14], 16))[:14].rjust(14, "0")
