"""The link worker: periodic echo tests (0800) and automatic forwarding when the link returns.

The link state itself (ONLINE | DEGRADED | OFFLINE) is derived by ``LinkMonitor`` from what
every exchange does: sales, forwarding and echoes alike. This worker keeps it fresh when the
terminal is idle, and acts on it:

- while the link is up, an echo every ``host.echo_interval`` seconds, skipped when other
  traffic proved the link since the last check or when the terminal is busy;
- while it is down (DEGRADED or OFFLINE), echoes with exponential back-off: ``base``, 2×, 4×,
  … up to ``cap`` (by default the echo interval), so the shop's link is not hammered but its
  return is noticed quickly;
- when the link comes back up, everything owed is forwarded at once (the retry back-off was
  set while the host was unreachable); while it stays up, what falls due is forwarded
  (``terminal.send_owed(due_only=True)``). Reversals go first, then stored payments;
- once nothing is owed and the link is up, a scheduled settlement that could not run (the
  link was down at ``settlement.time``, or it was cut mid-upload) is run (or resumed) under
  the same settlement lock the timer and the CLI take; the Z slip is queued when it closes;
- on every tick, owed QR cancels and refunds that are due go to the QR gateway (skipped while
  a payment is in progress).

``tick()`` is one step, synchronous, and returns the seconds until the next: tests drive it
with a fake clock. ``start()`` runs it in a daemon thread; ``stop()`` ends that thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from appliance.errors import CountertopError, HostError
from appliance.services.link_state import LinkState

log = logging.getLogger(__name__)


class LinkWorker:
    """Echoes when idle, backs off while offline, forwards owed messages when the link is up."""

    def __init__(
        self,
        terminal: Any,
        *,
        interval: float | None = None,
        base: float = 1.0,
        cap: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.terminal = terminal
        self.interval = float(interval or terminal.config.host.echo_interval)
        self.base = min(base, self.interval)
        self.cap = float(cap or self.interval)
        self.clock = clock
        self.checks = 0  # echoes sent
        self.forwards = 0  # forwarding runs started
        self.settlements = 0  # overdue settlements run (or resumed)
        self.qr_forwards = 0  # runs that sent owed QR cancels or refunds
        self.failures = 0  # consecutive failed checks (drives the back-off)
        self._last_ok_seen = terminal.monitor.last_ok
        self._last_check: float | None = None
        self._was_up = False
        self._failed_seen = terminal.monitor.failed_total
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._ticks = 0

    @property
    def state(self) -> LinkState:
        """The link state as the terminal's monitor derived it."""
        return LinkState(self.terminal.monitor.state)

    # ---- one step ------------------------------------------------------------------------

    def delay(self) -> float:
        """Seconds until the next check: the interval while up, the back-off while down."""
        if self.state == LinkState.ONLINE:
            return self.interval
        return min(self.cap, self.base * 2 ** max(0, self.failures - 1))

    def tick(self) -> float:
        """Check the link if due (echo when idle), forward what is owed if it is up; returns
        the seconds until the next tick."""
        now = self.clock()
        monitor = self.terminal.monitor
        # An outage since the last tick (seen by a sale or by forwarding) counts as down.
        was_up = self._was_up and monitor.failed_total == self._failed_seen
        if monitor.last_ok != self._last_ok_seen:
            # Other traffic got an answer since we last looked: that was a check too.
            self._last_ok_seen = monitor.last_ok
            self._last_check, self.failures = now, 0
        due = self._last_check is None or now - self._last_check >= self.delay() - 1e-9
        if due and self._echo():
            self._last_check = now
        if self.state == LinkState.ONLINE:
            # Back-off times were set while the host was unreachable: when it returns,
            # everything owed goes now; afterwards only what is due.
            self._forward(due_only=was_up)
            if self.state == LinkState.ONLINE and not self.terminal.journal.owed():
                self._settle_overdue()
        self._forward_qr()
        self._was_up = self.state == LinkState.ONLINE
        self._failed_seen = monitor.failed_total
        self._count_tick()
        if self._last_check is None:
            return self.delay()
        return max(0.0, self._last_check + self.delay() - self.clock())

    def _echo(self) -> bool:
        """One echo if the terminal is idle; False if it was busy (the check is not done)."""
        busy = getattr(self.terminal, "_busy", None)
        if busy is not None and not busy.acquire(blocking=False):
            return False
        try:
            self.checks += 1
            try:
                resp = self.terminal.echo()
            except HostError as exc:
                self.failures += 1
                log.info("echo test failed (%s): link %s", exc, self.state.value)
                return True
            if resp.approved:
                self.failures = 0
            else:
                self.failures += 1
                log.warning("echo test answered %s", resp.response_code)
            self._last_ok_seen = self.terminal.monitor.last_ok
            return True
        finally:
            if busy is not None:
                busy.release()

    def _forward(self, *, due_only: bool) -> None:
        journal = self.terminal.journal
        if not journal.owed(due_before=journal.clock() if due_only else None):
            return
        self.forwards += 1
        try:
            report = self.terminal.send_owed(due_only=due_only)
        except CountertopError as exc:
            log.warning("forwarding failed: %s", exc)
            return
        self._last_ok_seen = self.terminal.monitor.last_ok
        if report.acknowledged or report.errors:
            log.info(
                "forwarded: %d acknowledged, %d still owed%s",
                report.acknowledged,
                report.still_owed,
                f" ({report.errors[-1]})" if report.errors else "",
            )

    def _forward_qr(self) -> None:
        """Owed QR cancels and refunds that are due go to the QR gateway (its own link)."""
        qr = getattr(self.terminal, "qr", None)
        if qr is None or not qr.enabled:
            return
        try:
            report = qr.send_owed(due_only=True, blocking=False)
        except CountertopError as exc:
            log.warning("forwarding owed QR cancels failed: %s", exc)
            return
        if report.sent:
            self.qr_forwards += 1
            log.info(
                "QR: %d acknowledged, %d still owed%s",
                report.acknowledged,
                report.still_owed,
                f" ({report.errors[-1]})" if report.errors else "",
            )

    def _settle_overdue(self) -> None:
        from appliance.services.settlement import Settlement

        st = Settlement(self.terminal)
        if not st.overdue():
            return
        self.settlements += 1
        try:
            # wait=0: if the timer or the CLI is settling right now, it finishes the job.
            out = st.settle(operator="auto", wait=0)
        except CountertopError as exc:
            log.warning("overdue settlement did not complete: %s", exc)
            return
        self._last_ok_seen = self.terminal.monitor.last_ok
        rec = out.record
        log.info(
            "overdue settlement of batch %06d: %s",
            rec.batch,
            rec.result.value if rec.result else rec.state.value,
        )

    def _count_tick(self) -> None:
        with self._cond:
            self._ticks += 1
            self._cond.notify_all()

    # ---- the thread ----------------------------------------------------------------------

    def start(self) -> None:
        """Run ``tick()`` in a daemon thread until ``stop()``."""
        if self._thread is not None:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set():
                try:
                    wait = self.tick()
                except Exception:  # the worker must outlive any one failure
                    log.exception("link worker error")
                    wait = self.delay()
                self._stop.wait(wait)

        self._thread = threading.Thread(target=run, name="link-worker", daemon=True)
        self._thread.start()

    def wait_ticks(self, n: int, timeout: float = 10.0) -> bool:
        """Block until ``n`` ticks have run in total (for tests and the demo); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._ticks >= n, timeout)

    def stop(self) -> None:
        """Stop the thread (an echo or forwarding run in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


def check_link(terminal: Any) -> LinkState:
    """One echo now (for ``countertop status``): the link state it leaves, never raising."""
    try:
        terminal.echo()
    except CountertopError as exc:
        log.info("echo test failed: %s", exc)
    return LinkState(terminal.monitor.state)
