"""The reference acquirer's own books: a SQLite ledger and the decisions it takes.

Every request is answered inside the SQLite transaction that also records the answer under
its idempotency key ``(TID, STAN, field 7, MTI class)``; a repeat (0401/0221, or a resend
after a lost response) gets the stored answer and changes nothing. ``answer_many`` decides
several requests in one transaction (group commit: one fsync), each in its own savepoint. WAL mode, and
``synchronous=FULL`` on the connection, as on the terminal.

Decisions (deterministic, documented in docs/acquirer.md) live in ``decide_payment``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from appliance.domain.card import mask_pan
from appliance.errors import CountertopError, JournalError
from appliance.host import keys
from appliance.host.dialects.wire_time import transmission_stamp
from appliance.host.messages import (
    HostRequest,
    HostResponse,
    MessageKind,
    OriginalRef,
    SettlementTotals,
    WorkingKeys,
)

log = logging.getLogger(__name__)

DECLINE_PAN = "4000000000000002"  # always declined 05 (do not honour)
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    tid TEXT PRIMARY KEY, pik BLOB NOT NULL, mak BLOB NOT NULL, issued_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    tid TEXT NOT NULL, stan INTEGER NOT NULL, transmitted TEXT NOT NULL,
    mti_class TEXT NOT NULL, kind TEXT NOT NULL, response TEXT NOT NULL,
    received_at TEXT NOT NULL, repeats INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tid, stan, transmitted, mti_class));
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY,
    tid TEXT NOT NULL, mid TEXT NOT NULL, stan INTEGER NOT NULL,
    transmitted TEXT NOT NULL, mti_class TEXT NOT NULL, mti TEXT NOT NULL,
    transmitted_at TEXT NOT NULL, type TEXT NOT NULL, amount INTEGER NOT NULL,
    currency TEXT NOT NULL, masked_pan TEXT, scheme TEXT, rrn TEXT UNIQUE, auth_code TEXT,
    response_code TEXT NOT NULL, status TEXT NOT NULL, batch INTEGER,
    original_id INTEGER REFERENCES transactions(id), refunded INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL, business_date TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS tx_batch ON transactions (tid, batch);
CREATE INDEX IF NOT EXISTS tx_date ON transactions (business_date);
CREATE TABLE IF NOT EXISTS uploads (
    id INTEGER PRIMARY KEY, tid TEXT NOT NULL, batch INTEGER, stan INTEGER NOT NULL,
    type TEXT NOT NULL, amount INTEGER NOT NULL, masked_pan TEXT, created_at TEXT NOT NULL,
    rrn TEXT, auth_code TEXT, entry_mode TEXT);
CREATE TABLE IF NOT EXISTS settlements (
    id INTEGER PRIMARY KEY, tid TEXT NOT NULL, batch INTEGER,
    terminal_totals TEXT NOT NULL, host_totals TEXT NOT NULL, response_code TEXT NOT NULL,
    created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS early_reversals (
    tid TEXT NOT NULL, stan INTEGER NOT NULL, transmitted TEXT NOT NULL,
    received_at TEXT NOT NULL, PRIMARY KEY (tid, stan, transmitted));
"""

_PAYMENT_TYPES = ("sale", "advice")


def card_expired(expiry: str | None, on: datetime | None) -> bool:
    """True when a card expiring at the end of ``expiry`` (YYMM) is past it on ``on``."""
    if not expiry or len(expiry) != 4 or not expiry.isdigit() or on is None:
        return False
    return (2000 + int(expiry[:2]), int(expiry[2:])) < (on.year, on.month)


def decide_payment(
    amount: int, pan: str | None, expiry: str | None = None, on: datetime | None = None
) -> str:
    """The response code for a sale or advice: the reference acquirer's whole risk engine.

    An issuer declines a card past its expiry month with 54 (the terminal sends expired
    cards online with the TVR bit set and lets the issuer decide, as EMV Book 3 says).
    """
    if amount <= 0:
        return "13"
    if card_expired(expiry, on):
        return "54"
    if pan == DECLINE_PAN:
        return "05"
    cents = amount % 100
    if cents == 51:
        return "51"
    if cents == 54:
        return "54"
    if cents == 61:
        return "61"
    return "00"


def scheme_from_pan(pan: str | None) -> str:
    """Card scheme by BIN range (enough for statements; AIDs are not sent in every dialect)."""
    if not pan:
        return "UNKNOWN"
    if pan.startswith("62"):
        return "UNIONPAY"
    if pan.startswith("4"):
        return "VISA"
    two, four = int(pan[:2]), int(pan[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "MASTERCARD"
    if two in (34, 37):
        return "AMEX"
    if two == 35:
        return "JCB"
    return "UNKNOWN"


def _now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """The acquirer's SQLite ledger; every public method is one atomic transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        # MAKs by TID, read on every request and answer: kept in memory once read. A sign-on
        # stages its new MAK here and it replaces the cached one only once committed.
        self._maks: dict[str, bytes | None] = {}
        self._staged_maks: list[tuple[str, bytes]] = []
        # (TID, batch) whose next 0500 is answered out of balance (fault totals_mismatch)
        self._mismatch: set[tuple[str, int | None]] = set()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            with self._tx():
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        self._db.execute(stmt)
                cols = {r[1] for r in self._db.execute("PRAGMA table_info(uploads)")}
                for col in ("rrn", "auth_code", "entry_mode"):
                    if col not in cols:  # a ledger made before uploads said what they were
                        self._db.execute(f"ALTER TABLE uploads ADD COLUMN {col} TEXT")
                self._db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the acquirer ledger {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
                self._maks.update(self._staged_maks)
        finally:
            self._staged_maks.clear()

    # ---------------------------------------------------------------- keys
    def mak(self, tid: str) -> bytes | None:
        """The MAK last issued to ``tid`` (None before its first sign-on)."""
        try:
            return self._maks[tid]
        except KeyError:
            pass  # not cached yet: read it from the ledger below
        with self._lock:  # read and cache under the lock commits take: never a stale key
            row = self._db.execute("SELECT mak FROM keys WHERE tid=?", (tid,)).fetchone()
            mak = bytes(row["mak"]) if row else None
            self._maks[tid] = mak
        return mak

    def rotate_keys(self, tid: str) -> None:
        """Issue new working keys to ``tid`` without telling it (a parallel sign-on)."""
        with self._lock, self._tx() as db:
            mak = keys.generate_key()
            db.execute(
                "INSERT OR REPLACE INTO keys VALUES (?,?,?,?)",
                (tid, keys.generate_key(), mak, _now().isoformat()),
            )
            self._staged_maks.append((tid, mak))

    def mismatch_next(self, tid: str, batch: int | None) -> None:
        """Answer the next 0500 of ``batch`` out of balance unless the batch was uploaded."""
        with self._lock:
            self._mismatch.add((tid, batch))

    # ------------------------------------------------------------- answering
    def answer(
        self, req: HostRequest, mti: str, tmk: bytes | None, *, mac_ok: bool = True
    ) -> HostResponse:
        """Decide ``req`` (or replay the answer to its first copy) and commit both at once.

        ``tmk`` None means the TID is not one of ours (03). ``mac_ok`` False answers A0.
        Neither is recorded.
        """
        with self._lock, self._tx() as db:
            return self._answer(db, req, mti, tmk, mac_ok)

    def answer_many(
        self, batch: Sequence[tuple[HostRequest, str, bytes | None, bool]]
    ) -> list[HostResponse | CountertopError]:
        """Decide several requests ``(req, mti, tmk, mac_ok)`` in one durable commit.

        Group commit: one transaction (one fsync) for the lot, each request inside its own
        savepoint, so a request that cannot be answered is rolled back alone and its slot in
        the returned list holds the error instead of a response. The decisions are the same
        as ``answer`` one at a time in this order (a repeat later in the batch sees the first
        copy's stored answer). When this returns, every response in it is committed; when it
        raises JournalError, none is.
        """
        out: list[HostResponse | CountertopError] = []
        with self._lock:
            try:
                with self._tx() as db:
                    for req, mti, tmk, mac_ok in batch:
                        db.execute("SAVEPOINT answer")
                        staged = len(self._staged_maks)
                        try:
                            out.append(self._answer(db, req, mti, tmk, mac_ok))
                        except (CountertopError, sqlite3.Error, ValueError) as exc:
                            db.execute("ROLLBACK TO answer")
                            del self._staged_maks[staged:]
                            err = (
                                exc
                                if isinstance(exc, CountertopError)
                                else JournalError(f"cannot answer STAN {req.stan:06d}: {exc}")
                            )
                            out.append(err)
                        db.execute("RELEASE answer")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise JournalError(f"the acquirer ledger cannot commit: {exc}") from exc
        return out

    def _answer(
        self,
        db: sqlite3.Connection,
        req: HostRequest,
        mti: str,
        tmk: bytes | None,
        mac_ok: bool,
    ) -> HostResponse:
        key = (req.tid, req.stan, transmission_stamp(req.transmitted_at), mti[:2])
        row = db.execute(
            "SELECT response FROM messages WHERE tid=? AND stan=? AND transmitted=? "
            "AND mti_class=?",
            key,
        ).fetchone()
        if row is not None:
            db.execute(
                "UPDATE messages SET repeats=repeats+1 WHERE tid=? AND stan=? AND "
                "transmitted=? AND mti_class=?",
                key,
            )
            return _response_from_json(row["response"])
        if tmk is None or not mac_ok:
            # Not authenticated: answered, but neither acted on nor remembered, so a
            # forged copy cannot poison the idempotency record of the real one.
            return self._reply(req, "03" if tmk is None else "A0")
        resp = self._decide(db, req, mti, tmk)
        db.execute(
            "INSERT INTO messages (tid, stan, transmitted, mti_class, kind, response, "
            "received_at) VALUES (?,?,?,?,?,?,?)",
            (*key, str(req.kind), _response_to_json(resp), _now().isoformat()),
        )
        return resp

    def _reply(self, req: HostRequest, rc: str, **kw: Any) -> HostResponse:
        return HostResponse(
            kind=req.kind, tid=req.tid, stan=req.stan, response_code=rc, host_time=_now(), **kw
        )

    def _decide(
        self, db: sqlite3.Connection, req: HostRequest, mti: str, tmk: bytes
    ) -> HostResponse:
        k = req.kind
        if k is MessageKind.SIGN_ON:
            pik, mak = keys.generate_key(), keys.generate_key()
            db.execute(
                "INSERT OR REPLACE INTO keys VALUES (?,?,?,?)",
                (req.tid, pik, mak, _now().isoformat()),
            )
            self._staged_maks.append((req.tid, mak))
            wk = WorkingKeys(
                pik=keys.wrap_key(tmk, pik),
                pik_kcv=keys.kcv(pik, 8),  # the dialect sends as many digits as it carries
                mak=keys.wrap_key(tmk, mak),
                mak_kcv=keys.kcv(mak, 8),
            )
            return self._reply(req, "00", working_keys=wk, batch=req.batch)
        if k is MessageKind.ECHO:
            return self._reply(req, "00")
        if k in (MessageKind.SALE, MessageKind.ADVICE):
            amount = req.amount or 0
            card = req.card
            rc = decide_payment(
                amount,
                card.pan if card else None,
                card.expiry if card else None,
                req.transmitted_at,
            )
            return self._record(db, req, mti, str(k), amount, rc)
        if k is MessageKind.VOID:
            return self._void(db, req, mti)
        if k is MessageKind.REFUND:
            return self._refund(db, req, mti)
        if k is MessageKind.REVERSAL:
            return self._reversal(db, req, mti)
        if k is MessageKind.SETTLEMENT:
            return self._settle(db, req)
        if k is MessageKind.BATCH_UPLOAD:
            return self._upload(db, req)
        if k is MessageKind.BATCH_UPLOAD_END:
            return self._upload_end(db, req)
        return self._reply(req, "12")

    def _record(
        self,
        db: sqlite3.Connection,
        req: HostRequest,
        mti: str,
        typ: str,
        amount: int,
        rc: str,
        *,
        original_id: int | None = None,
    ) -> HostResponse:
        now = _now()
        rrn = self._next_rrn(db, now)
        auth = _auth_code(rrn) if rc == "00" else None
        pan = req.card.pan if req.card else None
        status = "approved" if rc == "00" else "declined"
        stamp = transmission_stamp(req.transmitted_at)
        early = db.execute(
            # a reversal that named its original by date only is remembered under MMDD
            "DELETE FROM early_reversals WHERE tid=? AND stan=? AND transmitted IN (?, ?)",
            (req.tid, req.stan, stamp, stamp[:4]),
        ).rowcount
        if early:
            status = "reversed"  # its reversal overtook it: answered, but never charged
        db.execute(
            "INSERT INTO transactions (tid, mid, stan, transmitted, mti_class, mti, "
            "transmitted_at, type, amount, currency, masked_pan, scheme, rrn, auth_code, "
            "response_code, status, batch, original_id, created_at, business_date) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                req.tid,
                req.mid,
                req.stan,
                transmission_stamp(req.transmitted_at),
                mti[:2],
                mti,
                req.transmitted_at.isoformat(),
                typ,
                amount,
                req.currency,
                mask_pan(pan) if pan else None,
                scheme_from_pan(pan),
                rrn,
                auth,
                rc,
                status,
                req.batch,
                original_id,
                now.isoformat(),
                now.date().isoformat(),
            ),
        )
        return self._reply(req, rc, rrn=rrn, auth_code=auth, batch=req.batch)

    def _next_rrn(self, db: sqlite3.Connection, now: datetime) -> str:
        db.execute(
            "INSERT INTO counters VALUES ('rrn', 1) "
            "ON CONFLICT(name) DO UPDATE SET value = value + 1"
        )
        seq = db.execute("SELECT value FROM counters WHERE name='rrn'").fetchone()[0]
        # YDDD + 8-digit sequence: unique for 10^8 answers, readable, 12 characters.
        return f"{now:%y}"[-1] + f"{now:%j}" + f"{seq % 100_000_000:08d}"

    def _find_original(
        self, db: sqlite3.Connection, req: HostRequest, mti_class: str | None = None
    ) -> sqlite3.Row | None:
        o = req.original
        if o is None:
            return None
        if o.exact_time:
            sql = "SELECT * FROM transactions WHERE tid=? AND stan=? AND transmitted=?"
            args: list[Any] = [req.tid, o.stan, transmission_stamp(o.transmitted_at)]
        else:
            # The dialect names the original by batch, STAN and date only (cup field 61).
            sql = (
                "SELECT * FROM transactions WHERE tid=? AND stan=? AND batch IS ? "
                "AND substr(transmitted, 1, 4)=?"
            )
            args = [req.tid, o.stan, o.batch, _early_key(o)]
        if mti_class is not None:
            sql += " AND mti_class=?"
            args.append(mti_class)
        sql += " AND type != 'reversal' ORDER BY id DESC"
        return db.execute(sql, args).fetchone()

    def _void(self, db: sqlite3.Connection, req: HostRequest, mti: str) -> HostResponse:
        orig = self._find_original(db, req)
        amount = req.amount or 0
        if orig is None or orig["type"] not in _PAYMENT_TYPES:
            rc = "25"
        elif orig["status"] != "approved" or orig["refunded"]:
            rc = "12"
        elif amount != orig["amount"]:
            rc = "64"
        else:
            rc = "00"
        resp = self._record(
            db, req, mti, "void", amount, rc, original_id=orig["id"] if orig else None
        )
        if rc == "00" and not self._overtaken(db, resp):
            db.execute("UPDATE transactions SET status='voided' WHERE id=?", (orig["id"],))
        return resp

    def _overtaken(self, db: sqlite3.Connection, resp: HostResponse) -> bool:
        """True when the request just booked was reversed before it arrived (booked
        reversed): a void or refund that never took effect must not touch its original."""
        row = db.execute("SELECT status FROM transactions WHERE rrn=?", (resp.rrn,)).fetchone()
        return row is not None and row["status"] == "reversed"

    def _refund(self, db: sqlite3.Connection, req: HostRequest, mti: str) -> HostResponse:
        orig = self._find_original(db, req)
        amount = req.amount or 0
        if orig is None or orig["type"] not in _PAYMENT_TYPES:
            rc = "25"
        elif orig["status"] != "approved":
            rc = "12"
        elif amount <= 0 or amount > orig["amount"] - orig["refunded"]:
            rc = "13"
        else:
            rc = "00"
        resp = self._record(
            db, req, mti, "refund", amount, rc, original_id=orig["id"] if orig else None
        )
        if rc == "00" and not self._overtaken(db, resp):
            db.execute(
                "UPDATE transactions SET refunded = refunded + ? WHERE id=?", (amount, orig["id"])
            )
        return resp

    def _reversal(self, db: sqlite3.Connection, req: HostRequest, mti: str) -> HostResponse:
        o = req.original
        orig = self._find_original(db, req)
        if o is None:
            return self._reply(req, "25")
        if orig is None:
            # The original may still be on its way (a slow network path): remember the
            # reversal so that, should it arrive, it is booked reversed and never charged.
            db.execute(
                "INSERT OR IGNORE INTO early_reversals VALUES (?,?,?,?)",
                (req.tid, o.stan, _early_key(o), _now().isoformat()),
            )
            return self._reply(req, "25")
        if orig["status"] != "reversed":
            db.execute("UPDATE transactions SET status='reversed' WHERE id=?", (orig["id"],))
            if orig["response_code"] == "00" and orig["original_id"] is not None:
                # Undo what the reversed void/refund did to its own original.
                if orig["type"] == "void":
                    db.execute(
                        "UPDATE transactions SET status='approved' WHERE id=? AND status='voided'",
                        (orig["original_id"],),
                    )
                elif orig["type"] == "refund":
                    db.execute(
                        "UPDATE transactions SET refunded = MAX(0, refunded - ?) WHERE id=?",
                        (orig["amount"], orig["original_id"]),
                    )
        return self._reply(req, "00", rrn=orig["rrn"], batch=req.batch)

    def _host_totals(self, db: sqlite3.Connection, tid: str, batch: int | None) -> dict[str, int]:
        uploads = db.execute(
            "SELECT type, COUNT(*) n, COALESCE(SUM(amount),0) s FROM uploads "
            "WHERE tid=? AND batch IS ? GROUP BY type",
            (tid, batch),
        ).fetchall()
        if uploads:
            by = {r["type"]: (r["n"], r["s"]) for r in uploads}
            sale = [by.get(t, (0, 0)) for t in _PAYMENT_TYPES]
            refund = by.get("refund", (0, 0))
            return {
                "sale_count": sum(c for c, _ in sale),
                "sale_amount": sum(a for _, a in sale),
                "refund_count": refund[0],
                "refund_amount": refund[1],
            }
        row = db.execute(
            "SELECT "
            " SUM(CASE WHEN type IN ('sale','advice') THEN 1 ELSE 0 END) sc,"
            " SUM(CASE WHEN type IN ('sale','advice') THEN amount ELSE 0 END) sa,"
            " SUM(CASE WHEN type='refund' THEN 1 ELSE 0 END) rc,"
            " SUM(CASE WHEN type='refund' THEN amount ELSE 0 END) ra "
            "FROM transactions WHERE tid=? AND batch IS ? AND status='approved'",
            (tid, batch),
        ).fetchone()
        return {
            "sale_count": row["sc"] or 0,
            "sale_amount": row["sa"] or 0,
            "refund_count": row["rc"] or 0,
            "refund_amount": row["ra"] or 0,
        }

    def _settle(self, db: sqlite3.Connection, req: HostRequest) -> HostResponse:
        host = self._host_totals(db, req.tid, req.batch)
        t = req.totals
        terminal = (
            {
                "sale_count": t.sale_count,
                "sale_amount": t.sale_amount,
                "refund_count": t.refund_count,
                "refund_amount": t.refund_amount,
            }
            if t
            else {}
        )
        rc = "00" if terminal == host else "95"
        if (req.tid, req.batch) in self._mismatch:
            self._mismatch.discard((req.tid, req.batch))
            uploaded = db.execute(
                "SELECT 1 FROM uploads WHERE tid=? AND batch IS ?", (req.tid, req.batch)
            ).fetchone()
            if uploaded is None:
                rc = "95"  # as a host whose books lost track of the batch: upload wanted
        db.execute(
            "INSERT INTO settlements (tid, batch, terminal_totals, host_totals, response_code, "
            "created_at) VALUES (?,?,?,?,?,?)",
            (req.tid, req.batch, json.dumps(terminal), json.dumps(host), rc, _now().isoformat()),
        )
        return self._reply(
            req,
            rc,
            batch=req.batch,
            settlement_balanced=rc == "00",
            host_totals=SettlementTotals(**host),
        )

    def _upload(self, db: sqlite3.Connection, req: HostRequest) -> HostResponse:
        o = req.original
        if o is None:
            return self._reply(req, "30", batch=req.batch)  # an upload must name its original
        # Booked as what the original was (its processing code / type code on the wire):
        # a refund uploaded counts as a refund, an offline sale (advice) as a sale.
        typ = str(o.kind)
        pan = req.card.pan if req.card else None
        db.execute(
            "INSERT INTO uploads (tid, batch, stan, type, amount, masked_pan, created_at, "
            "rrn, auth_code, entry_mode) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                req.tid,
                req.batch,
                o.stan,
                typ,
                req.amount or 0,
                mask_pan(pan) if pan else None,
                _now().isoformat(),
                o.rrn,
                o.auth_code,
                o.entry_mode or (req.card.entry_mode if req.card else None),
            ),
        )
        return self._reply(req, "00", batch=req.batch)

    def _upload_end(self, db: sqlite3.Connection, req: HostRequest) -> HostResponse:
        """The end of a batch upload: acknowledged; whether the books now agree is the final
        0500's answer (a count that differs from what was booked is logged)."""
        n = db.execute(
            "SELECT COUNT(*) FROM uploads WHERE tid=? AND batch IS ?", (req.tid, req.batch)
        ).fetchone()[0]
        if req.count != n:
            log.warning(
                "TID %s batch %s: upload end says %s transactions, %d were booked",
                req.tid,
                req.batch,
                req.count,
                n,
            )
        return self._reply(req, "00", batch=req.batch)

    # --------------------------------------------------------------- reading
    def transactions(self) -> list[dict[str, Any]]:
        """Every ledger row, oldest first (masked PANs only)."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM transactions ORDER BY id").fetchall()
        return [dict(r) for r in rows]

    def uploads(self) -> list[dict[str, Any]]:
        """Every batch-upload line (0320) booked, oldest first, as the type it was uploaded as."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM uploads ORDER BY id").fetchall()
        return [dict(r) for r in rows]

    def settlements(self) -> list[dict[str, Any]]:
        """Every 0500 the host answered, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM settlements ORDER BY id").fetchall()
        return [dict(r) for r in rows]

    def statement(self, day: date) -> list[dict[str, Any]]:
        """The acquirer's settlement statement for ``day``: approved, unreversed money moves."""
        with self._lock:
            rows = self._db.execute(
                "SELECT tid, mid, batch, stan, rrn, auth_code, type, amount, currency, "
                "masked_pan, scheme, created_at FROM transactions WHERE business_date=? "
                "AND type IN ('sale','advice','refund') AND status IN ('approved') "
                "ORDER BY id",
                (day.isoformat(),),
            ).fetchall()
        return [dict(r) for r in rows]


def _early_key(o: OriginalRef) -> str:
    """How an original is keyed when its field 7 is known (MMDDhhmmss) or only its date."""
    stamp = transmission_stamp(o.transmitted_at)
    return stamp if o.exact_time else stamp[:4]


def _auth_code(rrn: str) -> str:
    return f"{int(hashlib.sha256(rrn.encode()).hexdigest(), 16) % 1_000_000:06d}"


def _response_to_json(r: HostResponse) -> str:
    wk = r.working_keys
    return json.dumps(
        {
            "kind": str(r.kind),
            "tid": r.tid,
            "stan": r.stan,
            "response_code": r.response_code,
            "rrn": r.rrn,
            "auth_code": r.auth_code,
            "host_time": r.host_time.isoformat() if r.host_time else None,
            "batch": r.batch,
            "settlement_balanced": r.settlement_balanced,
            "host_totals": None if r.host_totals is None else vars(r.host_totals),
            "working_keys": None
            if wk is None
            else [wk.pik.hex(), wk.pik_kcv, wk.mak.hex(), wk.mak_kcv],
        }
    )


def _response_from_json(text: str) -> HostResponse:
    d = json.loads(text)
    wk = d.pop("working_keys")
    ht = d.pop("host_totals", None)
    return HostResponse(
        kind=MessageKind(d.pop("kind")),
        host_time=datetime.fromisoformat(d.pop("host_time")) if d["host_time"] else None,
        working_keys=None
        if wk is None
        else WorkingKeys(bytes.fromhex(wk[0]), wk[1], bytes.fromhex(wk[2]), wk[3]),
        host_totals=None if ht is None else SettlementTotals(**ht),
        **{k: v for k, v in d.items() if k != "host_time"},
    )
