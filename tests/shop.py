"""A demo shop for tests: a demo config, the reference acquirer on loopback, and a terminal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.bootstrap import build_terminal
from appliance.config import Config, load_config
from appliance.domain.transactions import MONEY_MOVED, TxnState, TxnType
from appliance.services.terminal import Terminal
from appliance.sim.shop import (
    CASHIER,
    SUPERVISOR,
    SUPERVISOR_PIN,
    acquirer_for,
    free_port,
    init_demo,
)

__all__ = ["CASHIER", "SUPERVISOR", "SUPERVISOR_PIN", "Shop", "add_supervisor", "agreement"]
__all__ += ["open_shop"]


@dataclass
class Shop:
    """Everything a flow test needs."""

    cfg: Config
    acquirer: Any
    terminal: Terminal

    def restart(self, **overrides: Any) -> Terminal:
        """Close the terminal and build a new one on the same journal (a restart)."""
        self.terminal.close()
        self.terminal = build_terminal(self.cfg, **overrides)
        return self.terminal

    def close(self) -> None:
        """Stop everything."""
        self.terminal.close()
        self.acquirer.stop()


def open_shop(
    tmp: Path,
    *,
    dialect: str = "iso87",
    response_timeout: float = 1.0,
    settings: dict[str, dict[str, Any]] | None = None,
    **overrides: Any,
) -> Shop:
    """A fresh shop in ``tmp`` with a short response timeout (faults resolve quickly).

    ``settings`` are extra config values (``{"fleet": {"broker": …}}``); ``overrides`` ports.
    """
    path = init_demo(
        tmp / "terminal.toml",
        port=free_port(),
        overrides={
            **(settings or {}),
            "host": {
                "dialect": dialect,
                "response_timeout": response_timeout,
                "connect_timeout": 1.0,
            },
        },
    )
    cfg = load_config(path)
    acq = acquirer_for(cfg, control_port=0)
    acq.start()
    return Shop(cfg, acq, build_terminal(cfg, **overrides))


def agreement(shop: Shop) -> list[str]:
    """Every way the terminal journal and the acquirer ledger disagree (empty: they agree).

    The acquirer must hold exactly one live charge for each payment the terminal counts as
    money moved (approved, stored-then-forwarded, voided sale whose void was approved), and
    nothing the terminal counts as not charged (declined, reversed, never sent).
    """
    problems: list[str] = []
    journal = shop.terminal.journal
    tid = shop.cfg.merchant.tid
    live = {}
    for row in shop.acquirer.ledger():
        if row["tid"] != tid:
            continue
        key = (row["type"], int(row["stan"]))
        if row["status"] in ("approved", "voided", "refunded"):
            if key in live:
                problems.append(f"charged twice: {key}")
            live[key] = row
    for t in journal.transactions():
        if t.type == TxnType.SALE:
            key_candidates = [("sale", t.stan), ("advice", t.stan)]
        else:
            key_candidates = [(t.type.value, t.stan)]
        found = [live.pop(k) for k in key_candidates if k in live]
        if t.state in MONEY_MOVED and t.state != TxnState.STORED:
            if len(found) != 1:
                problems.append(
                    f"{t.type.value} {t.trace} is {t.state.value} here, "
                    f"acquirer has {len(found)} live record(s)"
                )
            elif int(found[0]["amount"]) != t.amount:
                problems.append(f"{t.trace}: amount {t.amount} here, {found[0]['amount']} there")
        elif (
            t.state
            in (TxnState.DECLINED, TxnState.REVERSED, TxnState.NOT_SENT, TxnState.FORWARD_DECLINED)
            and found
        ):
            problems.append(f"{t.type.value} {t.trace} is {t.state.value} here but charged there")
        elif t.state == TxnState.PENDING:
            problems.append(f"{t.trace} is still pending")
    for key, row in live.items():
        problems.append(f"acquirer charged {key} ({row['status']}) unknown to the terminal")
    return problems


def add_supervisor(shop: Shop) -> list[str]:
    """Add the demo supervisor (``SUPERVISOR``, PIN ``SUPERVISOR_PIN``) to the shop's operators;
    the CLI arguments that approve as them (the PIN then comes on stdin)."""
    from appliance.operators import OperatorStore

    store = OperatorStore(shop.terminal.journal)
    store.add(SUPERVISOR.number, SUPERVISOR.name, SUPERVISOR.role, SUPERVISOR_PIN, by="test")
    return ["--supervisor", SUPERVISOR.number, "--pin-stdin"]
