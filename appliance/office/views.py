"""What the back-office pages show, read from the office database (plain dicts for templates)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.domain.fleet import heartbeat_state
from appliance.office.db import OfficeDb, User

# A sale that counts in takings; voided or reversed sales do not.
_TAKEN = ("approved", "stored")
ONE_SIDED = ("terminal_only", "acquirer_only", "reversed_charged")


@dataclass(frozen=True)
class TerminalRow:
    """One line of the fleet overview."""

    tid: str
    mid: str
    name: str
    online: bool
    heartbeat: str  # fresh | late | stale
    status_at: str | None
    status: dict[str, Any]
    takings_today: int
    currency: str
    findings: int


def _status(raw: str | None) -> dict[str, Any]:
    try:
        doc = json.loads(raw) if raw else {}
    except ValueError:
        doc = {}
    return doc if isinstance(doc, dict) else {}


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _zone(name: Any) -> tzinfo:
    try:
        return ZoneInfo(str(name)) if name else ZoneInfo("Asia/Shanghai")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Asia/Shanghai")


def visible_terminals(db: OfficeDb, user: User) -> list[tuple[str, str, str]]:
    """(tid, mid, name) of the terminals ``user`` may see."""
    rows = db.query("SELECT tid, mid, name FROM terminals ORDER BY mid, tid")
    return [(r[0], r[1], r[2]) for r in rows if user.may_see(r[1])]


def can_see(db: OfficeDb, user: User, tid: str) -> bool:
    """Whether ``user`` may open terminal ``tid`` (unknown terminals: no)."""
    rows = db.query("SELECT mid FROM terminals WHERE tid = ?", (tid,))
    return bool(rows) and user.may_see(rows[0][0])


def overview(db: OfficeDb, user: User, now: datetime, today: date) -> list[TerminalRow]:
    """Every visible terminal's health at a glance."""
    out = []
    for tid, mid, name in visible_terminals(db, user):
        r = db.query(
            "SELECT online, status, status_at, heartbeat_seconds FROM terminals WHERE tid = ?",
            (tid,),
        )[0]
        takings = db.query(
            "SELECT currency, "
            "COALESCE(SUM(CASE WHEN type = 'sale' THEN amount ELSE -amount END), 0) "
            "FROM txns WHERE tid = ? AND local_date = ? AND state IN ('approved', 'stored') "
            "AND type IN ('sale', 'refund') GROUP BY currency",
            (tid, today.isoformat()),
        )
        findings = db.query(
            "SELECT COUNT(*) FROM findings WHERE tid = ? AND kind IN (?, ?, ?)",
            (tid, *ONE_SIDED),
        )[0][0]
        status = _status(r[1])
        out.append(
            TerminalRow(
                tid=tid,
                mid=mid,
                name=name,
                online=bool(r[0]),
                heartbeat=heartbeat_state(_parse_time(r[2]), now, float(r[3])),
                status_at=r[2],
                status=status,
                takings_today=int(takings[0][1]) if takings else 0,
                currency=takings[0][0] if takings else "CNY",
                findings=int(findings),
            )
        )
    return out


def day(db: OfficeDb, tid: str, on: date) -> dict[str, Any]:
    """One terminal's day: takings by scheme, sales per hour, settlement, one-sided list."""
    t = db.query(
        "SELECT mid, name, online, status, status_at, heartbeat_seconds, params_version "
        "FROM terminals WHERE tid = ?",
        (tid,),
    )[0]
    txns = [
        dict(
            zip(
                (
                    "uuid",
                    "type",
                    "state",
                    "amount",
                    "currency",
                    "scheme",
                    "masked_pan",
                    "stan",
                    "rrn",
                    "auth_code",
                    "response_code",
                    "offline",
                    "operator",
                    "created_at",
                    "batch",
                ),
                row,
                strict=True,
            )
        )
        for row in db.query(
            "SELECT uuid, type, state, amount, currency, scheme, masked_pan, stan, rrn, "
            "auth_code, response_code, offline, operator, created_at, batch FROM txns "
            "WHERE tid = ? AND local_date = ? ORDER BY created_at",
            (tid, on.isoformat()),
        )
    ]
    # Times are shown in the shop's own zone (the one its stubs print), not the server's.
    zone = _zone(_status(t[3]).get("timezone"))
    for x in txns:
        created = _parse_time(x["created_at"])
        x["local_time"] = created.astimezone(zone).strftime("%H:%M:%S") if created else ""
        x["local_hour"] = created.astimezone(zone).hour if created else None
    by_scheme: dict[str, dict[str, int]] = {}
    hours = [0] * 24
    currency = txns[0]["currency"] if txns else "CNY"
    for x in txns:
        s = by_scheme.setdefault(
            x["scheme"] or "?", {"sales": 0, "sales_amount": 0, "refunds": 0, "refunds_amount": 0}
        )
        if x["state"] in _TAKEN and x["type"] == "sale":
            s["sales"] += 1
            s["sales_amount"] += x["amount"]
            if x["local_hour"] is not None:
                hours[x["local_hour"]] += x["amount"]
        elif x["state"] in _TAKEN and x["type"] == "refund":
            s["refunds"] += 1
            s["refunds_amount"] += x["amount"]
    settlements = [
        {"batch": r[0], "result": r[1], "response_code": r[2], "closed_at": r[3]}
        for r in db.query(
            "SELECT batch, result, response_code, closed_at FROM settlements WHERE tid = ? "
            "ORDER BY closed_at DESC LIMIT 5",
            (tid,),
        )
    ]
    findings = [
        {**json.loads(r[0]), "kind": r[1]}
        for r in db.query(
            "SELECT evidence, kind FROM findings WHERE tid = ? ORDER BY at DESC, n", (tid,)
        )
    ]
    results = [
        {"at": r[0], "result": r[1], "code": r[2], "version": r[3], "detail": r[4]}
        for r in db.query(
            "SELECT at, result, code, version, detail FROM param_results WHERE tid = ? "
            "ORDER BY at DESC LIMIT 10",
            (tid,),
        )
    ]
    return {
        "tid": tid,
        "mid": t[0],
        "name": t[1],
        "online": bool(t[2]),
        "status": _status(t[3]),
        "status_at": t[4],
        "params_version": t[6],
        "date": on,
        "currency": currency,
        "txns": txns,
        "by_scheme": by_scheme,
        "hours": hours,
        "net": sum(s["sales_amount"] - s["refunds_amount"] for s in by_scheme.values()),
        "settlements": settlements,
        "one_sided": [f for f in findings if f["kind"] in ONE_SIDED],
        "other_findings": [f for f in findings if f["kind"] not in ONE_SIDED],
        "param_results": results,
    }


def search(
    db: OfficeDb,
    user: User,
    *,
    trace: str = "",
    rrn: str = "",
    amount: int | None = None,
    on: date | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Transactions by trace, RRN, amount and/or date, among the terminals ``user`` sees."""
    where, params = ["1 = 1"], []
    if trace:
        where.append("t.stan = ?")
        params.append(int(trace))
    if rrn:
        where.append("t.rrn = ?")
        params.append(rrn)
    if amount is not None:
        where.append("t.amount = ?")
        params.append(amount)
    if on is not None:
        where.append("t.local_date = ?")
        params.append(on.isoformat())
    rows = db.query(
        "SELECT t.tid, m.mid, t.uuid, t.type, t.state, t.amount, t.currency, t.scheme, "
        "t.masked_pan, t.stan, t.rrn, t.auth_code, t.local_date FROM txns t "
        "JOIN terminals m ON m.tid = t.tid WHERE " + " AND ".join(where) + " "
        "ORDER BY t.created_at DESC LIMIT ?",
        (*params, limit),
    )
    keys = (
        "tid",
        "mid",
        "uuid",
        "type",
        "state",
        "amount",
        "currency",
        "scheme",
        "masked_pan",
        "stan",
        "rrn",
        "auth_code",
        "local_date",
    )
    return [dict(zip(keys, r, strict=True)) for r in rows if user.may_see(r[1])]


def transaction_body(db: OfficeDb, tid: str, uuid: str) -> dict[str, Any] | None:
    """The newest event body of one transaction (what its stub is drawn from)."""
    rows = db.query("SELECT body FROM txns WHERE tid = ? AND uuid = ?", (tid, uuid))
    return json.loads(rows[0][0]) if rows else None


def day_csv_rows(db: OfficeDb, tid: str, on: date) -> list[list[Any]]:
    """The day's transactions as CSV rows (header first)."""
    header = [
        "tid",
        "local_date",
        "created_at",
        "type",
        "state",
        "amount_minor",
        "currency",
        "scheme",
        "masked_pan",
        "trace",
        "rrn",
        "auth_code",
        "response_code",
        "offline",
        "operator",
        "batch",
    ]
    rows = db.query(
        "SELECT tid, local_date, created_at, type, state, amount, currency, scheme, "
        "masked_pan, stan, rrn, auth_code, response_code, offline, operator, batch "
        "FROM txns WHERE tid = ? AND local_date = ? ORDER BY created_at",
        (tid, on.isoformat()),
    )
    return [header, *[list(r) for r in rows]]
