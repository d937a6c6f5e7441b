"""Provisioning: turn a technician's answers and a key ceremony into a config and its secrets.

Nothing is written until everything is known to be right: the config is rendered with
``appliance.config.template`` and loaded back with ``load_config`` (the same rules the terminal
starts with) from a temporary file beside its destination; every TMK component's check value
must match the one on its custodian's envelope. Only then are the secrets and the config moved
into place, each with an atomic rename.

Secrets (TMK components, the TMK, the data key) never reach stdout, stderr, a log or an
exception message; their check values (KCV) may.

Answers file (``countertop provision --from FILE``), TOML, every key optional::

    [merchant]   mid, tid, name, currency, ...     any key of the config's sections
    [host]       address, port, dialect, tls, ca_file, ...
    [limits] [locale] [reader] [printer] [indicators] [receipts] [settlement] [ui] [state]
    [ceremony]
    components = 2                       # 2 or 3 custodians
    component_kcvs = ["1A2B3C", "4D5E6F"] # the check value on each custodian's envelope
    tmk_kcv = "A1B2C3"                   # optional: the combined key's check value
"""

from __future__ import annotations

import hmac
import logging
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.config import SCHEMA, Config, load_config, template
from appliance.errors import ConfigError, KeyCheckError

log = logging.getLogger(__name__)

COMPONENT_HEX = 32  # a double-length component: 16 bytes
KCV_RE = re.compile(r"[0-9A-Fa-f]{6}")
CEREMONY_KEYS = ("components", "component_kcvs", "tmk_kcv")


@dataclass
class Answers:
    """What the technician answered: config overrides per section and the ceremony's check values."""

    config: dict[str, dict[str, Any]] = field(default_factory=dict)
    components: int = 2
    component_kcvs: list[str] = field(default_factory=list)
    tmk_kcv: str = ""

    def set(self, section: str, key: str, value: Any) -> None:
        """Set one config value (flags override the answers file)."""
        self.config.setdefault(section, {})[key] = value

    def get(self, section: str, key: str) -> Any:
        """One config value the technician gave, or None."""
        return self.config.get(section, {}).get(key)


def load_answers(path: Path) -> Answers:
    """Read a TOML answers file; unknown sections are errors (typos must not pass silently)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: answers file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the answers file: {exc}") from exc
    answers = Answers()
    for name, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {name}: must be a [{name}] table")
        if name == "ceremony":
            for key in table:
                if key not in CEREMONY_KEYS:
                    raise ConfigError(
                        f"{path}: ceremony.{key}: unknown key (expected one of: "
                        f"{', '.join(CEREMONY_KEYS)})"
                    )
            answers.components = table.get("components", answers.components)
            answers.component_kcvs = list(table.get("component_kcvs", []))
            answers.tmk_kcv = str(table.get("tmk_kcv", ""))
        elif name in SCHEMA:
            answers.config[name] = dict(table)
        else:
            raise ConfigError(
                f"{path}: [{name}]: unknown section (expected ceremony or one of: "
                f"{', '.join(SCHEMA)})"
            )
    check_ceremony_answers(answers)
    return answers


def check_ceremony_answers(answers: Answers) -> None:
    """The ceremony's numbers must be sane before any custodian types a component."""
    if answers.components not in (2, 3) or isinstance(answers.components, bool):
        raise ConfigError(f"ceremony.components: {answers.components!r} is not 2 or 3")
    for i, k in enumerate(answers.component_kcvs, 1):
        if not isinstance(k, str) or not KCV_RE.fullmatch(k):
            raise ConfigError(f"ceremony.component_kcvs: check value {i} {k!r} is not 6 hex digits")
    if answers.component_kcvs and len(answers.component_kcvs) != answers.components:
        raise ConfigError(
            f"ceremony.component_kcvs: {len(answers.component_kcvs)} check values for "
            f"{answers.components} components"
        )
    if answers.tmk_kcv and not KCV_RE.fullmatch(answers.tmk_kcv):
        raise ConfigError(f"ceremony.tmk_kcv: {answers.tmk_kcv!r} is not 6 hex digits")


# ---- devices ---------------------------------------------------------------------------------


def detect_devices(
    answers: Answers, *, demo: bool = False, dev: Path = Path("/dev")
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Choose reader, printer and indicator backends: the answers, else what ``dev`` holds.

    Returns the config overrides and one line per choice saying what was chosen and why.
    Without ``demo`` a missing reader or printer is an error: never a silent mock.
    """
    chosen: dict[str, dict[str, Any]] = {}
    notes: list[str] = []

    reader = answers.get("reader", "backend")
    if reader:
        notes.append(f"reader: {reader} (as answered)")
    elif (dev / "ttyAMA0").exists():
        chosen["reader"] = {"backend": "nfcpy", "device": "tty:AMA0:pn532"}
        notes.append(f"reader: nfcpy tty:AMA0:pn532 ({dev}/ttyAMA0 present: PN532 on the UART)")
    elif (dev / "ttyS0").exists() and (dev / "serial0").exists():
        chosen["reader"] = {"backend": "nfcpy", "device": "tty:S0:pn532"}
        notes.append(f"reader: nfcpy tty:S0:pn532 ({dev}/ttyS0 present: PN532 on the mini UART)")
    elif demo:
        chosen["reader"] = {"backend": "mock"}
        notes.append("reader: mock (--demo; no reader found)")
    else:
        raise ConfigError(
            f"no card reader found ({dev}/ttyAMA0 absent): connect the PN532, or set "
            f"reader.backend (and reader.device) in the answers file, or use --demo"
        )

    printer = answers.get("printer", "backend")
    if printer:
        notes.append(f"printer: {printer} (as answered)")
    elif (dev / "usb" / "lp0").exists():
        chosen["printer"] = {"backend": "file", "path": str(dev / "usb" / "lp0")}
        notes.append(f"printer: file {dev}/usb/lp0 (USB printer class device present)")
    elif demo:
        chosen["printer"] = {"backend": "mock"}
        notes.append("printer: mock (--demo; no printer found)")
    else:
        raise ConfigError(
            f"no receipt printer found ({dev}/usb/lp0 absent): connect it, or set "
            f'printer.backend in the answers file ("network" with printer.host for a LAN '
            f"printer), or use --demo"
        )

    indicators = answers.get("indicators", "backend")
    if indicators:
        notes.append(f"indicators: {indicators} (as answered)")
    elif (dev / "gpiochip0").exists():
        chosen["indicators"] = {"backend": "gpio"}
        notes.append(f"indicators: gpio ({dev}/gpiochip0 present; pins as configured)")
    elif demo:
        chosen["indicators"] = {"backend": "mock"}
        notes.append("indicators: mock (--demo; no GPIO found)")
    else:
        chosen["indicators"] = {"backend": "none"}
        notes.append(f"indicators: none ({dev}/gpiochip0 absent: no LEDs or buzzer)")
    return chosen, notes


# ---- the key ceremony ------------------------------------------------------------------------


def parse_component(text: str, index: int) -> bytes:
    """A typed component: exactly 32 hex digits (spaces allowed between groups)."""
    digits = re.sub(r"\s+", "", text)
    if not re.fullmatch(rf"[0-9A-Fa-f]{{{COMPONENT_HEX}}}", digits):
        # Never quote what was typed: it is (nearly) a key component.
        raise ConfigError(
            f"component {index}: not {COMPONENT_HEX} hex digits "
            f"({len(digits)} characters typed): enter it again"
        )
    return bytes.fromhex(digits)


@dataclass
class CeremonyResult:
    """The combined TMK (secret) and the check values shown to the custodians."""

    tmk: bytes = field(repr=False)
    component_kcvs: list[str]
    tmk_kcv: str

    def __repr__(self) -> str:
        return f"CeremonyResult(tmk=<hidden>, component_kcvs={self.component_kcvs}, tmk_kcv={self.tmk_kcv})"


def key_ceremony(
    answers: Answers,
    read_component: Callable[[int], str],
    envelope_kcv: Callable[[int], str],
    say: Callable[[str], None],
) -> CeremonyResult:
    """Collect the TMK components under dual control and check each against its envelope.

    ``read_component(i)`` returns custodian ``i``'s typed component (never echoed);
    ``envelope_kcv(i)`` the check value printed on that custodian's envelope, used when the
    answers carry none. A mismatch raises KeyCheckError: nothing has been written yet.
    """
    from appliance.host.keys import combine_components, kcv

    comps: list[bytes] = []
    kcvs: list[str] = []
    for i in range(1, answers.components + 1):
        comp = parse_component(read_component(i), i)
        got = kcv(comp)
        say(f"component {i} check value: {got}")
        expected = (
            answers.component_kcvs[i - 1] if answers.component_kcvs else envelope_kcv(i)
        ).strip()
        if not KCV_RE.fullmatch(expected):
            raise ConfigError(
                f"component {i}: envelope check value {expected!r} is not 6 hex digits"
            )
        if not hmac.compare_digest(got, expected.upper()):
            raise KeyCheckError(
                f"component {i} check value {got} does not match the envelope's "
                f"{expected.upper()}: the component was mistyped or is the wrong one; "
                f"nothing was written: start the ceremony again"
            )
        say(f"component {i} check value matches the envelope")
        comps.append(comp)
        kcvs.append(got)
    tmk = combine_components(comps)
    tmk_kcv = kcv(tmk)
    say(f"terminal master key check value: {tmk_kcv}")
    if answers.tmk_kcv and not hmac.compare_digest(tmk_kcv, answers.tmk_kcv.upper()):
        raise KeyCheckError(
            f"terminal master key check value {tmk_kcv} does not match the acquirer's "
            f"{answers.tmk_kcv.upper()}: nothing was written: call the acquirer"
        )
    return CeremonyResult(tmk, kcvs, tmk_kcv)


# ---- writing ---------------------------------------------------------------------------------


def atomic_write(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` via a temporary file in its directory, fsync'd, then renamed into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _secret_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


@dataclass
class ProvisionResult:
    """What provisioning wrote (paths only: no secret material)."""

    config_path: Path
    tmk_path: Path
    data_key_path: Path
    data_key_kept: bool
    reprovisioned: bool
    journal_kept: bool
    ceremony: CeremonyResult
    notes: list[str]


def _existing(config_out: Path) -> Config | None:
    if not config_out.exists():
        return None
    try:
        return load_config(config_out)
    except ConfigError:
        return None  # a broken old config is replaced, its state dir cannot be trusted


def plan_config(
    answers: Answers,
    config_out: Path,
    *,
    demo: bool = False,
    credentials: Path | None = None,
    dev: Path = Path("/dev"),
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The config overrides (answers + detected devices + key paths) and the notes on choices."""
    overrides = {name: dict(values) for name, values in answers.config.items()}
    devices, notes = detect_devices(answers, demo=demo, dev=dev)
    for name, values in devices.items():
        overrides.setdefault(name, {}).update(values)
    old = _existing(config_out)
    if "dir" not in overrides.get("state", {}):
        state = old.state_dir if old else (config_out.parent / "state" if demo else None)
        if state is not None:
            overrides.setdefault("state", {})["dir"] = str(state)
    keys = overrides.setdefault("keys", {})
    if credentials is not None:
        keys.setdefault("tmk_file", str(credentials / "tmk"))
        keys.setdefault("data_key_file", str(credentials / "data-key"))
    elif old and "tmk_file" not in keys:
        keys["tmk_file"] = str(old.resolve(old.keys.tmk_file))
        keys["data_key_file"] = str(old.resolve(old.keys.data_key_file))
    else:
        state_dir = overrides.get("state", {}).get("dir", SCHEMA["state"]["dir"][0])
        keys.setdefault("tmk_file", str(Path(state_dir) / "secrets" / "tmk.hex"))
        keys.setdefault("data_key_file", str(Path(state_dir) / "secrets" / "data.key"))
    return overrides, notes


def validate_overrides(overrides: dict[str, dict[str, Any]], config_out: Path) -> Config:
    """Render the config and load it back from a temp file beside ``config_out`` (same rules)."""
    config_out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=config_out.parent, prefix=".provision.", suffix=".toml")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(template(overrides))
        try:
            cfg = load_config(tmp)
        except ConfigError as exc:
            # Name the file the technician will have, not the temporary one.
            raise ConfigError(str(exc).replace(str(tmp), str(config_out))) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    host = cfg.host
    if host.tls and host.ca_file:
        ca = Path(host.ca_file)
        ca = ca if ca.is_absolute() else config_out.parent / ca
        if not ca.is_file():
            raise ConfigError(f"{config_out}: host.ca_file: {ca} does not exist")
    return cfg


def provision(
    answers: Answers,
    config_out: Path,
    read_component: Callable[[int], str],
    envelope_kcv: Callable[[int], str],
    say: Callable[[str], None],
    *,
    demo: bool = False,
    credentials: Path | None = None,
    dev: Path = Path("/dev"),
) -> ProvisionResult:
    """Validate, hold the key ceremony, then write secrets and config (nothing before the end)."""
    check_ceremony_answers(answers)
    reprovisioned = config_out.exists()
    overrides, notes = plan_config(answers, config_out, demo=demo, credentials=credentials, dev=dev)
    cfg = validate_overrides(overrides, config_out)
    for n in notes:
        say(n)
    ceremony = key_ceremony(answers, read_component, envelope_kcv, say)

    tmk_path = Path(overrides["keys"]["tmk_file"])
    data_path = Path(overrides["keys"]["data_key_file"])
    tmk_path = tmk_path if tmk_path.is_absolute() else config_out.parent / tmk_path
    data_path = data_path if data_path.is_absolute() else config_out.parent / data_path
    for p in {tmk_path.parent, data_path.parent}:
        _secret_dir(p)
    atomic_write(tmk_path, ceremony.tmk.hex().upper().encode() + b"\n", 0o600)
    data_kept = _valid_data_key(data_path)
    if not data_kept:
        # Stored (offline) payments are encrypted under the data key: an existing one is kept.
        atomic_write(data_path, os.urandom(32).hex().encode() + b"\n", 0o600)
    cfg.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(config_out, template(overrides).encode("utf-8"), 0o644)
    journal_kept = cfg.journal_path.exists()
    if journal_kept:
        _forget_working_keys(load_config(config_out))
    log.info("terminal provisioned: TID %s, TMK check value %s", cfg.merchant.tid, ceremony.tmk_kcv)
    return ProvisionResult(
        config_out, tmk_path, data_path, data_kept, reprovisioned, journal_kept, ceremony, notes
    )


def _valid_data_key(path: Path) -> bool:
    try:
        raw = path.read_bytes().strip()
    except OSError:
        return False
    return bool(re.fullmatch(rb"[0-9A-Fa-f]{64}", raw)) or len(path.read_bytes()) == 32


def _forget_working_keys(cfg: Config) -> None:
    """Working keys saved under the old TMK are void: the next start needs a sign-on."""
    from appliance.bootstrap import open_journal

    journal = open_journal(cfg)
    try:
        journal.session_set(pik="", pik_kcv="", mak="", mak_kcv="")
        journal.audit("-", "provision", f"re-provisioned; TID {cfg.merchant.tid}")
    finally:
        journal.close()


# ---- config check ----------------------------------------------------------------------------


def _odd_parity(key: bytes) -> bool:
    return all(bin(b).count("1") % 2 == 1 for b in key)


def check_config(cfg: Config) -> list[str]:
    """Every problem with a loaded config's secrets, state dir and TLS files (empty: fine)."""
    problems: list[str] = []
    try:
        tmk = cfg.tmk()
        if not _odd_parity(tmk):
            problems.append(
                "terminal master key: not odd parity in every byte (a digit was mistyped?): "
                "hold the key ceremony again (countertop provision)"
            )
    except ConfigError as exc:
        problems.append(f"terminal master key: {exc}")
    try:
        cfg.data_key()
    except ConfigError as exc:
        problems.append(f"card data key: {exc} (64 hex digits or 32 raw bytes)")
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    for cred, key in (("tmk", "tmk_file"), ("data-key", "data_key_file")):
        if cred_dir and (Path(cred_dir) / cred).is_file():
            continue  # systemd's copy: private to the service by construction
        p = cfg.resolve(cfg.keys.values[key])
        try:
            mode = p.stat().st_mode
        except OSError:
            continue  # already reported as missing above
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            problems.append(
                f"keys.{key}: {p} is readable by group or others (mode {stat.S_IMODE(mode):04o}): "
                f"chmod 600 {p}"
            )
    problems += _check_state_dir(cfg.state_dir)
    if cfg.host.tls and cfg.host.ca_file:
        ca = cfg.resolve(cfg.host.ca_file)
        if not ca.is_file():
            problems.append(f"host.ca_file: {ca} does not exist (TLS is on)")
    return problems


def _check_state_dir(state: Path) -> list[str]:
    probe = state
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return [f"state.dir: {probe} is not a directory"]
    if not os.access(probe, os.W_OK | os.X_OK):
        return [f"state.dir: {probe} is not writable by this user: fix its owner or mode"]
    return []
