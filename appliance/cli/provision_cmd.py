"""``countertop provision``: config and keys for a terminal, with the TMK key ceremony.

Answers come from ``--from FILE`` (TOML, see ``appliance.provision``), flags (which win), and
prompts for whatever is still missing when a person is at the keyboard. Components are typed
with ``getpass`` (never echoed), or read one per line from stdin with ``--component-stdin``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from appliance.cli import EXIT_OK
from appliance.config import SCHEMA, config_path
from appliance.errors import ConfigError
from appliance.provision import Answers, load_answers, provision

# (section, key, prompt, type) asked for when neither the answers file nor a flag gave them.
PROMPTS: list[tuple[str, str, str, type]] = [
    ("merchant", "mid", "merchant ID (商户号, 15 characters)", str),
    ("merchant", "tid", "terminal ID (终端号, 8 characters)", str),
    ("merchant", "name", "shop name printed on stubs", str),
    ("host", "address", "acquirer host name or IP address", str),
    ("host", "port", "acquirer TCP port", int),
    ("host", "dialect", "message dialect (iso87 or cup)", str),
]

# Asked interactively too, but Enter keeps the default shown.
OPTIONAL_PROMPTS: list[tuple[str, str, str, type]] = [
    ("host", "tls", "TLS to the host (y/n)", bool),
    ("host", "ca_file", "CA file for TLS (empty: system CAs)", str),
    ("limits", "max_amount", "largest payment, minor units", int),
    ("limits", "offline_max_amount", "largest offline payment, minor units", int),
    ("locale", "language", "screen language (zh_CN or en)", str),
    ("locale", "timezone", "time zone", str),
]

# flag dest → (section, key)
FLAG_KEYS: dict[str, tuple[str, str]] = {
    "mid": ("merchant", "mid"),
    "tid": ("merchant", "tid"),
    "name": ("merchant", "name"),
    "host": ("host", "address"),
    "port": ("host", "port"),
    "dialect": ("host", "dialect"),
    "ca_file": ("host", "ca_file"),
    "language": ("locale", "language"),
    "timezone": ("locale", "timezone"),
    "max_amount": ("limits", "max_amount"),
    "offline_max_amount": ("limits", "offline_max_amount"),
    "state_dir": ("state", "dir"),
}


def _answers(args: argparse.Namespace) -> Answers:
    answers = load_answers(Path(args.answers)) if args.answers else Answers()
    for dest, (section, key) in FLAG_KEYS.items():
        value = getattr(args, dest)
        if value is not None:
            answers.set(section, key, value)
    if args.tls:
        answers.set("host", "tls", True)
    if args.components is not None:
        answers.components = args.components
    if args.kcv:
        answers.component_kcvs = list(args.kcv)
    if args.tmk_kcv:
        answers.tmk_kcv = args.tmk_kcv
    return answers


def _ask_missing(answers: Answers, interactive: bool, optional: bool) -> None:
    missing = [(s, k, p, t) for s, k, p, t in PROMPTS if answers.get(s, k) is None]
    if not interactive:
        if not missing:
            return
        names = ", ".join(f"{s}.{k}" for s, k, _, _ in missing)
        raise ConfigError(f"provision: missing answers: {names} (use flags, --from FILE, or a tty)")
    for section, key, prompt, kind in missing:
        answers.set(section, key, _convert(section, key, input(f"{prompt}: ").strip(), kind))
    for section, key, prompt, kind in OPTIONAL_PROMPTS if optional else []:
        if answers.get(section, key) is not None:
            continue
        if key == "ca_file" and not answers.get("host", "tls"):
            continue
        default = SCHEMA[section][key][0]
        shown = ("y" if default else "n") if kind is bool else default
        raw = input(f"{prompt} [{shown}]: ").strip()
        if raw:
            answers.set(section, key, _convert(section, key, raw, kind))


def _convert(section: str, key: str, raw: str, kind: type) -> Any:
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{section}.{key}: {raw!r} is not a whole number") from None
    if kind is bool:
        if raw.lower() not in ("y", "yes", "n", "no"):
            raise ConfigError(f"{section}.{key}: {raw!r} is not y or n")
        return raw.lower() in ("y", "yes")
    return raw


def cmd_provision(args: argparse.Namespace) -> int:
    """Provision this terminal: config, TMK from components, data key."""
    answers = _answers(args)
    interactive = sys.stdin.isatty() and not args.component_stdin
    _ask_missing(answers, interactive, optional=not args.answers)
    if not answers.component_kcvs and not interactive:
        raise ConfigError(
            "provision: the envelope check values are needed to confirm each component: "
            "pass --kcv once per component, or [ceremony] component_kcvs in the answers file"
        )

    def read_component(i: int) -> str:
        if args.component_stdin:
            line = sys.stdin.readline()
            if not line:
                raise ConfigError(f"component {i}: stdin ended before it")
            return line
        print(f"custodian {i}: type your component (32 hex digits, not shown)")
        return getpass.getpass(f"component {i}: ")

    def envelope_kcv(i: int) -> str:
        return input(f"custodian {i}: the check value printed on your envelope: ")

    def say(line: str) -> None:
        print(line, flush=True)

    out = config_path(args.config)
    result = provision(
        answers,
        out,
        read_component,
        envelope_kcv,
        say,
        demo=args.demo,
        credentials=Path(args.credentials) if args.credentials else None,
    )
    print(f"config written to {result.config_path}")
    print(f"terminal master key written to {result.tmk_path} (mode 0600)")
    if result.data_key_kept:
        print(
            f"card data key kept: {result.data_key_path} (stored payments are encrypted under it)"
        )
    else:
        print(f"card data key generated: {result.data_key_path} (mode 0600)")
    if result.journal_kept:
        print("journal kept; the saved working keys were discarded")
    if result.reprovisioned or result.journal_kept:
        print("re-provisioned: a new host sign-on is needed (countertop sign-on) before payments")
    else:
        print("next: countertop config check, then countertop sign-on")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``provision``."""
    p = sub.add_parser(
        "provision",
        help="write config and keys (technician): merchant, host, TMK ceremony, data key",
    )
    p.add_argument("--from", dest="answers", metavar="FILE", help="TOML answers file")
    p.add_argument("--mid", help="merchant ID (15 characters)")
    p.add_argument("--tid", help="terminal ID (8 characters)")
    p.add_argument("--name", help="shop name printed on stubs")
    p.add_argument("--host", help="acquirer host name or IP address")
    p.add_argument("--port", type=int, help="acquirer TCP port")
    p.add_argument("--dialect", choices=("iso87", "cup"), help="message dialect")
    p.add_argument("--tls", action="store_true", default=None, help="TLS to the host")
    p.add_argument("--ca-file", help="CA bundle for TLS")
    p.add_argument("--language", choices=("zh_CN", "en"), help="screen language")
    p.add_argument("--timezone", help="IANA time zone, e.g. Asia/Shanghai")
    p.add_argument("--max-amount", type=int, help="largest payment, minor units")
    p.add_argument("--offline-max-amount", type=int, help="largest offline payment, minor units")
    p.add_argument(
        "--state-dir", help="journal directory (default: kept, else /var/lib/countertop)"
    )
    p.add_argument("--components", type=int, choices=(2, 3), help="TMK components (default 2)")
    p.add_argument(
        "--kcv",
        action="append",
        metavar="KCV",
        help="check value on a component's envelope (once per component, in order)",
    )
    p.add_argument("--tmk-kcv", metavar="KCV", help="the acquirer's check value of the whole TMK")
    p.add_argument(
        "--component-stdin",
        action="store_true",
        help="read the components from stdin, one per line (scripts and tests)",
    )
    p.add_argument(
        "--credentials",
        metavar="DIR",
        help="write tmk and data-key as systemd credentials here (/etc/countertop/credentials)",
    )
    p.add_argument(
        "--demo", action="store_true", help="use mock devices where no hardware is found"
    )
    p.set_defaults(func=cmd_provision)
