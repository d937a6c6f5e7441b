"""``countertop config init|check``: the technician's starting point and its validation."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from appliance.bootstrap import demo_paths
from appliance.cli.common import config_from
from appliance.config import template
from appliance.errors import ConfigError


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


def init_demo(out: Path, *, port: int | None = None) -> Path:
    """Write a demo config (mock drivers, local reference acquirer) plus its state dir and keys."""
    paths = demo_paths(out)
    overrides = {
        "merchant": {"mid": "898310048160001", "tid": "10000001", "name": "演示商店 Demo Shop"},
        "host": {
            "address": "127.0.0.1",
            "port": port or free_port(),
            "response_timeout": 5.0,
            "connect_timeout": 2.0,
        },
        "keys": {"tmk_file": str(paths["tmk"]), "data_key_file": str(paths["data"])},
        "state": {"dir": str(paths["state"])},
        "ui": {"demo_panel": True},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(template(overrides), encoding="utf-8")
    if not paths["tmk"].exists():
        from appliance.host.keys import generate_key

        # Odd parity, like every real TMK: config check reports a key without it.
        write_secret(paths["tmk"], generate_key().hex().upper().encode() + b"\n")
    if not paths["data"].exists():
        write_secret(paths["data"], os.urandom(32))
    return out


def cmd_init(args: argparse.Namespace) -> int:
    """Write the commented template (or a complete demo setup)."""
    out = Path(args.out)
    if out.exists() and not args.force:
        raise ConfigError(f"{out}: already exists (use --force to overwrite)")
    if args.demo:
        init_demo(out, port=args.port)
        print(f"demo config written to {out} (state and test keys in {demo_paths(out)['state']})")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(template(), encoding="utf-8")
        print(
            f"config template written to {out}: set merchant, host and keys, then run "
            f"countertop config check --config {out}"
        )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the config and its secrets, state dir and TLS files; name every problem."""
    from appliance.provision import check_config

    cfg = config_from(args)
    problems = check_config(cfg)
    if problems:
        for p in problems:
            print(f"{cfg.path}: {p}", file=sys.stderr)
        return 2
    print(f"{cfg.path}: OK")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``config init`` and ``config check``."""
    p = sub.add_parser("config", help="write or check the terminal config")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    init = csub.add_parser("init", help="write a commented config template")
    init.add_argument("--out", required=True, metavar="PATH", help="where to write it")
    init.add_argument(
        "--demo",
        action="store_true",
        help="mock drivers, local reference acquirer, state dir beside the file",
    )
    init.add_argument("--port", type=int, help="acquirer port for --demo (default: a free one)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(func=cmd_init)
    check = csub.add_parser("check", help="validate a config and its secrets")
    check.set_defaults(func=cmd_check)
