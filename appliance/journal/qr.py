"""QR orders in the journal (migration 15): every state change is one SQLite transaction.

Write-ahead, as for cards: ``begin_order`` commits the order number and a PENDING row before
the pay request leaves; each answer is committed before anyone is told. A cancel or a refund
still owed to the gateway is the row's own state (CANCEL_OWED / REFUND_OWED) with its attempt
count and next attempt time, so "owed" and "what is owed" can never disagree. No payment code
is ever written here: only the wallet, the gateway's trade number and a masked payer reference.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from appliance.domain.qr import (
    QrKind,
    QrOrder,
    QrState,
    check_qr_transition,
    order_number,
    refund_number,
)
from appliance.errors import NotFound
from appliance.journal.journal import Journal, UnitOfWork

_COLUMNS = (
    "order_no, kind, state, amount, currency, wallet, mode, batch, trade_no, payer, original, "
    "gateway_state, err_code, operator, note, created_at, updated_at, local_date, attempts, "
    "next_attempt_at, last_error"
)
_KINDS = {k.value: k for k in QrKind}
_STATES = {s.value: s for s in QrState}
_FIELDS = frozenset({"trade_no", "payer", "gateway_state", "err_code", "note", "wallet"})


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds")


def _order(r: Any) -> QrOrder:
    return QrOrder(
        order=r[0],
        kind=_KINDS[r[1]],
        state=_STATES[r[2]],
        amount=r[3],
        currency=r[4],
        wallet=r[5],
        mode=r[6],
        batch=r[7],
        trade_no=r[8],
        payer=r[9],
        original=r[10] or "",
        gateway_state=r[11],
        err_code=r[12],
        operator=r[13],
        note=r[14],
        created_at=datetime.fromisoformat(r[15]),
        updated_at=datetime.fromisoformat(r[16]),
        local_date=r[17],
    )


def _insert(
    uow: UnitOfWork,
    journal: Journal,
    order_no: str,
    kind: QrKind,
    amount: int,
    currency: str,
    *,
    wallet: str,
    mode: str,
    original: str | None,
    operator: str,
) -> None:
    now = journal.clock()
    batch = uow.execute("SELECT value FROM counters WHERE name='batch'").fetchone()[0]
    uow.execute(
        f"INSERT INTO qr_orders ({_COLUMNS}) VALUES "
        "(?,?,?,?,?,?,?,?,'','',?,'','',?,'',?,?,?,0,NULL,'')",
        (
            order_no,
            kind.value,
            QrState.PENDING.value,
            amount,
            currency,
            wallet,
            mode,
            batch,
            original,
            operator,
            _iso(now),
            _iso(now),
            now.astimezone(journal.tz).date().isoformat(),
        ),
    )


def begin_order(
    journal: Journal, amount: int, currency: str, *, tid: str, wallet: str, mode: str, operator: str
) -> QrOrder:
    """Commit a PENDING payment with a fresh order number, before the request leaves."""
    with journal.unit() as uow:
        row = uow.execute("SELECT value FROM counters WHERE name='qr_order'").fetchone()
        seq = row[0] % 999_999 + 1
        uow.execute("UPDATE counters SET value=? WHERE name='qr_order'", (seq,))
        day = journal.clock().astimezone(journal.tz).date()
        order_no = order_number(tid, day, seq)
        _insert(
            uow,
            journal,
            order_no,
            QrKind.PAY,
            amount,
            currency,
            wallet=wallet,
            mode=mode,
            original=None,
            operator=operator,
        )
        uow.commit()
    return get(journal, order_no)


def begin_refund(journal: Journal, original: QrOrder, amount: int, *, operator: str) -> QrOrder:
    """Commit a PENDING refund of ``original`` with the next refund number."""
    with journal.unit() as uow:
        n = uow.execute(
            "SELECT COUNT(*) FROM qr_orders WHERE original=?", (original.order,)
        ).fetchone()[0]
        order_no = refund_number(original.order, n + 1)
        _insert(
            uow,
            journal,
            order_no,
            QrKind.REFUND,
            amount,
            original.currency,
            wallet=original.wallet,
            mode="",
            original=original.order,
            operator=operator,
        )
        uow.commit()
    return get(journal, order_no)


def set_state(journal: Journal, order_no: str, new: QrState, **fields: str) -> QrOrder:
    """Move an order to ``new`` (checked against the allowed transitions) with its evidence.

    ``fields`` may set trade_no, payer (masked), gateway_state, err_code, note, wallet; empty
    values keep what is there. Entering CANCEL_OWED or REFUND_OWED makes it due at once.
    """
    unknown = set(fields) - _FIELDS
    if unknown:
        raise TypeError(f"unknown QR order fields: {', '.join(sorted(unknown))}")
    now = journal.clock()
    with journal.unit() as uow:
        row = uow.execute("SELECT state FROM qr_orders WHERE order_no=?", (order_no,)).fetchone()
        if row is None:
            raise NotFound(f"no QR order {order_no} in the journal")
        old = QrState(row[0])
        if old != new:
            check_qr_transition(old, new)
        sets = {k: v for k, v in fields.items() if v}
        sets["state"] = new.value
        sets["updated_at"] = _iso(now)
        if new in (QrState.CANCEL_OWED, QrState.REFUND_OWED) and old != new:
            sets["next_attempt_at"] = _iso(now)
        if new in (QrState.CANCELLED, QrState.SUCCESS, QrState.DECLINED):
            sets["next_attempt_at"] = None  # type: ignore[assignment]
        cols = ", ".join(f"{k}=?" for k in sets)
        uow.execute(f"UPDATE qr_orders SET {cols} WHERE order_no=?", (*sets.values(), order_no))
        uow.commit()
    return get(journal, order_no)


def attempted(journal: Journal, order_no: str) -> int:
    """Count an attempt at an owed cancel or refund before it is sent; returns the count."""
    with journal.unit() as uow:
        uow.execute("UPDATE qr_orders SET attempts=attempts+1 WHERE order_no=?", (order_no,))
        n = uow.execute("SELECT attempts FROM qr_orders WHERE order_no=?", (order_no,)).fetchone()
        uow.commit()
    return int(n[0]) if n else 0


def attempt_failed(journal: Journal, order_no: str, error: str, retry_at: datetime) -> None:
    """Why an owed attempt failed and when to try again; the order stays owed."""
    with journal.unit() as uow:
        uow.execute(
            "UPDATE qr_orders SET last_error=?, next_attempt_at=? WHERE order_no=?",
            (error[:200], _iso(retry_at), order_no),
        )
        uow.commit()


def attempts(journal: Journal, order_no: str) -> tuple[int, str, datetime | None]:
    """(attempts, last error, next attempt time) of an order."""
    with journal._lock:
        r = journal.conn.execute(
            "SELECT attempts, last_error, next_attempt_at FROM qr_orders WHERE order_no=?",
            (order_no,),
        ).fetchone()
    if r is None:
        raise NotFound(f"no QR order {order_no} in the journal")
    return int(r[0]), r[1], datetime.fromisoformat(r[2]) if r[2] else None


def get(journal: Journal, order_no: str) -> QrOrder:
    """One order by its number; NotFound if the journal has none."""
    with journal._lock:
        r = journal.conn.execute(
            f"SELECT {_COLUMNS} FROM qr_orders WHERE order_no=?", (order_no,)
        ).fetchone()
    if r is None:
        raise NotFound(f"no QR order {order_no} in the journal")
    return _order(r)


def orders(
    journal: Journal,
    *,
    states: tuple[QrState, ...] | None = None,
    kind: QrKind | None = None,
    batch: int | None = None,
    local_date: str | None = None,
    original: str | None = None,
    due_before: datetime | None = None,
) -> list[QrOrder]:
    """Orders filtered by state, kind, batch, local date, original or due time; oldest first."""
    where: list[str] = []
    params: list[Any] = []
    if states:
        where.append(f"state IN ({','.join('?' * len(states))})")
        params.extend(s.value for s in states)
    if kind is not None:
        where.append("kind=?")
        params.append(kind.value)
    if batch is not None:
        where.append("batch=?")
        params.append(batch)
    if local_date:
        where.append("local_date=?")
        params.append(local_date)
    if original:
        where.append("original=?")
        params.append(original)
    if due_before is not None:
        where.append("next_attempt_at<=?")
        params.append(_iso(due_before))
    sql = f"SELECT {_COLUMNS} FROM qr_orders"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created_at, order_no"
    with journal._lock:
        return [_order(r) for r in journal.conn.execute(sql, params).fetchall()]


def owed(journal: Journal, *, due_before: datetime | None = None) -> list[QrOrder]:
    """Cancels and refunds still owed to the gateway (optionally only those due), oldest first."""
    return orders(journal, states=(QrState.CANCEL_OWED, QrState.REFUND_OWED), due_before=due_before)


def refunded(journal: Journal, order_no: str) -> int:
    """What was refunded of a paid order, or is being refunded (pending or owed)."""
    with journal._lock:
        r = journal.conn.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM qr_orders WHERE original=? AND kind='refund' "
            "AND state IN ('pending', 'success', 'refund_owed')",
            (order_no,),
        ).fetchone()
    return int(r[0])


def recover(journal: Journal) -> list[QrOrder]:
    """At start-up: a payment left PENDING or PAYING by a crash gets a cancel owed; a refund
    left PENDING is owed (repeated under its own refund number, which is idempotent)."""
    out = []
    for o in orders(journal, states=(QrState.PENDING, QrState.PAYING)):
        new = QrState.REFUND_OWED if o.kind == QrKind.REFUND else QrState.CANCEL_OWED
        out.append(set_state(journal, o.order, new, note="terminal restarted before the answer"))
    return out


def counts(journal: Journal) -> dict[str, int]:
    """Number of orders per state (for status and checks)."""
    with journal._lock:
        rows = journal.conn.execute(
            "SELECT state, COUNT(*) FROM qr_orders GROUP BY state"
        ).fetchall()
    return {r[0]: int(r[1]) for r in rows}
