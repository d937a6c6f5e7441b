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
    on the phone; ``seconds_left`` of the query loop), "querying" (no definite answer yet; the
    same loop), "cancelling" (closing the order), "show_code" (merchant-presented: ``content``
    is what the code carries), "countdown" (merchant-presented: ``seconds_left`` until the code
    expires).
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
    """The terminal's QR payment service (``terminal.qr``), or None in a build without one."""
    return getattr(backend.terminal, "qr", None)


def available(backend: Backend) -> bool:
    """True when the terminal offers QR payments (a gateway is configured)."""
    service = qr_service(backend)
    return service is not None and bool(getattr(service, "enabled", True))


def _countdown_step(report: Callable[[Any], None]) -> Callable[[float, Any], None]:
    """The service's ``on_countdown(seconds_left, order)`` as QrSteps.

    The query loop runs while the wallet says "user paying" (``WAIT_BUYER_PAY``) and also
    while the answer is unknown; the screen says which.
    """

    def countdown(seconds_left: float, order: Any) -> None:
        paying = str(getattr(order, "gateway_state", "") or "") == "WAIT_BUYER_PAY"
        step = "user_paying" if paying else "querying"
        report(QrStep(step, seconds_left=seconds_left, order=str(getattr(order, "order", ""))))

    return countdown


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
    """Customer-presented: charge ``code`` (a ``ScannedCode``) for ``amount``.

    ``terminal.qr.pay`` commits the order before the request, runs the query loop and owes
    the cancel; setting ``cancel`` ends the loop at once with a cancel.
    """

    def run(report: Callable[[Any], None]) -> Any:
        report(QrStep("sending"))
        return qr_service(backend).pay(
            amount,
            code.value,
            operator=operator,
            on_countdown=_countdown_step(report),
            cancel=cancel,
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
    """Merchant-presented: create the order's code, show it, wait for the customer to pay.

    ``terminal.qr.show`` polls until paid, ``[qr] show_expiry`` or ``cancel``, then closes
    the order with a cancel; its countdown is the code's remaining life.
    """

    def run(report: Callable[[Any], None]) -> Any:
        report(QrStep("sending"))

        def on_code(content: str, order: Any) -> None:
            report(QrStep("show_code", content=content, order=str(getattr(order, "order", ""))))

        def on_countdown(seconds_left: float, order: Any) -> None:
            report(QrStep("countdown", seconds_left=seconds_left))

        return qr_service(backend).show(
            amount,
            operator=operator,
            on_code=on_code,
            on_countdown=on_countdown,
            cancel=cancel,
        )

    return backend.submit(run, done, failed, on_step)


def refund_choices(backend: Backend, done: Done, failed: Failed) -> int:
    """Today's paid orders with something left to refund, newest first: ``[(order, left)]``."""
    return backend.submit(lambda _r: qr_service(backend).refundable_today(), done, failed)


def find_for_refund(backend: Backend, number: str, done: Done, failed: Failed) -> int:
    """The paid order a person typed the number (or the stub's last digits) of, with what is
    left to refund: ``(order, left)``; NotFound when no single order matches."""

    def run(_r: Callable[[Any], None]) -> Any:
        service = qr_service(backend)
        order = service.find_paid(number)
        return order, service.refundable(order.order)

    return backend.submit(run, done, failed)


def refund(
    backend: Backend, order_no: str, amount: int, approver: Any, done: Done, failed: Failed
) -> int:
    """Refund ``amount`` of the paid order on the services' worker; the service checks that
    ``approver`` is a supervisor and records them as the refund's operator."""
    return backend.submit(
        lambda _r: qr_service(backend).refund(order_no, amount, approver=approver), done, failed
    )
