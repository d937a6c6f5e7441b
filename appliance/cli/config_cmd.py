"""``countertop config init|check``: the technician's starting point and its validation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.cli.common import config_from
from appliance.config import template
from appliance.errors import ConfigError
from appliance.sim.shop import demo_paths, init_demo


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
