"""The one adapter between the screens and the terminal services.

Every service call runs on one worker thread (the terminal's reader, printer and journal then
have a single caller); results, errors and progress come back to the UI thread as pygame events
of ``Backend.event_type`` (``pygame.event.post`` is thread-safe) and are dispatched there to the
callbacks the screen gave. The UI thread never waits for I/O.

The services are the typed ``appliance.bootstrap.Services``: a screen calls a real method,
``backend.call(lambda s: s.settlement.open_totals(), done=…)``, run on the worker once the
services are built. Nothing is looked up by name.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import pygame

from appliance.errors import CountertopError, PrinterError

if TYPE_CHECKING:
    from appliance.bootstrap import Services

Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]
Report = Callable[[Any], None]

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class WithStatus:
    """A service's answer and the terminal's status read right after it on the worker: the
    screen showing the answer and the status bar's counts then agree (the bar's own refresh
    comes later and would show the counts from before)."""

    value: Any
    status: Any


@dataclass
class _Job:
    id: int
    fn: Callable[[Report], Any]
    done: Done | None
    failed: Failed | None
    report: Report | None
    background: bool = False


class Backend:
    """Runs terminal calls off the UI thread and hands results back as events.

    Give it built ``services`` (and operator store), or a ``build`` function returning both:
    then they are built by the worker as its first job (opening the journal and the devices
    is I/O too), so the first frame does not wait for it. Jobs submitted meanwhile queue
    behind the build; ``ready`` is set once it is done, ``start_error`` if it failed.
    """

    def __init__(
        self,
        services: Services | None = None,
        operators: Authenticator | None = None,
        *,
        config: Any = None,
        build: Callable[[], tuple[Services, Authenticator | None]] | None = None,
    ) -> None:
        if services is None and build is None:
            raise TypeError("Backend needs the services or a build function")
        self.services: Services | None = None
        self.operators: Authenticator | None = None
        self._config = config
        if config is None and services is not None:
            self._config = services.terminal.config
        self._build = build
        self.ready = threading.Event()
        self.start_error: BaseException | None = None
        self.on_start_failed: Callable[[BaseException], None] | None = None
        self.event_type = backend_event_type()
        self._jobs: dict[int, _Job] = {}
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._thread: threading.Thread | None = None
        # Devices that wait on a person (the scanner) get their own owner thread, so a scan
        # that waits a minute for the customer does not hold up the services' worker.
        self._owners: dict[str, tuple[queue.Queue[_Job | None], threading.Thread]] = {}
        self.in_flight = 0
        self.actions_in_flight = 0  # jobs an operator started (not status refreshes)
        self.indicator_state = "off"
        if services is not None:
            self._attach(services, operators)
        else:  # the first job, whenever the worker starts: everything else queues behind it
            self.submit(self._run_build, None, self._build_failed, background=True)

    @property
    def terminal(self) -> Any:
        """The terminal service (None until the services are built)."""
        return None if self.services is None else self.services.terminal

    def _attach(self, services: Services, operators: Authenticator | None) -> None:
        self.services, self.operators = services, operators
        terminal = services.terminal
        if self._config is None:
            self._config = terminal.config
        # mirror the four LEDs on screen
        terminal.indicators = IndicatorMirror(terminal.indicators, self._mirror)
        self.ready.set()

    def _run_build(self, _report: Report) -> Any:
        assert self._build is not None
        services, operators = self._build()
        self._attach(services, operators)
        self._start_printing()
        return services

    def _build_failed(self, exc: BaseException) -> None:
        self.start_error = exc
        if self.on_start_failed is not None:
            self.on_start_failed(exc)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the terminal is built (demo and tests only: never from the UI loop)."""
        if not self.ready.wait(timeout):
            raise TimeoutError(f"the terminal was not built within {timeout} s")

    def _mirror(self, state: str) -> None:
        self.indicator_state = state
        self._post(0, "leds", state)

    # -- plumbing --------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread (building the terminal first if it was given a ``build``)
        and the print queue's thread, which owns the printer."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="ui-backend", daemon=True)
            self._thread.start()
        if self.ready.is_set():
            self._start_printing()

    def _start_printing(self) -> None:
        receipts = getattr(self.terminal, "receipts", None)
        if receipts is not None and hasattr(receipts, "start"):
            receipts.start()

    def close(self) -> None:
        """Stop the worker after the job in hand (queued jobs are dropped) and the print queue."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None
        for jobs, thread in self._owners.values():
            jobs.put(None)
            thread.join(timeout=5)
        self._owners.clear()
        receipts = getattr(self.terminal, "receipts", None)
        if receipts is not None and hasattr(receipts, "stop"):
            receipts.stop()

    def submit(
        self,
        fn: Callable[[Report], Any],
        done: Done | None = None,
        failed: Failed | None = None,
        report: Report | None = None,
        *,
        background: bool = False,
    ) -> int:
        """Queue ``fn(report)`` for the worker; callbacks run later on the UI thread.

        A job that is not ``background`` is an operator's action: while one is in flight
        the app takes no other tap but Cancel (``actions_in_flight``).
        """
        job = _Job(next(self._ids), fn, done, failed, report, background)
        self._jobs[job.id] = job
        self.in_flight += 1
        if not background:
            self.actions_in_flight += 1
        self._queue.put(job)
        return job.id

    def submit_to(
        self,
        owner: str,
        fn: Callable[[Report], Any],
        done: Done | None = None,
        failed: Failed | None = None,
        report: Report | None = None,
    ) -> int:
        """Queue ``fn(report)`` on the device thread ``owner`` (e.g. "scanner"), not the worker.

        Each owner has one thread for the life of the backend, so its device has one caller;
        results come back as events exactly as for ``submit``.
        """
        if owner not in self._owners:
            jobs: queue.Queue[_Job | None] = queue.Queue()
            thread = threading.Thread(
                target=self._work, args=(jobs,), name=f"ui-{owner}", daemon=True
            )
            self._owners[owner] = (jobs, thread)
            thread.start()
        job = _Job(next(self._ids), fn, done, failed, report)
        self._jobs[job.id] = job
        self.in_flight += 1
        self.actions_in_flight += 1  # an operator's scan: only Cancel until it answers
        self._owners[owner][0].put(job)
        return job.id

    def _post(self, job_id: int, kind: str, value: Any) -> None:
        try:
            pygame.event.post(
                pygame.event.Event(self.event_type, job=job_id, kind=kind, value=value)
            )
        except pygame.error as exc:
            # The display is gone (the UI is closing): nobody is left to tell. The job itself
            # has finished and its result is in the journal; the worker must carry on.
            log.debug("result of job %s not delivered: %s", job_id, exc)

    def _work(self, jobs: queue.Queue[_Job | None] | None = None) -> None:
        source = self._queue if jobs is None else jobs
        while True:
            job = source.get()
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
        if not job.background:
            self.actions_in_flight -= 1
        if event.kind == "done":
            if job.done:
                job.done(event.value)
        elif job.failed:
            job.failed(event.value)
        else:
            # No screen asked to hear about it: log it (with the traceback when it is a bug).
            exc = event.value
            bug = not isinstance(exc, CountertopError)
            log.log(
                logging.ERROR if bug else logging.WARNING,
                "background job failed: %s",
                exc,
                exc_info=exc if bug else None,
            )

    @property
    def config(self) -> Any:
        """The terminal's config (merchant, locale, ui sections)."""
        return self._config

    # -- service calls -----------------------------------------------------------------------
    def call(
        self,
        fn: Callable[[Services], Any],
        *,
        done: Done | None = None,
        failed: Failed | None = None,
        background: bool = False,
    ) -> int:
        """Run ``fn(services)`` on the worker, e.g. ``lambda s: s.terminal.status()``."""

        def run(_report: Report) -> Any:
            return fn(self._services())

        return self.submit(run, done, failed, background=background)

    # -- the language, kept with the terminal state ------------------------------------------
    def save_language(self, language: str) -> int:
        """Remember the screen language in the journal's session state."""

        def run(_r: Report) -> Any:
            self.terminal.journal.session_set(ui_language=language)

        return self.submit(run, background=True)

    def saved_language(self, done: Done) -> int:
        """The screen language saved last time ("" when none)."""

        def run(_r: Report) -> Any:
            return self.terminal.journal.session_get("ui_language") or ""

        return self.submit(run, done, lambda _e: None, background=True)

    def _services(self) -> Services:
        if self.services is None:
            raise CountertopError(f"the terminal did not start: {self.start_error}")
        return self.services

    def authenticate(self, number: str, password: str, done: Done, failed: Failed) -> int:
        """Check an operator's number and password (password hashing is slow: worker)."""

        def run(_r: Report) -> Any:
            if self.operators is None:
                raise CountertopError("no operator list is configured on this terminal")
            return self.operators.authenticate(number, password)

        return self.submit(run, done, failed)

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
        """Run a card-reading service ("sale" or "refund"); ``on_step`` gets its steps."""

        def run(report: Report) -> Any:
            terminal = self._services().terminal
            flow = {"sale": terminal.sale, "refund": terminal.refund}[name]
            return flow(amount, cancel=cancel, on_step=report, **kwargs)

        return self.submit(run, done, failed, on_step)

    def send_owed(self, on_progress: Report, done: Done, failed: Failed) -> int:
        """Forward stored payments and deliver reversals, reporting ``(sent, total)``;
        ``done`` gets a ``WithStatus`` (the report and the status after it)."""

        def run(report: Report) -> Any:
            terminal = self._services().terminal
            owed = terminal.send_owed(on_progress=lambda n, total, *_: report((n, total)))
            return WithStatus(owed, terminal.status())

        return self.submit(run, done, failed, on_progress)

    def settle(self, on_progress: Report, done: Done, failed: Failed, *, approver: Any) -> int:
        """Settle (forwarding first, batch upload if needed), reporting ``(done, total,
        phase)``; ``approver`` is the supervisor, checked and recorded by the settlement.
        ``done`` gets a ``WithStatus`` (the settlement forwards stored payments first)."""

        def run(report: Report) -> Any:
            services = self._services()
            result = services.settlement.settle(
                approver=approver, on_progress=lambda phase, n, total: report((n, total, phase))
            )
            return WithStatus(result, services.terminal.status())

        return self.submit(run, done, failed, on_progress)

    # -- printing -----------------------------------------------------------------------------
    @property
    def customer_copy(self) -> str:
        """ "ask", "always" or "never" (config ``receipts.customer_copy``)."""
        return str(self.config.receipts.customer_copy)

    def print_copy(
        self,
        txn: Any,
        copy: str,
        *,
        reprint: bool,
        operator: str = "-",
        done: Done | None,
        failed: Failed | None,
    ) -> int:
        """Queue a stub of ``txn`` (the merchant stub of a payment is queued by the terminal).

        A reprint goes through ``appliance.services.reprint`` (marked REPRINT, audited with the
        operator); a first customer copy is the same kind of stub as the merchant's.
        """

        def run(_r: Report) -> Any:
            receipts = getattr(self.terminal, "receipts", None)
            if receipts is None:
                raise PrinterError("no receipt printer is configured")
            from appliance.domain.receipts import kind_for

            if reprint:
                from appliance.services.reprint import reprint as reprint_stubs

                reprint_stubs(receipts, [txn], copy=copy, operator=operator)
            else:
                receipts.transaction_stub(txn, copy, kind=kind_for(txn))
            # What the printer says now, so the screen tells the truth (printing, or waiting
            # for paper) rather than "sent".
            printer = self.terminal.printer
            return printer.status().value if printer is not None else "queued"

        return self.submit(run, done, failed)

    def last_printable(self, done: Done, failed: Failed) -> int:
        """The newest transaction that has a stub (for "reprint last")."""

        def run(_r: Report) -> Any:
            from appliance.services.reprint import select

            return select(self.terminal.journal, last=True)[0]

        return self.submit(run, done, failed)

    def retry_prints(self, operator: str, done: Done, failed: Failed) -> int:
        """Print the parked jobs (needs attention) once more, marked DUPLICATE; the operator
        asked for it on the status screen (audited)."""

        def run(_r: Report) -> Any:
            receipts = getattr(self.terminal, "receipts", None)
            if receipts is None:
                raise PrinterError("no receipt printer is configured")
            n = receipts.retry()
            self.terminal.journal.audit(operator or "-", "print_retry", f"all ({n})")
            return n

        return self.submit(run, done, failed)

    def printer_test(self, done: Done, failed: Failed) -> int:
        """Queue the printer self-test page."""

        def run(_r: Report) -> Any:
            terminal = self.terminal
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

        def run(_r: Report) -> Any:
            terminal = self.terminal
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


def open_backend(cfg: Any, *, deferred: bool = False, **overrides: Any) -> Backend:
    """The services from config (``bootstrap.build_services``) and the operator store.

    ``deferred``: the worker builds them as its first job (``countertop run``: the first frame
    is drawn while the journal and devices open).
    """

    def build() -> tuple[Services, Authenticator]:
        from appliance.bootstrap import build_services
        from appliance.operators import OperatorStore

        services = build_services(cfg, **overrides)
        terminal = services.terminal
        return services, OperatorStore(terminal.journal)

    if deferred:
        return Backend(config=cfg, build=build)
    return Backend(*build())
