"""``countertop fleet run|status`` (terminal side) and ``countertop office …`` (back office)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from appliance.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from appliance.cli.common import add_json, config_from, emit_json
from appliance.domain.roles import System
from appliance.errors import ConfigError


def terminal_agent(term: Any, *, on_params: Any = None) -> Any:
    """A fleet agent for a built terminal: its status, and forward/settle on command."""
    from appliance.fleet.agent import FleetAgent
    from appliance.services.settlement import Settlement

    def forward_now() -> str:
        report = term.send_owed()
        return f"sent {report.sent}, still owed {report.still_owed}"

    def settle_now() -> str:
        out = Settlement(term).settle(approver=System("fleet"))
        return str(getattr(out, "result", out))

    return FleetAgent(
        term.config,
        term.journal,
        status=lambda: term.status().as_dict(),
        commands={"forward_now": forward_now, "settle_now": settle_now},
        on_params=on_params,
    )


def cmd_fleet_run(args: argparse.Namespace) -> int:
    """Run the agent in the foreground (a headless terminal box); SIGTERM stops it."""
    from appliance.bootstrap import build_terminal

    cfg = config_from(args)
    if not cfg.fleet.broker:
        raise ConfigError(f"{cfg.path}: [fleet] broker is not set: nothing to report to")
    term = build_terminal(cfg)
    agent = terminal_agent(term, on_params=lambda new: setattr(term, "config", new))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda _s, _f: done.set())
    agent.start()
    print(
        f"fleet agent for TID {cfg.merchant.tid} publishing to {agent.settings.broker}",
        file=sys.stderr,
    )
    try:
        done.wait()
    except KeyboardInterrupt:
        pass  # Ctrl-C is the normal way to stop it in a terminal; stop() runs below
    finally:
        agent.stop()
        term.close()
    return EXIT_OK


def cmd_fleet_status(args: argparse.Namespace) -> int:
    """Connected (as the agent last recorded), outbox depth, oldest unsent, parameters."""
    from appliance.bootstrap import open_journal
    from appliance.fleet import effective_config
    from appliance.journal import fleet as outbox

    cfg = config_from(args)
    journal = open_journal(cfg)
    try:
        effective_config(cfg, journal)
        depth = outbox.depth(journal)
        connected, agent_at = outbox.agent_state(journal)
        applied = outbox.applied_params(journal)
    finally:
        journal.close()
    fresh = False
    if agent_at:
        age = datetime.now(UTC) - datetime.fromisoformat(agent_at)
        fresh = age <= timedelta(seconds=3 * cfg.fleet.heartbeat_seconds)
    doc = {
        "enabled": bool(cfg.fleet.broker),
        "broker": cfg.fleet.broker or None,
        "connected": connected and fresh,
        "agent_seen_at": agent_at,
        "outbox_depth": depth.unsent,
        "oldest_unsent_at": depth.oldest_at,
        "params_version": applied.version,
        "params": applied.values,
    }
    if args.json:
        emit_json(doc)
    else:
        if not doc["enabled"]:
            print("fleet reporting is off (no [fleet] broker in the config)")
        print(f"broker          {doc['broker'] or '-'}")
        print(
            f"connected       {'yes' if doc['connected'] else 'no'} (agent seen {agent_at or 'never'})"
        )
        print(f"outbox          {depth.unsent} unsent, oldest {depth.oldest_at or '-'}")
        print(
            f"parameters      version {applied.version} {json.dumps(applied.values, ensure_ascii=False)}"
        )
    return EXIT_OK


# ---- back office -------------------------------------------------------------------------------


def cmd_office(args: argparse.Namespace) -> int:
    """Subscribe to the fleet and serve the web app until stopped."""
    import uvicorn

    from appliance.office.db import OfficeDb
    from appliance.office.ingest import Ingestor
    from appliance.office.web import create_app

    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"--listen {args.listen!r} is not HOST:PORT")
    db = OfficeDb(args.db)
    db.migrate()
    ingest = Ingestor(
        db,
        args.broker,
        prefix=args.prefix,
        client_id=args.client_id,
        group=args.group,
        username=args.username,
        password=Path(args.password_file).read_text().strip() if args.password_file else "",
    )
    ingest.start()
    secret = Path(args.secret_file) if args.secret_file else _beside(args.db, "office-session.key")
    app = create_app(db, secret_file=secret, tz=args.timezone)
    print(
        f"back office on http://{host}:{port}/ (broker {args.broker}, db {args.db})",
        file=sys.stderr,
    )
    try:
        uvicorn.run(app, host=host, port=int(port), log_level="warning")
    finally:
        ingest.stop()
    return EXIT_OK


def _beside(db_url: str, name: str) -> Path | None:
    if db_url.startswith("sqlite:///"):
        return Path(db_url[len("sqlite:///") - 1 :]).parent / name
    return None


def cmd_office_user_add(args: argparse.Namespace) -> int:
    """Create or replace a back-office user; the password comes from stdin."""
    from appliance.office.db import OfficeDb, OfficeError

    if not args.password_stdin:
        print(
            "countertop office user add: pass --password-stdin and the password on stdin",
            file=sys.stderr,
        )
        return EXIT_USAGE
    password = sys.stdin.readline().rstrip("\n")
    if args.role == "owner" and not args.merchant:
        print(
            "countertop office user add: an owner needs --merchant MID (their shops)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    db = OfficeDb(args.db)
    db.migrate()
    try:
        db.add_user(args.name, args.role, password, args.merchant or [])
    except OfficeError as exc:
        print(f"countertop office user add: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"user {args.name} ({args.role}) saved")
    return EXIT_OK


def cmd_office_keygen(args: argparse.Namespace) -> int:
    """A new parameter-signing key: private key to --out (0600), public key on stdout."""
    import os

    from appliance.fleet.signing import generate

    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"countertop office keygen: {out} exists (--force replaces it)", file=sys.stderr)
        return EXIT_USAGE
    private, public = generate()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(private.hex() + "\n")
    if args.json:
        emit_json({"private_key_file": str(out), "office_public_key": public.hex()})
    else:
        print(public.hex())
    return EXIT_OK


def cmd_office_sign(args: argparse.Namespace) -> int:
    """Sign a parameter change (JSON: tid, version, params, commands) and print or publish it."""
    from appliance.fleet.signing import read_private, sign

    try:
        doc = json.loads(Path(args.params).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{args.params}: not a readable JSON file: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("tid"), str):
        raise ConfigError(f'{args.params}: expected {{"tid": …, "version": N, "params": {{…}}}}')
    doc.setdefault("issued_at", datetime.now(UTC).isoformat(timespec="seconds"))
    signed = sign(doc, read_private(Path(args.key)))
    if args.publish:
        return _publish_params(args, signed)
    emit_json(signed)
    return EXIT_OK


def _publish_params(args: argparse.Namespace, signed: dict[str, Any]) -> int:
    from appliance.domain.fleet import Topics, canonical
    from appliance.fleet import mqtt as fmqtt

    if not args.mid:
        raise ConfigError("--publish needs --mid MID (the terminal's merchant id)")
    topics = Topics(args.prefix, args.mid, signed["tid"])
    client = fmqtt.client(
        f"office-sign-{signed['tid']}", fmqtt.Broker.parse(args.publish), persistent=False
    )
    broker = fmqtt.Broker.parse(args.publish)
    client.connect(broker.host, broker.port, 30)
    client.loop_start()
    try:
        info = client.publish(topics.params, canonical(signed), qos=1, retain=True)
        info.wait_for_publish(timeout=10)
        ok = info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()
    if not ok:
        print("countertop office sign: the broker did not acknowledge the message", file=sys.stderr)
        return EXIT_FAILED
    print(f"published version {signed.get('version')} to {topics.params}")
    return EXIT_OK


def cmd_office_demo(args: argparse.Namespace) -> int:
    """A demo day in a throwaway office database, served until stopped (user demo)."""
    import tempfile

    import uvicorn

    from appliance.office.db import OfficeDb
    from appliance.office.web import create_app
    from appliance.sim.office_demo import build_demo_office

    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(f"--listen {args.listen!r} is not HOST:PORT")
    with tempfile.TemporaryDirectory(prefix="countertop-office-demo-") as tmp:
        demo = build_demo_office(Path(tmp))
        db = OfficeDb(demo.db_url)
        db.add_user("demo", "technician", "demo-password", [])
        print(
            f"demo back office on http://{host}:{port}/ — sign in as demo / demo-password "
            f"(terminal {demo.tid}, one-sided trace {demo.one_sided_trace})",
            file=sys.stderr,
        )
        uvicorn.run(create_app(db), host=host, port=int(port), log_level="warning")
    return EXIT_OK


def cmd_office_screenshots(args: argparse.Namespace) -> int:
    """The back-office pages of the demo day as PNG (headless Chromium)."""
    from appliance.sim.browser import screenshots

    for path in screenshots(Path(args.out)):
        print(path)
    return EXIT_OK


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``fleet run|status`` and ``office [user add|keygen|sign]``."""
    fleet = sub.add_parser("fleet", help="report to the back office over MQTT")
    fsub = fleet.add_subparsers(dest="fleet_command", metavar="SUBCOMMAND", required=True)
    run = fsub.add_parser("run", help="the fleet agent in the foreground (headless box)")
    run.set_defaults(func=cmd_fleet_run)
    status = fsub.add_parser("status", help="connected, outbox depth, oldest unsent")
    add_json(status)
    status.set_defaults(func=cmd_fleet_status)

    office = sub.add_parser("office", help="the back office: fleet subscriber and web pages")
    office.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="MQTT broker URL")
    office.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT of the web app")
    office.add_argument(
        "--db", default="sqlite:///office/office.db", help="sqlite:///PATH or postgresql://…"
    )
    office.add_argument("--prefix", default="countertop/v1", help="fleet topic prefix")
    office.add_argument(
        "--client-id", default="countertop-office", help="MQTT client id (one per worker)"
    )
    office.add_argument("--group", help="shared-subscription group (several office workers)")
    office.add_argument("--username", default="", help="broker user")
    office.add_argument("--password-file", help="broker password file")
    office.add_argument("--secret-file", help="session signing key file (default beside the db)")
    office.add_argument("--timezone", default="Asia/Shanghai", help="the shops' time zone")
    office.set_defaults(func=cmd_office)
    osub = office.add_subparsers(dest="office_command", metavar="SUBCOMMAND")
    user = osub.add_parser("user", help="back-office users")
    usub = user.add_subparsers(dest="user_command", metavar="SUBCOMMAND", required=True)
    add = usub.add_parser("add", help="create or replace a user")
    add.add_argument("name")
    add.add_argument("--role", choices=("owner", "technician"), required=True)
    add.add_argument("--merchant", action="append", help="MID an owner may see (repeat)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument(
        "--db", default="sqlite:///office/office.db", help="sqlite:///PATH or postgresql://…"
    )
    add.set_defaults(func=cmd_office_user_add)
    keygen = osub.add_parser("keygen", help="a new parameter-signing key pair")
    keygen.add_argument("--out", required=True, help="private key file (written 0600)")
    keygen.add_argument("--force", action="store_true", help="replace an existing file")
    add_json(keygen)
    keygen.set_defaults(func=cmd_office_keygen)
    signp = osub.add_parser("sign", help="sign a parameter change for a terminal")
    signp.add_argument("params", help="JSON file: tid, version, params, commands")
    signp.add_argument("--key", required=True, help="private key file (office keygen)")
    signp.add_argument("--publish", metavar="BROKER", help="publish it (retained) to this broker")
    signp.add_argument("--mid", help="the terminal's MID (for the topic, with --publish)")
    signp.add_argument("--prefix", default="countertop/v1", help="fleet topic prefix")
    signp.set_defaults(func=cmd_office_sign)
    demo = osub.add_parser("demo", help="serve a demo day (user demo / demo-password)")
    demo.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT")
    demo.set_defaults(func=cmd_office_demo)
    shots = osub.add_parser("screenshots", help="PNGs of the back-office pages (demo day)")
    shots.add_argument("--out", default="docs/screenshots", help="directory for the PNG files")
    shots.set_defaults(func=cmd_office_screenshots)
