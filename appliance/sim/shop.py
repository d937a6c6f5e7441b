"""The demo shop: one builder of demo configs (mock devices, a local reference acquirer).

Every simulator, bench, test and the demo start from :func:`init_demo`, passing what they
change as ``template()`` overrides; nobody patches config text.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from appliance.config import Config, template

DEMO_MERCHANT = {"mid": "898310048160001", "tid": "10000001", "name": "演示商店 Demo Shop"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_secret(path: Path, data: bytes) -> None:
    """Write a secret file with mode 0600 (created that way, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def demo_paths(path: Path) -> dict[str, Path]:
    """Where the demo config at ``path`` keeps its state dir and secrets."""
    state = path.parent / "state"
    return {
        "state": state,
        "tmk": state / "secrets" / "tmk.hex",
        "data": state / "secrets" / "data.key",
        "qr": state / "secrets" / "qr.key",
    }


def _merge(base: dict[str, dict[str, Any]], extra: dict[str, dict[str, Any]]) -> None:
    for section, keys in extra.items():
        base.setdefault(section, {}).update(keys)


def init_demo(
    out: Path, *, port: int | None = None, overrides: dict[str, dict[str, Any]] | None = None
) -> Path:
    """Write a demo config (plus its state dir and test keys) at ``out``; return ``out``.

    ``overrides`` are merged over the demo's own settings section by section (e.g.
    ``{"host": {"response_timeout": 0.5}}``); keys are checked when the config is loaded.
    """
    paths = demo_paths(out)
    settings: dict[str, dict[str, Any]] = {
        "merchant": dict(DEMO_MERCHANT),
        "host": {
            "address": "127.0.0.1",
            "port": port or free_port(),
            "response_timeout": 5.0,
            "connect_timeout": 2.0,
        },
        "keys": {
            "tmk_file": str(paths["tmk"]),
            "data_key_file": str(paths["data"]),
            "qr_key_file": str(paths["qr"]),
        },
        "state": {"dir": str(paths["state"])},
        "ui": {"demo_panel": True},
        "qr": {"gateway": f"http://127.0.0.1:{free_port()}"},
        # The demo shows store-and-forward: its acquirer accepts the card's offline TC and
        # ARQCs forwarded later (deferred authorisation).
        "emv": {"accept_offline_tc": True, "deferred_arqc": True},
    }
    _merge(settings, overrides or {})
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(template(settings), encoding="utf-8")
    if not paths["tmk"].exists():
        from appliance.host.keys import generate_key

        # Odd parity, like every real TMK: config check reports a key without it.
        write_secret(paths["tmk"], generate_key().hex().upper().encode() + b"\n")
    if not paths["data"].exists():
        write_secret(paths["data"], os.urandom(32))
    if not paths["qr"].exists():
        write_secret(paths["qr"], os.urandom(16).hex().encode() + b"\n")
    return out


def demo_config(
    directory: Path,
    *,
    port: int | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
) -> Config:
    """:func:`init_demo` in ``directory/terminal.toml``, loaded."""
    from appliance.config import load_config

    return load_config(init_demo(directory / "terminal.toml", port=port, overrides=overrides))


def acquirer_for(cfg: Config, *, port: int | None = None, control_port: int | None = None) -> Any:
    """A reference acquirer that knows this terminal (its TID, MID and TMK), not yet started.

    Its ledger lives in ``state_dir/acquirer/ledger.db``. Used by the demo, the tests and the
    torture harness; ``countertop acquirer --config`` builds the same thing.
    """
    from appliance.sim.acquirer.server import ReferenceAcquirer

    return ReferenceAcquirer(
        "127.0.0.1",
        cfg.host.port if port is None else port,
        cfg.host.dialect,
        cfg.state_dir / "acquirer" / "ledger.db",
        {cfg.merchant.tid: cfg.tmk()},
        {cfg.merchant.tid: cfg.merchant.mid},
        control_port=control_port,
    )


def qr_gateway_for(cfg: Config, *, port: int | None = None) -> Any:
    """A reference QR gateway (not yet started) that knows this terminal's signing key, on the
    port of ``qr.gateway``, keeping its books in the acquirer's ledger file."""
    from urllib.parse import urlsplit

    from appliance.sim.qrgateway import GatewayServer, QrGateway

    url = urlsplit(cfg.qr.gateway or "http://127.0.0.1:0")
    gateway = QrGateway(
        cfg.state_dir / "acquirer" / "ledger.db",
        {cfg.merchant.tid: cfg.qr_key()},
        {cfg.merchant.tid: cfg.merchant.mid},
    )
    chosen = (url.port or 0) if port is None else port
    return GatewayServer(gateway, url.hostname or "127.0.0.1", chosen)
