"""The one place that builds the real or the mock object graph from config.

Backends are chosen by name; an unknown name is a ConfigError and nothing ever falls back
silently to a mock. Nothing here runs at import time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from appliance.cardvault import CardVault
from appliance.config import Config
from appliance.errors import JournalWriteError
from appliance.journal import Journal
from appliance.services.link_state import MonitoredLink
from appliance.services.reconcile import Reconciler
from appliance.services.settlement import Settlement
from appliance.services.terminal import Terminal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """The use cases the entry points call, built once from config (``build_services``).

    Every service the touchscreen offers is here under its own type: nothing is looked up
    by name, and a service that fails to import fails the start, loudly.
    """

    terminal: Terminal  # sign-on, sale, void, refund, forwarding, status
    settlement: Settlement  # X report, settlement, Z slips
    reconciler: Reconciler  # acquirer statements

    @property
    def config(self) -> Config:
        """The configuration the services were built from."""
        return self.terminal.config


def services_for(terminal: Terminal) -> Services:
    """The services over an already built ``terminal``."""
    return Services(terminal, Settlement(terminal), Reconciler(terminal))


def build_services(cfg: Config, *, recover: bool = True, **overrides: Any) -> Services:
    """Every service with every port from config (``build_terminal`` for ``overrides``)."""
    return services_for(build_terminal(cfg, recover=recover, **overrides))


def open_journal(cfg: Config) -> Journal:
    """The journal of this terminal, in the configured time zone."""
    return Journal.open(cfg.journal_path, tz=cfg.locale.timezone)


def build_link(cfg: Config) -> Any:
    """The acquirer link for the configured host and dialect."""
    from appliance.host.dialects import get_dialect
    from appliance.host.link import HostLink

    h = cfg.host
    return HostLink(
        h.address,
        h.port,
        get_dialect(h.dialect),
        connect_timeout=h.connect_timeout,
        response_timeout=h.response_timeout,
        tls=h.tls,
        ca_file=cfg.resolve(h.ca_file) if h.ca_file else None,
    )


def build_reader(cfg: Config) -> Any:
    """The configured card reader."""
    from drivers.reader import make_reader

    r = cfg.reader
    return make_reader(r.backend, device=r.device, mock_card=r.mock_card or None)


def build_scanner(cfg: Config) -> Any:
    """The configured barcode / QR scanner (customer-presented payment codes)."""
    from drivers.scanner import make_scanner

    s = cfg.scanner
    return make_scanner(
        s.backend, device=s.device, baudrate=s.baudrate, mock_code=s.mock_code or None
    )


def printer_profile(cfg: Config) -> Any:
    """The printer profile from the [printer] section."""
    from drivers.printer.base import PrinterProfile

    p = cfg.printer
    wide = p.width_mm == 80
    return PrinterProfile(
        columns=48 if wide else 32,
        width_mm=80 if wide else 58,
        dots=576 if wide else 384,
        chinese=p.chinese,
        cutter=p.cutter,
        drawer=p.drawer,
    )


def build_printer(cfg: Config) -> Any:
    """The configured receipt printer."""
    from drivers.printer import make_printer

    p = cfg.printer
    return make_printer(
        p.backend,
        profile=printer_profile(cfg),
        usb_vendor=p.usb_vendor,
        usb_product=p.usb_product,
        serial_device=p.serial_device,
        baudrate=p.baudrate,
        host=p.host,
        port=p.port,
        path=p.path,
        rate=float(p.drain_rate),
        margin=p.drain_margin,
    )


def build_indicators(cfg: Config) -> Any:
    """The configured LEDs and buzzer."""
    from drivers.indicators import make_indicators

    i = cfg.indicators
    return make_indicators(
        i.backend,
        led_pins=i.led_pins,
        buzzer_pin=i.buzzer_pin,
        button_pin=None if i.button_pin < 0 else i.button_pin,
    )


def build_terminal(cfg: Config, *, recover: bool = True, **overrides: Any) -> Terminal:
    """The terminal with every port from config; ``overrides`` replaces ports (tests, demo).

    With ``recover`` (the default), PENDING rows left by a crash get their reversals queued.
    """
    from appliance.host.keys import unwrap_working_keys

    journal = overrides.pop("journal", None) or open_journal(cfg)
    # Parameters pushed by the back office (signed, journaled) apply on top of the file.
    from appliance.fleet import effective_config

    cfg = effective_config(cfg, journal)
    # One wrapper around the host link keeps the link state for every caller.
    link = MonitoredLink(overrides.pop("link", None) or build_link(cfg), clock=journal.clock)
    reader = overrides.pop("reader", None) or build_reader(cfg)
    printer = overrides.pop("printer", None) or build_printer(cfg)
    indicators = overrides.pop("indicators", None) or build_indicators(cfg)
    scanner = overrides.pop("scanner", None) or build_scanner(cfg)
    receipts = overrides.pop("receipts", None)
    if receipts is None:
        receipts = build_receipts(cfg, journal, printer)
    terminal = Terminal(
        cfg,
        journal,
        link,
        reader,
        indicators,
        CardVault(cfg.data_key()),
        tmk=cfg.tmk(),
        receipts=receipts,
        printer=printer,
        unwrap_keys=unwrap_working_keys,
        scanner=scanner,
    )
    qr_gateway = overrides.pop("qr_gateway", None)
    if overrides:
        raise TypeError(f"unknown ports: {', '.join(overrides)}")
    terminal.qr = build_qr(cfg, terminal, gateway=qr_gateway)
    if recover:
        try:
            for txn in terminal.recover():
                log.warning("transaction %s was in doubt at start: reversal queued", txn.trace)
            for order in terminal.qr.recover():
                owed = "refund" if order.kind.value == "refund" else "cancel"
                log.warning(
                    "QR %s %s was in doubt at start: %s owed", order.kind.value, order.order, owed
                )
        except JournalWriteError as exc:
            # A full disk must not stop the terminal from starting (status must still show
            # why): the PENDING rows stay in doubt and are reversed before the next payment.
            log.error("in-doubt payments could not be marked for reversal: %s", exc)
            terminal.in_doubt = True
    return terminal


def build_qr_gateway(cfg: Config) -> Any:
    """The QR gateway client from ``[qr]`` (None when QR payments are off)."""
    q = cfg.qr
    if not q.gateway:
        return None
    from appliance.host.qrlink import QrGatewayClient

    return QrGatewayClient(
        q.gateway,
        cfg.merchant.tid,
        cfg.merchant.mid,
        cfg.qr_key(),
        timeout=q.timeout,
        connect_timeout=q.connect_timeout,
    )


def build_qr(cfg: Config, terminal: Terminal, *, gateway: Any = None) -> Any:
    """The QR payments service sharing the terminal's journal, locks and print queue."""
    from appliance.services.qr import QrPayments

    return QrPayments(
        cfg,
        terminal.journal,
        gateway if gateway is not None else build_qr_gateway(cfg),
        receipts=terminal.receipts,
        busy=terminal._busy,
        oplock=terminal.oplock,
    )


def build_receipts(cfg: Config, journal: Journal, printer: Any) -> Any:
    """The print queue that turns journal rows into stubs."""
    from appliance.services.printing import PrintQueue

    return PrintQueue(cfg, journal, printer)
