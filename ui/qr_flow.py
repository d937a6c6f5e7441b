"""The QR payment calls the screens make, run off the UI thread.

The scanner is read on its own owner thread (``Backend.submit_to("scanner", …)``): a scan waits
up to ``[scanner] timeout`` seconds for the customer, which must not hold up the services'
worker. The payment itself (pay, the query loop while the customer confirms, cancel) runs on
the services' worker like a card sale, and reports its steps back as ``QrStep``.

This module is the one place that knows the QR service's shape; the screens only see
``QrStep`` and the outcome's fields (``result``, ``order``, ``trade_no``, ``state``,
``wallet``, ``payer``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ui.backend import Backend, Done, Failed


@dataclass(frozen=True)
class QrStep:
    """Where a QR payment is, as a screen shows it.

    ``step``: "sending" (the request is on its way), "user_paying" (the customer must confirm
    on the phone; ``seconds_left`` of the query loop), "cancelling" (closing the order),
    "show_code" (merchant-presented: ``content`` is what the code carries, ``seconds_left``
    until it expires).
    """

    step: str
    seconds_left: float | None = None
    content: str = ""
    order: str = ""


def scanner_of(backend: Backend) -> Any:
    """The terminal's scanner port (None before the terminal is built or without one)."""
    return getattr(backend.terminal, "scanner", None)


def scanner_status(backend: Backend, done: Done, failed: Failed | None = None) -> int | None:
    """Ask the scanner for its status on its own thread (the first ask opens and grabs it)."""
    scanner = scanner_of(backend)
    if scanner is None:
        return None
    return backend.submit_to("scanner", lambda _r: scanner.status().value, done, failed)


def scan(
    backend: Backend, timeout: float, cancel: threading.Event, done: Done, failed: Failed
) -> int:
    """Read one customer code (a ``ScannedCode``) on the scanner's thread."""

    def run(_r: Callable[[Any], None]) -> Any:
        scanner = scanner_of(backend)
        if scanner is None:
            from appliance.errors import ScannerOffline

            raise ScannerOffline("this terminal has no scanner")
        return scanner.read_code(timeout, cancel)

    return backend.submit_to("scanner", run, done, failed)


def qr_service(backend: Backend) -> Any:
    """The terminal's QR payment service, or None in a build without one."""
    return getattr(backend.terminal, "qr", None)


def available(backend: Backend) -> bool:
    """True when the terminal offers QR payments."""
    return qr_service(backend) is not None


def pay_with_code(
    backend: Backend,
    amount: int,
    code: Any,
    cancel: threading.Event,
    *,
    on_step: Callable[[QrStep], None],
    done: Done,
    failed: Failed,
    operator: str = "",
) -> int:
    """Customer-presented: charge ``code`` (a ``ScannedCode``) for ``amount``."""

    def run(report: Callable[[Any], None]) -> Any:
        report(QrStep("sending"))
        service = qr_service(backend)
        return service.pay(
            amount,
            code.value,
            operator=operator,
            cancel=cancel,
            on_progress=lambda p: report(_step(p)),
        )

    return backend.submit(run, done, failed, on_step)


def show_code(
    backend: Backend,
    amount: int,
    cancel: threading.Event,
    *,
    on_step: Callable[[QrStep], None],
    done: Done,
    failed: Failed,
    operator: str = "",
) -> int:
    """Merchant-presented: create the order's code, show it, wait for the customer to pay."""

    def run(report: Callable[[Any], None]) -> Any:
        report(QrStep("sending"))
        service = qr_service(backend)
        return service.present(
            amount,
            operator=operator,
            cancel=cancel,
            on_progress=lambda p: report(_step(p)),
        )

    return backend.submit(run, done, failed, on_step)


def _step(progress: Any) -> QrStep:
    """The service's progress report as a ``QrStep``."""
    if isinstance(progress, QrStep):
        return progress
    return QrStep(
        step=str(getattr(progress, "step", "sending")),
        seconds_left=getattr(progress, "seconds_left", None),
        content=str(getattr(progress, "content", "") or ""),
        order=str(getattr(progress, "order", "") or ""),
    )
