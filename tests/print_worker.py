"""A second process on the same journal and printer, for the print-once tests.

``python -m tests.print_worker CONFIG kiosk``: the kiosk's print worker (owns the printer),
prints READY, runs until stdin closes. ``… drain``: prints claimable jobs as fast as it can
until none is left (a process that bypasses ownership, to prove claims alone never print a job
twice), prints the count. ``… enqueue N``: queues N numbered documents, prints their ids.
"""

from __future__ import annotations

import sys

from appliance.bootstrap import build_printer
from appliance.config import load_config
from appliance.domain.receipts import Cut, Document, Text
from appliance.journal import Journal
from appliance.services.printing import PrintQueue


def numbered(n: int) -> Document:
    """A small slip that says which job it is."""
    return Document("test", "en", (Text(f"JOB-{n:03d}"), Text("x" * 30), Cut()))


def main(argv: list[str]) -> int:
    """Run one role (see the module docstring)."""
    cfg = load_config(argv[0])
    journal = Journal.open(cfg.journal_path)
    queue = PrintQueue(cfg, journal, build_printer(cfg))
    try:
        if argv[1] == "kiosk":
            queue.start()
            print("READY", flush=True)
            sys.stdin.read()
            queue.stop()
        elif argv[1] == "drain":
            printed = 0
            while journal.print_jobs.claimable():
                printed += queue.drain()
            print(printed, flush=True)
        elif argv[1] == "enqueue":
            for n in range(int(argv[2])):
                print(queue.document(numbered(n), f"job {n}"), flush=True)
    finally:
        queue.printer.close()
        journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
