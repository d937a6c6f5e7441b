"""The one adapter between the screens and the terminal services.

Every service call runs on one worker thread (the terminal's reader, printer and journal then
have a single caller); results, errors and progress come back to the UI thread as pygame events
of ``Backend.event_type`` (``pygame.event.post`` is thread-safe) and are dispatched there to the
callbacks the screen gave. The UI thread never waits for I/O.

Backend methods the services may not offer (settlement, X report, reconciliation, echo) are
looked up by name; ``has(name)`` tells a screen whether to offer the action or show that it is
not available in this version.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import pygame

from appliance.errors import CountertopError, PrinterError

Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]
Report = Callable[[Any], None]

_EVENT_TYPE: list[int] = []


def backend_event_type() -> int:
    """The pygame event type the worker posts (registered once per process, on first use)."""
    if not _EVENT_TYPE:
        _EVENT_TYPE.append(pygame.event.custom_type())
    return _EVENT_TYPE[0]


class Authenticator(Protocol):
    """What the sign-in screen needs of the operator store."""

    def authenticate(self, number: str, password: str) -> Any:
        """The operator (``.number``, ``.name``, ``.role``); raise on a wrong number/password."""
        ...


@dataclass
class _Job:
    id: int
    fn: Callable[[Report], Any]
    done: Done | None
    failed: Failed | None
    report: Report | None


class Backend:
    """Runs terminal calls off the UI thread and hands results back as events."""

    def __init__(self, terminal: Any, operators: Authenticator | None = None) -> None:
        self.terminal = terminal
        self.operators = operators
        self.event_type = backend_event_type()
        self._jobs: dict[int, _Job] = {}
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        self.in_flight = 0
        self.indicator_state = "off"
        if hasattr(terminal, "indicators"):  # mirror the four LEDs on screen
            terminal.indicators = IndicatorMirror(terminal.indicators, self._mirror)

    def _mirror(self, state: str) -> None:
        self.indicator_state = state
        pygame.event.post(pygame.event.Event(self.event_type, job=0, kind="leds", value=state))

    # -- plumbing --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread (and the print queue's, which owns the printer)."""
        receipts = getattr(self.terminal, "receipts", None)
        if receipts is not None and hasattr(receipts, "start"):
            receipts.start()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="ui-backend", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the worker after the job in hand (queued jobs are dropped) and the print queue."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None
        receipts = getattr(self.terminal, "receipts", None)
        if receipts is not None and hasattr(receipts, "stop"):
            receipts.stop()

    def submit(
        self,
        fn: Callable[[Report], Any],
        done: Done | None = None,
        failed: Failed | None = None,
        report: Report | None = None,
    ) -> int:
        """Queue ``fn(report)`` for the worker; callbacks run later on the UI thread."""
        job = _Job(next(self._ids), fn, done, failed, report)
        self._jobs[job.id] = job
        self.in_flight += 1
        self._queue.put(job)
        return job.id

    def _post(self, job_id: int, kind: str, value: Any) -> None:
        pygame.event.post(pygame.event.Event(self.event_type, job=job_id, kind=kind, value=value))

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            job_id = job.id

            def report(value: Any, job_id: int = job_id) -> None:
                self._post(job_id, "report", value)

            try:
                value = job.fn(report)
            except Exception as exc:  # every failure goes back to the screen that asked
                self._post(job.id, "error", exc)
            else:
                self._post(job.id, "done", value)

    def dispatch(self, event: pygame.event.Event) -> None:
        """Run the callback an event of ``event_type`` names (UI thread only)."""
        if event.kind == "leds":
            return  # the app reads ``indicator_state``; the event only wakes the loop
        job = self._jobs.get(event.job)
        if job is None:
            return
        if event.kind == "report":
            if job.report:
                job.report(event.value)
            return
        del self._jobs[event.job]
        self.in_flight -= 1
        if event.kind == "done":
            if job.done:
                job.done(event.value)
        elif job.failed:
            job.failed(event.value)
        elif not isinstance(event.value, CountertopError):
            raise event.value  # a bug: surface it rather than swallow it

    # -- capabilities ------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        """True when the terminal offers the service ``name`` (e.g. "settle", "x_report")."""
        if name == "authenticate":
            return self.operators is not None
        if name in ("printer_test", "card_read_test"):
            return True
        return callable(getattr(self.terminal, name, None))

    @property
    def config(self) -> Any:
        """The terminal's config (merchant, locale, ui sections)."""
        return self.terminal.config

    # -- service calls -----------------------------------------------------------------------
    def call(
        self,
        name: str,
        *args: Any,
        done: Done | None = None,
        failed: Failed | None = None,
        **kwargs: Any,
    ) -> int:
        """Call ``terminal.<name>(*args, **kwargs)`` on the worker."""
        method = getattr(self.terminal, name)
        return self.submit(lambda _report: method(*args, **kwargs), done, failed)

    def authenticate(self, number: str, password: str, done: Done, failed: Failed) -> int:
        """Check an operator's number and password (password hashing is slow: worker)."""
        store = self.operators
        if store is None:
            raise CountertopError("no operator store configured")
        return self.submit(lambda _r: store.authenticate(number, password), done, failed)

    def card_flow(
        self,
        name: str,
        amount: int,
        cancel: threading.Event,
        on_step: Report,
        done: Done,
        failed: Failed,
        **kwargs: Any,
    ) -> int:
        """Run a card-reading service ("sale", "refund"); ``on_step`` gets its steps."""
        method = getattr(self.terminal, name)

        def run(report: Report) -> Any:
            return method(amount, cancel=cancel, on_step=report, **kwargs)

        return self.submit(run, done, failed, on_step)

    def send_owed(self, on_progress: Report, done: Done, failed: Failed) -> int:
        """Forward stored payments and deliver reversals, reporting ``(sent, total)``."""
        terminal = self.terminal

        def run(report: Report) -> Any:
            return terminal.send_owed(on_progress=lambda n, total, *_: report((n, total)))

        return self.submit(run, done, failed, on_progress)

    def with_progress(
        self, name: str, on_progress: Report, done: Done, failed: Failed, **kwargs: Any
    ) -> int:
        """Call a service that takes ``on_progress(n, total, ...)`` (settlement, batch upload)."""
        method = getattr(self.terminal, name)

        def run(report: Report) -> Any:
            return method(on_progress=lambda n, total, *_: report((n, total)), **kwargs)

        return self.submit(run, done, failed, on_progress)

    # -- printing -----------------------------------------------------------------------------
    @property
    def customer_copy(self) -> str:
        """ "ask", "always" or "never" (config ``receipts.customer_copy``)."""
        return str(self.config.receipts.customer_copy)

    def print_copy(
        self, txn: Any, copy: str, *, reprint: bool, done: Done | None, failed: Failed | None
    ) -> int:
        """Queue a stub of ``txn`` (the merchant stub of a payment is queued by the terminal)."""
        receipts = self.terminal.receipts

        def run(_r: Report) -> Any:
            if receipts is None:
                raise PrinterError("no receipt printer is configured")
            when = datetime.now(UTC) if reprint else None
            return receipts.transaction_stub(txn, copy, reprint_at=when)

        return self.submit(run, done, failed)

    def printer_test(self, done: Done, failed: Failed) -> int:
        """Queue the printer self-test page."""
        terminal = self.terminal

        def run(_r: Report) -> Any:
            from appliance import __version__
            from appliance.domain.receipts import build_self_test

            receipts = terminal.receipts
            if receipts is None:
                raise PrinterError("no receipt printer is configured")
            cfg = terminal.config
            doc = build_self_test(
                receipts.merchant,
                lang=cfg.locale.receipt_language,
                tz=cfg.locale.timezone,
                printed_at=datetime.now(UTC),
                version=__version__,
                printer=f"{cfg.printer.backend} {cfg.printer.width_mm} mm",
                columns=48 if cfg.printer.width_mm == 80 else 32,
            )
            receipts.document(doc, "self test")
            return terminal.printer.status().value if terminal.printer is not None else "queued"

        return self.submit(run, done, failed)

    def card_read_test(self, cancel: threading.Event, done: Done, failed: Failed) -> int:
        """Read one card without paying: scheme and masked PAN (never the full PAN)."""
        terminal = self.terminal

        def run(_r: Report) -> Any:
            from drivers.reader.base import ReadContext

            cur = terminal.config.currency
            card = terminal.reader.read_card(
                ReadContext(amount=0, currency_numeric=cur.numeric),
                timeout=float(terminal.config.reader.timeout),
                cancel=cancel,
            )
            return f"{card.scheme} {card.masked_pan}"

        return self.submit(run, done, failed)


class IndicatorMirror:
    """Wraps the terminal's LEDs/buzzer port and reports each state to the screen too."""

    def __init__(self, inner: Any, report: Callable[[str], None]) -> None:
        self.inner = inner
        self.report = report

    def show(self, state: Any) -> None:
        """Drive the real LEDs, then mirror the state on screen."""
        if self.inner is not None:
            self.inner.show(state)
        self.report(str(state))

    def close(self) -> None:
        """Release the real LEDs."""
        if self.inner is not None:
            self.inner.close()


def open_backend(cfg: Any, **overrides: Any) -> Backend:
    """The terminal from config (``bootstrap.build_terminal``) and its operator store."""
    from appliance.bootstrap import build_terminal
    from appliance.operators import OperatorStore

    terminal = build_terminal(cfg, **overrides)
    return Backend(terminal, OperatorStore(terminal.journal.conn))
