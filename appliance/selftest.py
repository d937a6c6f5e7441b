"""The terminal self-test: every part checked, each OK or FAIL with the fix in one sentence.

Parts, in order: config (and its secrets), journal (writable, free disk), card reader, printer,
indicators (IDLE then OFF), barcode scanner (opened and grabbed; "not fitted" is fine), host (an echo, 0800), clock (sane year, and close to the host's
time when the echo answer carries it). Each part is built on its own, so one broken device does
not hide the state of the others. Nothing here prints a stub or changes a transaction.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.config import Config, load_config
from appliance.errors import ConfigError, CountertopError, NoResponse, NotSent

MIN_FREE_BYTES = 50 * 1024 * 1024
MIN_YEAR = 2024
MAX_SKEW_S = 300.0  # beyond this, transmission times and stubs are visibly wrong


@dataclass(frozen=True)
class PartResult:
    """One part of the self-test."""

    part: str
    ok: bool
    detail: str
    fix: str = ""  # one sentence; empty when OK

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**asdict(self), "status": "OK" if self.ok else "FAIL"}


def _ok(part: str, detail: str) -> PartResult:
    return PartResult(part, True, detail)


def _fail(part: str, detail: str, fix: str) -> PartResult:
    return PartResult(part, False, detail, fix)


def check_config_part(config: str | Path | None) -> tuple[Config | None, PartResult]:
    """Load the config and check its secrets."""
    from appliance.provision import check_config

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        return None, _fail(
            "config",
            str(exc),
            "Fix the named keys in the config file, then run the self-test again.",
        )
    problems = check_config(cfg)
    if problems:
        return cfg, _fail(
            "config",
            "; ".join(problems),
            "Run countertop config check and fix each problem it names (re-provision for keys).",
        )
    return cfg, _ok("config", f"{cfg.path} valid, keys readable")


def check_journal(cfg: Config, journal: Any, min_free: int = MIN_FREE_BYTES) -> PartResult:
    """The journal takes a write (the self-test's timestamp) and the disk has room."""
    try:
        journal.session_set(selftest_at=datetime.now(UTC).isoformat())
    except CountertopError as exc:
        return _fail(
            "journal",
            str(exc),
            f"Make {cfg.state_dir} writable by the terminal's user and free some disk space.",
        )
    free = shutil.disk_usage(cfg.state_dir).free
    if free < min_free:
        return _fail(
            "journal",
            f"only {free // (1024 * 1024)} MB free in {cfg.state_dir}",
            f"Free at least {min_free // (1024 * 1024)} MB on the state directory's disk "
            f"(old journal.db.replaced-* files and backups can go).",
        )
    return _ok("journal", f"writable, {free // (1024 * 1024)} MB free")


def check_reader(reader: Any) -> PartResult:
    """The reader answers its status query."""
    from drivers.reader.base import ReaderStatus

    status = reader.status()
    if status == ReaderStatus.READY:
        return _ok("reader", f"{status.value}")
    return _fail(
        "reader",
        f"{status.value}",
        "Check the reader's cable or UART and reader.device in the config, then power-cycle it.",
    )


PRINTER_FIX = {
    "paper_out": "Load a new paper roll and close the cover.",
    "cover_open": "Close the printer's paper cover.",
    "offline": "Check the printer's power and cable (and printer.backend in the config).",
}


def check_printer(printer: Any) -> PartResult:
    """The printer reports it can print."""
    status = printer.status()
    if status.can_print or status.value == "busy":  # busy: it is printing a job right now
        note = " (paper low: have a roll ready)" if status.value == "paper_low" else ""
        return _ok("printer", f"{status.value}{note}")
    return _fail("printer", status.value, PRINTER_FIX.get(status.value, PRINTER_FIX["offline"]))


SCANNER_FIX = (
    "Check the scanner's USB cable and [scanner] device (evdev: the -event-kbd name under "
    "/dev/input/by-id/, not grabbed by another program; serial: the port and baud rate)."
)


def check_scanner(scanner: Any) -> PartResult:
    """The scanner opens (an evdev scanner is grabbed); a terminal without one passes."""
    from drivers.scanner.base import ScannerStatus

    status = scanner.status()
    if status is ScannerStatus.READY:
        return _ok("scanner", f"ready ({getattr(scanner, 'label', 'scanner')})")
    if status is ScannerStatus.NOT_CONFIGURED:
        return _ok("scanner", "not fitted (customer codes off; the shop's code still works)")
    return _fail("scanner", f"{status.value} ({getattr(scanner, 'label', 'scanner')})", SCANNER_FIX)


def check_indicators(indicators: Any) -> PartResult:
    """The LEDs show IDLE then OFF without error."""
    from drivers.indicators.base import IndicatorState

    try:
        indicators.show(IndicatorState.IDLE)
        indicators.show(IndicatorState.OFF)
    except Exception as exc:  # a broken driver of any kind is what this part reports
        return _fail(
            "indicators",
            f"{type(exc).__name__}: {exc}",
            "Check the LED and buzzer wiring against indicators.led_pins and buzzer_pin.",
        )
    return _ok("indicators", "IDLE then OFF shown")


def check_host(terminal: Any) -> tuple[PartResult, Any]:
    """An echo test (0800) reaches the host and is answered."""
    start = time.perf_counter()
    try:
        resp = terminal.echo()
    except NotSent as exc:
        return _fail(
            "host",
            f"not reachable: {exc}",
            "Check the network cable or Wi-Fi and host.address/host.port in the config.",
        ), None
    except NoResponse as exc:
        return _fail(
            "host",
            f"no answer: {exc}",
            "The host took the connection but did not answer: call the acquirer's help desk.",
        ), None
    except CountertopError as exc:
        return _fail(
            "host",
            str(exc),
            "Check host.dialect and the TLS settings against the acquirer's instructions.",
        ), None
    ms = (time.perf_counter() - start) * 1000
    if not resp.approved:
        return _fail(
            "host",
            f"echo answered {resp.response_code}",
            "The host refused the echo: check merchant.mid and merchant.tid with the acquirer.",
        ), resp
    return _ok("host", f"echo answered 00 in {ms:.0f} ms"), resp


def check_clock(now: datetime, host_time: datetime | None) -> PartResult:
    """The clock is past 2024 and, when known, within five minutes of the host's."""
    fix = "Set the time (timedatectl set-ntp true, or fit an RTC) and check the time zone."
    if now.year < MIN_YEAR:
        return _fail("clock", f"the clock says {now:%Y-%m-%d %H:%M} UTC", fix)
    if host_time is None:
        return _ok("clock", f"{now:%Y-%m-%d %H:%M:%S} UTC (host sent no time to compare)")
    skew = (now - host_time).total_seconds()
    if abs(skew) > MAX_SKEW_S:
        return _fail("clock", f"{skew:+.0f} s from the host's time", fix)
    return _ok("clock", f"{skew:+.0f} s from the host's time")


def run_selftest(
    config: str | Path | None = None,
    *,
    cfg: Config | None = None,
    terminal: Any = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    min_free: int = MIN_FREE_BYTES,
) -> list[PartResult]:
    """Every part's result. ``terminal`` reuses a running terminal's ports (tests, the UI)."""
    from appliance import bootstrap

    results: list[PartResult] = []
    if cfg is None:
        cfg, res = check_config_part(config)
        results.append(res)
        if cfg is None:
            return results
    else:
        from appliance.provision import check_config

        problems = check_config(cfg)
        results.append(
            _fail(
                "config", "; ".join(problems), "Run countertop config check and fix each problem."
            )
            if problems
            else _ok("config", f"{cfg.path} valid, keys readable")
        )

    owned: list[Any] = []
    ports: dict[str, Any] = {}
    if terminal is not None:
        ports = {
            "journal": terminal.journal,
            "reader": terminal.reader,
            "printer": terminal.printer,
            "indicators": terminal.indicators,
            "scanner": getattr(terminal, "scanner", None),
        }
    try:
        for name, build, check, fix in (
            ("journal", bootstrap.open_journal, None, "Make the state directory writable."),
            ("reader", bootstrap.build_reader, check_reader, "Fix the [reader] section."),
            ("printer", bootstrap.build_printer, check_printer, "Fix the [printer] section."),
            (
                "indicators",
                bootstrap.build_indicators,
                check_indicators,
                'Fix the [indicators] section or set backend = "none".',
            ),
            (
                "scanner",
                bootstrap.build_scanner,
                check_scanner,
                'Fix the [scanner] section or set backend = "none".',
            ),
        ):
            port = ports.get(name)
            if port is None:
                try:
                    port = build(cfg)
                except CountertopError as exc:
                    results.append(_fail(name, str(exc), fix))
                    continue
                owned.append(port)
                ports[name] = port
            if name == "journal":
                results.append(check_journal(cfg, port, min_free))
            else:
                assert check is not None
                results.append(check(port))

        resp = None
        term = terminal
        if term is None and "journal" in ports:
            try:
                term = bootstrap.build_terminal(
                    cfg,
                    recover=False,  # a self-test must not queue reversals behind the app's back
                    journal=ports["journal"],
                    reader=ports.get("reader") or _Absent(),
                    printer=ports.get("printer") or _Absent(),
                    indicators=ports.get("indicators") or _Absent(),
                    scanner=ports.get("scanner") or _Absent(),
                )
                owned = [term]  # it closes every port it was given
            except CountertopError as exc:
                results.append(_fail("host", str(exc), "Fix the [host] and [keys] settings."))
        if term is not None:
            res, resp = check_host(term)
            results.append(res)
        results.append(check_clock(clock(), resp.host_time if resp is not None else None))
    finally:
        for port in reversed(owned):
            with contextlib.suppress(Exception):  # closing must not hide the results
                port.close()
    return results


class _Absent:
    """Stands in for a port that failed to build, so the host can still be tested."""

    def close(self) -> None:
        """Nothing to release."""
