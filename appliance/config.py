"""Terminal configuration: one TOML file, validated strictly at load.

Every error names the file, the key, the value and what was expected, e.g.
``terminal.toml: host.port: "80a" is not a port number (1-65535)``. Unknown keys are errors,
so a typo is never silently ignored. ``template()`` writes the commented starting point.

Lookup order: ``--config PATH``, else ``$COUNTERTOP_CONFIG``, else ``/etc/countertop/terminal.toml``.
Relative paths inside the file are relative to the file's directory.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.domain.money import CURRENCIES, Currency
from appliance.errors import ConfigError

DEFAULT_PATH = Path("/etc/countertop/terminal.toml")

Check = Callable[[Any], Any]  # returns the converted value or raises ValueError(expected)


def _str(pattern: str | None = None, expected: str = "text") -> Check:
    def check(v: Any) -> str:
        if not isinstance(v, str) or (pattern and not re.fullmatch(pattern, v)):
            raise ValueError(expected)
        return v

    return check


def _int(lo: int, hi: int, expected: str) -> Check:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise ValueError(expected)
        return v

    return check


def _seconds(lo: float, hi: float) -> Check:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            raise ValueError(f"a number of seconds ({lo:g}-{hi:g})")
        return float(v)

    return check


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise ValueError("true or false")
    return v


def _choice(*options: str) -> Check:
    def check(v: Any) -> str:
        if v not in options:
            raise ValueError("one of " + ", ".join(f'"{o}"' for o in options))
        return v

    return check


def _int_list(n_min: int, n_max: int, lo: int, hi: int, expected: str) -> Check:
    def check(v: Any) -> list[int]:
        if (
            not isinstance(v, list)
            or not n_min <= len(v) <= n_max
            or any(isinstance(x, bool) or not isinstance(x, int) or not lo <= x <= hi for x in v)
        ):
            raise ValueError(expected)
        return list(v)

    return check


def _str_list(options: tuple[str, ...] | None = None) -> Check:
    def check(v: Any) -> list[str]:
        if not isinstance(v, list) or any(not isinstance(x, str) for x in v):
            raise ValueError("a list of strings")
        if options and any(x not in options for x in v):
            raise ValueError("a list of: " + ", ".join(options))
        return list(v)

    return check


def _rates(v: Any) -> dict[str, int]:
    if not isinstance(v, dict) or any(
        not isinstance(k, str)
        or isinstance(r, bool)
        or not isinstance(r, int)
        or not 0 <= r <= 10000
        for k, r in v.items()
    ):
        raise ValueError("a table of scheme = basis points (0-10000), e.g. visa = 60 for 0.60 %")
    return {k.upper(): r for k, r in v.items()}


def _scheme_money(default: dict[str, int]) -> Check:
    def check(v: Any) -> dict[str, int]:
        expected = (
            "a table of scheme = amount in minor units for "
            + ", ".join(default)
            + " (e.g. { UNIONPAY = 100000 })"
        )
        if not isinstance(v, dict):
            raise ValueError(expected)
        out = dict(default)
        for k, amount in v.items():
            if (
                not isinstance(k, str)
                or k.upper() not in default
                or isinstance(amount, bool)
                or not isinstance(amount, int)
                or not 0 <= amount <= 999_999_999_999
            ):
                raise ValueError(expected)
            out[k.upper()] = amount
        return out

    return check


def _tvr_bits(v: Any) -> list[str]:
    from appliance.emv.risk import TVR_BITS

    if not isinstance(v, list) or any(x not in TVR_BITS for x in v):
        raise ValueError("a list of TVR bit names: " + ", ".join(TVR_BITS))
    return list(v)


_PORT = _int(1, 65535, "a port number (1-65535)")

NFC_DEVICE_FORMS = "tty:AMA0:pn532, usb, usb:072f:2200 or udp:HOST:PORT"


def nfc_device(v: Any) -> str:
    """Check an nfcpy device path; raise ValueError(what was expected) when it is not one.

    nfcpy's forms: ``tty:NAME[:DRIVER]`` (serial, e.g. the PN532 on the Pi's UART),
    ``com:PORT[:DRIVER]`` (Windows), ``usb[:VVVV[:PPPP]]`` (vendor/product in hex) or
    ``usb:BBB:DDD`` (bus/device), and ``udp[:HOST[:PORT]]`` (its simulated device, for tests).
    A udp port outside 1-65535 would only fail when the reader first polls, and then as
    "reader offline" (the reader looked ready until then): refuse it here.
    """
    if not isinstance(v, str):
        raise ValueError(f"an nfcpy path ({NFC_DEVICE_FORMS})")
    kind, _, rest = v.partition(":")
    parts = rest.split(":") if rest else []
    if kind in ("tty", "com") and 1 <= len(parts) <= 2 and all(parts):
        return v
    if (
        kind == "usb"
        and len(parts) <= 2
        and all(re.fullmatch(r"[0-9A-Fa-f]{1,4}", p) for p in parts)
    ):
        return v
    if kind == "udp" and len(parts) <= 2:
        if len(parts) == 2 and not (parts[1].isdigit() and 1 <= int(parts[1]) <= 65535):
            raise ValueError("a udp:HOST:PORT device with a port number (1-65535)")
        return v
    raise ValueError(f"an nfcpy path ({NFC_DEVICE_FORMS})")


_MONEY = _int(0, 999_999_999_999, "an amount in minor units (whole number, 0-999999999999)")
SCHEMES = ("VISA", "MASTERCARD", "UNIONPAY", "AMEX", "JCB", "DISCOVER", "UNKNOWN")

# section → key → (default, check, comment). Order here is the order of the template.
SCHEMA: dict[str, dict[str, tuple[Any, Check, str]]] = {
    "merchant": {
        "mid": (
            "000000000000000",
            _str(r"[0-9A-Za-z]{15}", "15 letters or digits (MID)"),
            "merchant ID (商户号), 15 characters, from the acquirer",
        ),
        "tid": (
            "00000000",
            _str(r"[0-9A-Za-z]{8}", "8 letters or digits (TID)"),
            "terminal ID (终端号), 8 characters, from the acquirer",
        ),
        "name": (
            "My Shop",
            _str(r".{1,40}", "a name of 1-40 characters"),
            "name printed on every stub",
        ),
        "currency": ("CNY", _choice(*CURRENCIES), "ISO 4217 alphabetic code"),
        "currency_numeric": (
            "156",
            _str(r"\d{3}", "3 digits (ISO 4217 numeric)"),
            "ISO 4217 numeric code; must match currency",
        ),
        "country_numeric": (
            "156",
            _str(r"\d{3}", "3 digits (ISO 3166 numeric)"),
            "terminal country code sent to the card (9F1A)",
        ),
    },
    "host": {
        "address": (
            "127.0.0.1",
            _str(r"[^\s]{1,253}", "a host name or IP address"),
            "acquirer host name or IP address",
        ),
        "port": (8583, _PORT, "acquirer TCP port"),
        "dialect": ("iso87", _choice("iso87", "cup"), "message dialect: iso87 or cup"),
        "connect_timeout": (5.0, _seconds(0.1, 120), "seconds to wait for a connection"),
        "response_timeout": (
            15.0,
            _seconds(0.1, 300),
            "seconds to wait for an answer before reversing",
        ),
        "tls": (False, _bool, "use TLS to the host"),
        "ca_file": ("", _str(None, "a file path"), "CA bundle for TLS (empty: system CAs)"),
        "window": (
            8,
            _int(1, 64, "a whole number 1-64"),
            "requests outstanding at once while forwarding (1 for strict hosts)",
        ),
        "echo_interval": (60.0, _seconds(1, 86400), "seconds between echo tests (0800)"),
    },
    "keys": {
        "tmk_file": (
            "secrets/tmk.hex",
            _str(None, "a file path"),
            "terminal master key (hex), or a systemd credential named 'tmk'",
        ),
        "data_key_file": (
            "secrets/data.key",
            _str(None, "a file path"),
            "AES-256 key for stored card data, or credential 'data-key'",
        ),
        "qr_key_file": (
            "secrets/qr.key",
            _str(None, "a file path"),
            "QR gateway signing key of this terminal (text), or credential 'qr-key'",
        ),
    },
    "limits": {
        "max_amount": (99_999_999, _MONEY, "largest single payment, minor units"),
        "offline_enabled": (True, _bool, "allow storing payments when the host is unreachable"),
        "offline_max_amount": (50_000, _MONEY, "largest offline payment, minor units"),
        "offline_max_total": (500_000, _MONEY, "largest total stored awaiting forwarding"),
        "offline_max_count": (
            50,
            _int(0, 100_000, "a whole number 0-100000"),
            "most payments stored awaiting forwarding",
        ),
        "offline_max_age_hours": (
            24,
            _int(1, 720, "hours (1-720)"),
            "refuse offline sales once the oldest stored is this old",
        ),
        "online_only_schemes": ([], _str_list(SCHEMES), "schemes never accepted offline"),
        "cvm_limit": (100_000, _MONEY, "above this amount the stub has a signature line"),
    },
    "emv": {
        "deferred_arqc": (
            False,
            _bool,
            "store a sale whose online cryptogram (ARQC) could not be sent because the host "
            "became unreachable after the tap, for forwarding (deferred authorisation; only "
            "with the acquirer's agreement)",
        ),
        "contactless_limit": (
            {"VISA": 1_000_000, "MASTERCARD": 1_000_000, "UNIONPAY": 1_000_000},
            _scheme_money({"VISA": 1_000_000, "MASTERCARD": 1_000_000, "UNIONPAY": 1_000_000}),
            "reader contactless transaction limit per scheme, minor units: above it the sale is "
            "refused before the tap",
        ),
        "cvm_limit": (
            {"VISA": 100_000, "MASTERCARD": 100_000, "UNIONPAY": 100_000},
            _scheme_money({"VISA": 100_000, "MASTERCARD": 100_000, "UNIONPAY": 100_000}),
            "CVM required limit per scheme (免密免签 1000.00 CNY): above it the card must allow "
            "a signature or on-device verification (there is no PIN pad)",
        ),
        "floor_limit": (
            {"VISA": 50_000, "MASTERCARD": 50_000, "UNIONPAY": 50_000},
            _scheme_money({"VISA": 50_000, "MASTERCARD": 50_000, "UNIONPAY": 50_000}),
            "offline floor limit per scheme: above it the card is always asked for an online "
            "cryptogram (TVR 'exceeds floor limit')",
        ),
        "signature": (
            True,
            _bool,
            "the merchant stub has a signature line (the card is told a signature is possible)",
        ),
        "accept_offline_tc": (
            False,
            _bool,
            "when the host is unreachable, ask the card for an offline approval (TC) and store "
            "it for forwarding (only with the acquirer's agreement)",
        ),
        "deny_offline": (
            [
                "icc_data_missing",
                "different_app_versions",
                "expired",
                "not_yet_effective",
                "service_not_allowed",
                "cvm_not_successful",
                "pin_pad_absent",
                "floor_limit_exceeded",
            ],
            _tvr_bits,
            "TVR bits that refuse store-and-forward (online the request goes out with them set)",
        ),
    },
    "reader": {
        "backend": ("mock", _choice("nfcpy", "mock"), "nfcpy (real reader) or mock"),
        "device": (
            "tty:AMA0:pn532",
            nfc_device,
            "nfcpy device: tty:AMA0:pn532 (UART), usb:072f:2200, udp:host:port",
        ),
        "mock_card": (
            "visa",
            _str(r"[\w.-]*", "a card profile name"),
            "card the mock reader presents when none is tapped (empty: none)",
        ),
        "timeout": (30.0, _seconds(1, 300), "seconds to wait for a card"),
    },
    "scanner": {
        "backend": (
            "mock",
            _choice("evdev", "serial", "mock", "none"),
            "evdev (USB keyboard-wedge scanner), serial (UART/USB-CDC), mock or none",
        ),
        "device": (
            "",
            _str(None, "a device path"),
            "evdev: /dev/input/by-id/usb-…-event-kbd; serial: /dev/ttyACM0 or /dev/ttyAMA0",
        ),
        "baudrate": (9600, _int(1200, 921600, "a baud rate"), "serial scanner baud rate"),
        "mock_code": (
            "",
            _str(r"[\x21-\x7e]*", "printable ASCII without spaces"),
            "code the mock scanner returns when nobody scans (empty: none)",
        ),
        "timeout": (
            60.0,
            _seconds(5, 300),
            "seconds the scan prompt waits for the customer's payment code",
        ),
    },
    "printer": {
        "backend": (
            "mock",
            _choice("usb", "serial", "network", "file", "mock"),
            "usb, serial, network, file or mock",
        ),
        "usb_vendor": (0x0416, _int(0, 0xFFFF, "a USB vendor id"), "USB vendor id"),
        "usb_product": (0x5011, _int(0, 0xFFFF, "a USB product id"), "USB product id"),
        "serial_device": ("/dev/ttyUSB0", _str(None, "a device path"), "serial device"),
        "baudrate": (115200, _int(1200, 921600, "a baud rate"), "serial baud rate"),
        "host": ("192.168.1.100", _str(None, "a host"), "network printer address"),
        "port": (9100, _PORT, "network printer port"),
        "path": ("/dev/usb/lp0", _str(None, "a file path"), "file/device to write to"),
        "width_mm": (58, _int(58, 80, "58 or 80"), "paper width: 58 (32 columns) or 80 (48)"),
        "chinese": (
            "fs",
            _choice("fs", "image"),
            "fs: firmware Chinese mode (FS &); image: print Chinese as images",
        ),
        "cutter": (False, _bool, "printer has an auto cutter"),
        "drawer": (False, _bool, "open a cash drawer on cash-relevant stubs"),
        "drain_rate": (
            2000,
            _int(100, 1_000_000, "bytes per second (100-1000000)"),
            "slowest rate (bytes/s) the printer takes a job at: a job gets its size / this "
            "rate + drain_margin seconds to drain before the printer is judged",
        ),
        "drain_margin": (5.0, _seconds(0.5, 120), "seconds added to a job's drain time"),
        "max_attempts": (
            2,
            _int(1, 5, "1-5"),
            "prints of one job at most (the second marked DUPLICATE) before it waits for a "
            "person (needs attention)",
        ),
        "cli_wait": (
            10.0,
            _seconds(0, 300),
            "seconds a command line waits for the printer to be ready when no kiosk prints",
        ),
    },
    "indicators": {
        "backend": ("mock", _choice("gpio", "mock", "none"), "gpio, mock or none"),
        "led_pins": (
            [5, 6, 13, 19],
            _int_list(4, 4, 0, 27, "four BCM pin numbers (0-27)"),
            "BCM pins of the four status LEDs",
        ),
        "buzzer_pin": (12, _int(0, 27, "a BCM pin number (0-27)"), "BCM pin of the buzzer (PWM)"),
        "button_pin": (
            -1,
            _int(-1, 27, "a BCM pin number (0-27) or -1 for none"),
            "optional button, -1 for none",
        ),
    },
    "locale": {
        "language": ("zh_CN", _choice("zh_CN", "en"), "screen language"),
        "receipt_language": ("bilingual", _choice("zh_CN", "en", "bilingual"), "stub language"),
        "timezone": (
            "Asia/Shanghai",
            _str(r"[\w/+-]+", "an IANA time zone name"),
            "the one clock: screen, lists, stubs and settlement (install-pi.sh sets the system zone)",
        ),
    },
    "qr": {
        "gateway": (
            "",
            _str(
                r"|https?://[^\s/]+(:\d{1,5})?(/[^\s]*)?", "an http(s)://HOST[:PORT] URL or empty"
            ),
            "QR gateway (WeChat Pay, Alipay, UnionPay QR) URL; empty = QR payments off",
        ),
        "query_interval": (
            5.0,
            _seconds(0.01, 5),
            "seconds between queries while the customer confirms (the wallets say 3-5)",
        ),
        "query_limit": (
            60.0,
            _seconds(0.05, 120),
            "seconds of querying before the order is cancelled (the wallets say about 60)",
        ),
        "timeout": (10.0, _seconds(0.05, 60), "seconds to wait for one answer from the gateway"),
        "connect_timeout": (3.0, _seconds(0.05, 30), "seconds to wait for a connection"),
        "show_expiry": (
            120.0,
            _seconds(0.1, 900),
            "seconds a merchant-presented code stays valid before the order is cancelled",
        ),
    },
    "receipts": {
        "customer_copy": ("ask", _choice("ask", "always", "never"), "print the customer copy"),
        "retention_days": (540, _int(1, 3650, "days (1-3650)"), "keep stub data this long"),
        "print_after_forward": (
            True,
            _bool,
            "print the final stub when a stored payment is forwarded",
        ),
        "decline_stub": (
            False,
            _bool,
            "print a merchant stub for declined payments (off: shown on screen, kept in the "
            "journal)",
        ),
    },
    "settlement": {
        "time": (
            "23:30",
            _str(r"([01]\d|2[0-3]):[0-5]\d", "a time HH:MM"),
            "daily settlement time (local), used by settle --if-due",
        ),
        "fees_bp": (
            {"VISA": 60, "MASTERCARD": 60, "UNIONPAY": 38},
            _rates,
            "merchant discount rate per scheme in basis points (60 = 0.60 %)",
        ),
    },
    "ui": {
        "resolution": ("800x480", _choice("800x480", "1024x600", "720x720"), "screen size"),
        "fullscreen": (False, _bool, "fullscreen (true on the device)"),
        "demo_panel": (False, _bool, "show the demo side panel (test cards, link, paper)"),
        "result_seconds": (
            8,
            _int(0, 120, "a number of seconds (0-120)"),
            "seconds a result stays before the amount screen returns (0 = until tapped)",
        ),
        "menu_idle_s": (
            60,
            _int(10, 900, "a number of seconds (10-900)"),
            "the supervisor menu closes after this many idle seconds",
        ),
        "signout_idle_s": (
            600,
            _int(0, 86400, "a number of seconds (0-86400)"),
            "the operator is signed out after this many idle seconds (0 = never)",
        ),
    },
    "fleet": {
        "broker": (
            "",
            _str(r"|mqtts?://[^/\s:]+(:\d{1,5})?", "mqtt://HOST[:PORT] or mqtts://HOST[:PORT]"),
            "back-office MQTT broker; empty = fleet reporting off",
        ),
        "client_id": (
            "",
            _str(r"|[A-Za-z0-9_.-]{1,64}", "1-64 of A-Z a-z 0-9 _ . -"),
            "MQTT client id; empty = the TID",
        ),
        "topic_prefix": (
            "countertop/v1",
            _str(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", "a topic prefix like countertop/v1"),
            "topics are PREFIX/MID/TID/...",
        ),
        "username": ("", _str(None, "text"), "broker user name; empty = none"),
        "password_file": (
            "",
            _str(None, "a file path"),
            "broker password (systemd credential fleet-password wins)",
        ),
        "ca_file": ("", _str(None, "a file path"), "CA bundle for mqtts; empty = system CAs"),
        "office_public_key": (
            "",
            _str(r"|[0-9A-Fa-f]{64}", "64 hex digits (an Ed25519 public key)"),
            "back office's parameter-signing key (countertop office keygen prints it)",
        ),
        "heartbeat_seconds": (60, _int(5, 3600, "seconds (5-3600)"), "status every N seconds"),
        "poll_seconds": (
            0.5,
            _seconds(0.01, 10),
            "how often the agent looks for new journal events",
        ),
    },
    "state": {
        "dir": (
            "/var/lib/countertop",
            _str(None, "a directory path"),
            "journal, print queue and secrets live here",
        ),
        "reserve_kib": (
            1024,
            _int(0, 1_048_576, "a size in KiB (0-1048576)"),
            "free space (KiB) kept for recording payments in flight: below it new payments "
            "are refused before anything is sent (0 = no reserve; see docs/storage.md)",
        ),
        "warn_kib": (
            16384,
            _int(0, 1_048_576, "a size in KiB (0-1048576)"),
            "below this much free space (KiB) status and the status screen warn",
        ),
    },
}


@dataclass(frozen=True)
class Section:
    """One validated config section; values are attributes."""

    # Underscored so that no config key ("name", "values") can be shadowed by a field.
    _name: str
    _values: dict[str, Any]

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"{self._name}.{key}") from None

    @property
    def values(self) -> dict[str, Any]:
        """All keys of the section."""
        return self._values


@dataclass(frozen=True)
class Config:
    """A validated terminal config. Sections are attributes: ``cfg.host.port``."""

    path: Path
    sections: dict[str, Section] = field(repr=False)

    def __getattr__(self, name: str) -> Section:
        try:
            return self.sections[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def state_dir(self) -> Path:
        """Absolute state directory."""
        return self.resolve(self.sections["state"].dir)

    @property
    def journal_path(self) -> Path:
        """The journal database file."""
        return self.state_dir / "journal.db"

    @property
    def currency(self) -> Currency:
        """The merchant's currency."""
        return CURRENCIES[self.sections["merchant"].currency]

    def resolve(self, p: str) -> Path:
        """A path from the file, relative to the file's directory."""
        path = Path(p).expanduser()
        return path if path.is_absolute() else (self.path.parent / path).resolve()

    def secret(self, credential: str, key: str) -> bytes:
        """Read a secret: systemd credential ``credential`` if present, else ``keys.<key>``."""
        cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
        candidates = [Path(cred_dir) / credential] if cred_dir else []
        candidates.append(self.resolve(self.sections["keys"].values[key]))
        for p in candidates:
            if p.is_file():
                data = p.read_bytes()
                if data.strip() == b"unprovisioned":  # the unit's SetCredential= fallback
                    raise ConfigError(
                        f"{self.path}: keys.{key}: this terminal is not provisioned yet: run "
                        f"countertop provision (technician)"
                    )
                return data
        raise ConfigError(
            f"{self.path}: keys.{key}: secret file {candidates[-1]} not found: provision the "
            f"terminal (countertop provision) or create it with countertop config init"
        )

    def with_values(self, values: dict[str, Any]) -> Config:
        """A copy with ``"section.key"`` → value replaced (already checked by the caller)."""
        sections = {name: Section(name, dict(sec.values)) for name, sec in self.sections.items()}
        for dotted, value in values.items():
            name, _, key = dotted.partition(".")
            if name not in sections or key not in sections[name].values:
                raise ConfigError(f"{self.path}: {dotted}: unknown key")
            sections[name].values[key] = value
        return Config(path=self.path, sections=sections)

    def qr_key(self) -> str:
        """This terminal's QR signing key (text, at least 16 characters)."""
        raw = self.secret("qr-key", "qr_key_file").decode("utf-8", "replace").strip()
        if len(raw) < 16:
            raise ConfigError(
                f"{self.path}: keys.qr_key_file: the QR signing key is shorter than 16"
            )
        return raw

    def tmk(self) -> bytes:
        """The terminal master key (16 or 24 bytes), from hex."""
        raw = self.secret("tmk", "tmk_file").decode("ascii", "replace").strip()
        if not re.fullmatch(r"[0-9A-Fa-f]{32}|[0-9A-Fa-f]{48}", raw):
            raise ConfigError(f"{self.path}: keys.tmk_file: not 32 or 48 hex digits")
        return bytes.fromhex(raw)

    def data_key(self) -> bytes:
        """The AES-256 key for stored card data (32 bytes, raw or hex)."""
        raw = self.secret("data-key", "data_key_file")
        if len(raw.strip()) == 64:
            try:
                return bytes.fromhex(raw.strip().decode("ascii"))
            except ValueError:
                pass  # 64 bytes that are not hex: a raw key of the wrong length, checked below
        if len(raw) != 32:
            raise ConfigError(f"{self.path}: keys.data_key_file: not a 32-byte key")
        return raw


def _fmt(v: Any) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    return repr(v)


def validate(data: dict[str, Any], path: Path) -> Config:
    """Check every key of ``data`` against ``SCHEMA``; collect all problems into one ConfigError."""
    problems: list[str] = []
    sections: dict[str, Section] = {}
    for name in data:
        if name not in SCHEMA:
            problems.append(f"[{name}]: unknown section (expected one of: {', '.join(SCHEMA)})")
    for name, keys in SCHEMA.items():
        given = data.get(name, {})
        if not isinstance(given, dict):
            problems.append(f"{name}: must be a [{name}] table")
            given = {}
        values: dict[str, Any] = {}
        for key in given:
            if key not in keys:
                problems.append(f"{name}.{key}: unknown key (expected one of: {', '.join(keys)})")
        for key, (default, check, _comment) in keys.items():
            if key not in given:
                values[key] = default
                continue
            try:
                values[key] = check(given[key])
            except ValueError as exc:
                problems.append(f"{name}.{key}: {_fmt(given[key])} is not {exc}")
        sections[name] = Section(name, values)
    m = sections["merchant"].values
    if m["currency"] in CURRENCIES and CURRENCIES[m["currency"]].numeric != m["currency_numeric"]:
        problems.append(
            f'merchant.currency_numeric: "{m["currency_numeric"]}" does not match currency '
            f'{m["currency"]} (expected "{CURRENCIES[m["currency"]].numeric}")'
        )
    if sections["printer"].values["width_mm"] not in (58, 80):
        problems.append(
            f"printer.width_mm: {sections['printer'].values['width_mm']} is not 58 or 80"
        )
    sc = sections["scanner"].values
    if sc.get("backend") in ("evdev", "serial") and not sc.get("device"):
        example = "/dev/input/by-id/usb-…-event-kbd" if sc["backend"] == "evdev" else "/dev/ttyACM0"
        problems.append(
            f'scanner.device: "" is not a device path: backend "{sc["backend"]}" needs one '
            f"(e.g. {example})"
        )
    st = sections["state"].values
    if st["warn_kib"] < st["reserve_kib"]:
        problems.append(
            f"state.warn_kib: {st['warn_kib']} is below state.reserve_kib ({st['reserve_kib']}): "
            f"the warning must come before payments are refused"
        )
    f = sections["fleet"].values
    if f["broker"] and not f["office_public_key"]:
        problems.append(
            "fleet.office_public_key: a fleet broker is set but no back-office public key: "
            "parameter changes could not be verified (countertop office keygen prints it)"
        )
    if f["broker"]:
        port = f["broker"].rpartition(":")[2]
        if port.isdigit() and not 1 <= int(port) <= 65535:
            problems.append(f'fleet.broker: "{f["broker"]}" has a port outside 1-65535')
    if problems:
        raise ConfigError(f"{path}: " + f"\n{path}: ".join(problems))
    return Config(path=path.resolve(), sections=sections)


def check_value(dotted: str, value: Any) -> Any:
    """``value`` converted by the config's rule for ``"section.key"``; ValueError(expected)."""
    name, _, key = dotted.partition(".")
    try:
        _default, check, _comment = SCHEMA[name][key]
    except KeyError:
        raise ValueError(f"a known key (no {dotted})") from None
    return check(value)


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the config is: ``explicit``, else ``$COUNTERTOP_CONFIG``, else the system default."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("COUNTERTOP_CONFIG")
    return Path(env) if env else DEFAULT_PATH


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Load and validate the config; every problem raises ConfigError naming file and key."""
    path = config_path(explicit)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found: create one with "
            f"`countertop config init --out {path}` (or pass --config PATH)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return validate(data, path)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return repr(v)


def template(overrides: dict[str, dict[str, Any]] | None = None) -> str:
    """The commented config template; ``overrides`` replaces defaults (used by ``--demo``)."""
    overrides = overrides or {}
    lines = [
        "# countertop terminal configuration.",
        "# Every key is shown with its default. Unknown keys are errors.",
        "# Amounts are whole numbers in minor units (cents/分): 50000 = 500.00.",
    ]
    for name, keys in SCHEMA.items():
        lines += ["", f"[{name}]"]
        for key, (default, _check, comment) in keys.items():
            value = overrides.get(name, {}).get(key, default)
            lines.append(f"# {comment}")
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"
