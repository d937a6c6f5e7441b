"""Random faults on every request (seeded): every Future completes, and what the terminal was
told agrees with what the acquirer booked — approved means charged once, NotSent means never."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest

from appliance.errors import MacError, NoResponse, NotSent
from appliance.host.link import HostLink
from appliance.host.messages import HostRequest, HostResponse
from appliance.sim.acquirer.server import ReferenceAcquirer
from tests.integration.test_host_link import MID, TID, TMK, make_link, sale, sign_on

FAULTS = {
    "drop_request": 0.04,
    "drop_response": 0.04,
    "garbage": 0.02,
    "bad_mac": 0.05,
    "reset": 0.02,
    "delay": 0.02,
}


@pytest.fixture(params=["iso87", "cup"])
def acquirer(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ReferenceAcquirer]:
    acq = ReferenceAcquirer(
        "127.0.0.1", 0, request.param, tmp_path / "acq.db", {TID: TMK}, {TID: MID}
    )
    acq.start()
    yield acq
    acq.stop()


def test_under_random_faults_nothing_hangs_and_the_books_agree(
    acquirer: ReferenceAcquirer,
) -> None:
    link: HostLink = make_link(acquirer, timeout=0.25)
    sign_on(link)
    for i, (name, p) in enumerate(FAULTS.items()):
        params = {"seconds": 1.0} if name == "delay" else {}
        acquirer.set_fault(name, probability=p, seed=i, **params)
    sent: list[tuple[HostRequest, Future[HostResponse]]] = []
    window: list[Future[HostResponse]] = []
    for n in range(100):
        req = sale(1000 + n)
        fut = link.submit(req)
        sent.append((req, fut))
        window.append(fut)
        if len(window) == 8:
            window.pop(0).exception(timeout=10)  # wait, whatever the outcome
    for _req, fut in sent:
        fut.exception(timeout=10)  # every Future completes
    outcomes = {"approved": 0, "no_response": 0, "mac": 0, "not_sent": 0}
    acquirer.clear_faults()
    booked = {r["stan"]: r for r in acquirer.ledger()}
    for req, fut in sent:
        exc = fut.exception()
        row = booked.get(req.stan)
        if exc is None:
            resp = fut.result()
            outcomes["approved"] += resp.approved
            assert row is not None and row["rrn"] == resp.rrn and row["amount"] == req.amount
        elif isinstance(exc, MacError):
            outcomes["mac"] += 1
            assert row is not None  # the host acted; only its answer was damaged
        elif isinstance(exc, NotSent):
            outcomes["not_sent"] += 1
            assert row is None
        else:
            assert isinstance(exc, NoResponse), exc
            outcomes["no_response"] += 1
    assert len(booked) == len({r["rrn"] for r in booked.values()})  # nothing booked twice
    assert outcomes["approved"] > 60 and outcomes["no_response"] + outcomes["mac"] > 0
    # What was left in doubt gets the same answer when repeated: never a second charge.
    for req, fut in sent:
        if fut.exception() is not None and not isinstance(fut.exception(), NotSent):
            again = link.exchange(req, timeout=2)
            row = booked.get(req.stan)
            if row is not None:
                assert again.rrn == row["rrn"]
    assert len(acquirer.ledger()) == len(sent) - outcomes["not_sent"]
    link.close()
