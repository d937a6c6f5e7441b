"""A demo day for the back office: a shop trades, settles and reconciles; the office stores it.

Used by the web tests, ``countertop office demo`` and the back-office screenshots. The events
are the terminal's real outbox rows, fed through the office's own message handler (the same
code path as messages from the broker), so what the pages show is what a fleet would report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.domain.fleet import Topics, canonical, event_envelope
from appliance.domain.roles import System
from appliance.fleet.signing import generate
from appliance.journal import fleet as outbox
from appliance.office.db import OfficeDb
from appliance.office.ingest import Ingestor
from appliance.sim.shop import SUPERVISOR


@dataclass(frozen=True)
class DemoOffice:
    """Where the demo office's data is and which terminal it holds."""

    db_url: str
    tid: str
    mid: str
    name: str
    one_sided_trace: str


def _feed(ingest: Ingestor, topics: Topics, journal: Any) -> int:
    n = 0
    for ev in outbox.unsent(journal, limit=100_000):
        doc = event_envelope(ev.event_id, ev.seq, ev.kind, ev.at, ev.body)
        ingest.handle(topics.event, canonical(doc))
        n += 1
    outbox.mark_sent(
        journal, [e.seq for e in outbox.unsent(journal, limit=100_000)], datetime.now(UTC)
    )
    return n


def build_demo_office(directory: Path, *, second_shop: bool = True) -> DemoOffice:
    """Trade a day in a demo shop and store it in ``directory/office.db``; return where."""
    from appliance.bootstrap import build_terminal
    from appliance.fleet.agent import FleetAgent
    from appliance.services.reconcile import Reconciler
    from appliance.services.settlement import Settlement
    from appliance.sim.acquirer.statement import statement_text
    from appliance.sim.shop import acquirer_for, demo_config

    directory.mkdir(parents=True, exist_ok=True)
    db_url = f"sqlite:///{directory / 'office.db'}"
    db = OfficeDb(db_url)
    db.migrate()
    public = generate()[1].hex()
    cfg = demo_config(
        directory / "shop",
        overrides={
            "fleet": {"broker": "mqtt://127.0.0.1:1883", "office_public_key": public},
            "host": {"response_timeout": 2.0, "connect_timeout": 1.0},
        },
    )
    acquirer = acquirer_for(cfg)
    acquirer.start()
    term = build_terminal(cfg)
    try:
        term.sign_on("01")
        for amount in (1250, 3800, 920, 15000, 2600):
            term.sale(amount, operator="01")
        voided = term.sale(4200, operator="01").txn
        assert voided is not None
        term.void(voided.stan, approver=SUPERVISOR)
        refunded = term.sale(6600, operator="01").txn
        assert refunded is not None
        term.refund(1600, trace=refunded.stan, approver=SUPERVISOR)
        text = statement_text(
            acquirer.books, datetime.now(UTC).date(), cfg.settlement.fees_bp, ["missing"]
        )
        rec = Reconciler(term).reconcile_text(text, name="statement.csv")
        missing = [d for d in rec.discrepancies if d.kind == "terminal_only"]
        Settlement(term).settle(approver=System("01", "supervisor"))
        topics = Topics(cfg.fleet.topic_prefix, cfg.merchant.mid, cfg.merchant.tid)
        ingest = Ingestor(db, "mqtt://127.0.0.1:1883", prefix=cfg.fleet.topic_prefix)
        _feed(ingest, topics, term.journal)
        agent = FleetAgent(cfg, term.journal, status=lambda: term.status().as_dict())
        ingest.handle(topics.status, canonical(agent.status_document()))
        ingest.handle(topics.online, b"1")
    finally:
        term.close()
        acquirer.stop()
    if second_shop:
        # A second shop of another merchant that stopped reporting yesterday: stale, offline.
        other = Topics(cfg.fleet.topic_prefix, "898310048160002", "20000002")
        ingest.handle(
            other.status,
            canonical(
                {
                    "v": 1,
                    "at": "2026-01-01T08:00:00+00:00",
                    "tid": "20000002",
                    "mid": "898310048160002",
                    "name": "分店 Branch Shop",
                    "heartbeat_seconds": 60,
                    "terminal": {"link": "OFFLINE", "stored_count": 3, "pending_reversals": 1},
                    "outbox": {"unsent": 12, "oldest_at": "2026-01-01T07:10:00+00:00"},
                }
            ),
        )
        ingest.handle(other.online, b"0")
    db.close()
    return DemoOffice(
        db_url=db_url,
        tid=cfg.merchant.tid,
        mid=cfg.merchant.mid,
        name=cfg.merchant.name,
        one_sided_trace=missing[0].trace if missing else "",
    )
