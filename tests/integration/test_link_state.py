"""One rule for the link state, kept by the one wrapper around the host link (MonitoredLink).

A valid answer → ONLINE; a request that never left (NotSent) → OFFLINE; a request that left
without a valid answer (NoResponse, MacError) → DEGRADED; a request that could not even be
built (ProtocolError, KeyCheckError) → unchanged. The same for every caller: the scripted
link below checks the rule itself, the shop (reference acquirer on loopback) checks that a
sale, forwarding, an echo and a settlement all go through it.
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

import pytest

from appliance.errors import HostError, KeyCheckError, MacError, NoResponse, NotSent, ProtocolError
from appliance.host.messages import HostRequest, HostResponse, MessageKind
from appliance.services.link_state import LinkState, MonitoredLink
from appliance.services.settlement import Settlement
from tests.shop import SUPERVISOR

T = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
REQ = HostRequest(MessageKind.ECHO, "10000001", "898310048160001", 1, T)
ANSWER = HostResponse(MessageKind.ECHO, "10000001", 1, "00")


class ScriptedLink:
    """A host link that fails (or answers) as the test says: at submit, or in the future."""

    def __init__(self, outcome: BaseException | None, *, in_future: bool) -> None:
        self.outcome, self.in_future = outcome, in_future

    def submit(self, req: HostRequest) -> Future[HostResponse]:
        if self.outcome is not None and not self.in_future:
            raise self.outcome
        fut: Future[HostResponse] = Future()
        if self.outcome is None:
            fut.set_result(ANSWER)
        else:
            fut.set_exception(self.outcome)
        return fut

    def exchange(self, req: HostRequest, timeout: float | None = None) -> HostResponse:
        return self.submit(req).result()

    def set_mak(self, mak: bytes | None) -> None: ...

    def set_signon_key(self, key: bytes | None) -> None: ...

    def close(self) -> None: ...


def _degraded_link() -> MonitoredLink:
    link = MonitoredLink(ScriptedLink(NoResponse("late"), in_future=True), clock=lambda: T)
    with pytest.raises(NoResponse):
        link.exchange(REQ)
    return link


RULE = [
    (None, False, LinkState.ONLINE),
    (NotSent("connection refused"), False, LinkState.OFFLINE),
    (NotSent("connection refused"), True, LinkState.OFFLINE),
    (NoResponse("no answer within 30 s"), True, LinkState.DEGRADED),
    (MacError("response MAC rejected"), True, LinkState.DEGRADED),
    (HostError("answer could not be read"), True, LinkState.DEGRADED),
    # Raised while encoding, before anything was sent: says nothing about the link.
    (ProtocolError("field 4 too long"), False, None),
    (KeyCheckError("MAK check value differs"), False, None),
]


@pytest.mark.parametrize("how", ["exchange", "submit", "submit_many"])
@pytest.mark.parametrize(("outcome", "in_future", "state"), RULE)
def test_the_link_state_follows_one_rule_for_every_way_of_sending(
    how: str, outcome: BaseException | None, in_future: bool, state: LinkState | None
) -> None:
    link = _degraded_link()
    link.inner = ScriptedLink(outcome, in_future=in_future)
    try:
        if how == "exchange":
            link.exchange(REQ)
        elif how == "submit":
            link.submit(REQ).result()
        else:
            link.submit_many([REQ])[0].result()
    except HostError as exc:
        assert exc is outcome
    else:
        assert outcome is None
    assert link.monitor.state == (state or LinkState.DEGRADED)
    if state == LinkState.ONLINE:
        assert link.monitor.last_ok == T and link.monitor.failures == 0
    elif state is not None:
        assert link.monitor.last_error == str(outcome)


def test_a_future_completes_only_after_the_state_is_updated() -> None:
    inner_fut: Future[HostResponse] = Future()

    class Later(ScriptedLink):
        def submit(self, req: HostRequest) -> Future[HostResponse]:
            return inner_fut

    link = MonitoredLink(Later(None, in_future=True), clock=lambda: T)
    fut = link.submit(REQ)
    assert not fut.done() and link.monitor.state == LinkState.OFFLINE
    inner_fut.set_result(ANSWER)
    assert fut.result() is ANSWER
    assert link.monitor.state == LinkState.ONLINE


def test_a_failed_pre_dial_is_offline() -> None:
    class NoDial(ScriptedLink):
        def reach(self) -> str:
            return "connection refused"

    link = MonitoredLink(NoDial(None, in_future=False), clock=lambda: T)
    link.monitor.ok(T)
    assert link.reach() == "connection refused"
    assert link.monitor.state == LinkState.OFFLINE


# ---- every caller goes through it (a shop: the reference acquirer on loopback) ------------


def _sale(shop: Any) -> None:
    shop.terminal.sale(1000)


def _echo(shop: Any) -> None:
    with pytest.raises(HostError):
        shop.terminal.echo()


def _forward(shop: Any) -> None:
    shop.terminal.send_owed()


def _settle(shop: Any) -> None:
    with pytest.raises(HostError):
        Settlement(shop.terminal).settle(approver=SUPERVISOR)


@pytest.mark.parametrize("dialect", ["iso87"])
@pytest.mark.parametrize("call", [_sale, _echo, _forward, _settle])
def test_a_host_that_cannot_be_reached_is_offline_whoever_asked(shop: Any, call: Any) -> None:
    assert shop.terminal.sale(500).result == "approved"
    if call is _forward:  # something owed to forward: a payment stored while offline
        shop.acquirer.set_fault("refuse")
        assert shop.terminal.sale(700).result == "stored"
        shop.terminal.monitor.ok(T)
    assert shop.terminal.status().link == "online"
    shop.acquirer.set_fault("refuse")
    call(shop)
    status = shop.terminal.status()
    assert status.link == LinkState.OFFLINE.value, status.link_error


@pytest.mark.parametrize("dialect", ["iso87"])
def test_a_settlement_the_host_does_not_answer_is_degraded(shop: Any) -> None:
    assert shop.terminal.sale(500).result == "approved"
    shop.acquirer.set_fault("drop_response", count=1)
    with pytest.raises(NoResponse):
        Settlement(shop.terminal).settle(approver=SUPERVISOR)
    assert shop.terminal.status().link == LinkState.DEGRADED.value
