"""HostLink over loopback against the reference acquirer: pipelining, faults, reconnects."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.errors import KeyCheckError, MacError, NoResponse, NotSent, ProtocolError
from appliance.host import keys
from appliance.host.dialects import get_dialect
from appliance.host.link import HostLink
from appliance.host.messages import CardFields, HostRequest, HostResponse, MessageKind
from appliance.sim.acquirer.server import ReferenceAcquirer

TID, MID = "10000001", "898310048160001"
TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
CARD = CardFields(pan="6212345678901232", expiry="2812")
_stans = itertools.count(100)
_clock = itertools.count()


def stamp() -> datetime:
    """A distinct whole-second transmission time per request (the idempotency key needs it)."""
    return datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC) + timedelta(seconds=next(_clock))


def sale(amount: int = 1000, *, stan: int | None = None, card: CardFields = CARD) -> HostRequest:
    """A sale request with a fresh STAN and transmission time."""
    return HostRequest(
        MessageKind.SALE,
        TID,
        MID,
        next(_stans) if stan is None else stan,
        stamp(),
        amount=amount,
        card=card,
        batch=1,
    )


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll an observable that has no event to wait on (the reader thread's counters)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


@pytest.fixture(params=["iso87", "cup"])
def dialect_name(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def acquirer(tmp_path: Path, dialect_name: str) -> Iterator[ReferenceAcquirer]:
    acq = ReferenceAcquirer(
        "127.0.0.1", 0, dialect_name, tmp_path / "acq.db", {TID: TMK}, {TID: MID}, control_port=0
    )
    acq.start()
    yield acq
    acq.stop()


def make_link(acq: ReferenceAcquirer, timeout: float = 2.0) -> HostLink:
    link = HostLink(
        "127.0.0.1", acq.port, acq.dialect, connect_timeout=1.0, response_timeout=timeout
    )
    link.set_signon_key(keys.signon_key(TMK))
    return link


def sign_on(link: HostLink) -> HostResponse:
    link.set_signon_key(keys.signon_key(TMK))
    resp = link.exchange(HostRequest(MessageKind.SIGN_ON, TID, MID, next(_stans), stamp()))
    assert resp.working_keys is not None
    _pik, mak = keys.unwrap_working_keys(TMK, resp.working_keys)
    link.set_mak(mak)
    return resp


@pytest.fixture
def link(acquirer: ReferenceAcquirer) -> Iterator[HostLink]:
    lk = make_link(acquirer)
    sign_on(lk)
    yield lk
    lk.close()


def test_a_sale_is_approved_with_rrn_and_auth_code(link: HostLink) -> None:
    resp = link.exchange(sale(1000))
    assert resp.approved and len(resp.rrn or "") == 12 and len(resp.auth_code or "") == 6


def test_sign_on_keys_verify_against_their_check_values(acquirer: ReferenceAcquirer) -> None:
    with make_link(acquirer) as lk:
        resp = sign_on(lk)
        wrong_tmk = keys.generate_key()
        with pytest.raises(KeyCheckError):
            keys.unwrap_working_keys(wrong_tmk, resp.working_keys)  # type: ignore[arg-type]


def test_eight_requests_outstanding_at_once_each_get_their_own_answer(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    acquirer.set_fault("latency", ms=800)  # keeps all eight in flight together
    reqs = [sale(1000 + i) for i in range(8)]
    futures = [link.submit(r) for r in reqs]
    assert link.outstanding == 8
    answers = [f.result(timeout=10) for f in futures]
    assert [a.stan for a in answers] == [r.stan for r in reqs]
    rows = {r["stan"]: r["amount"] for r in acquirer.ledger()}
    assert all(rows[r.stan] == r.amount for r in reqs)
    assert len({a.rrn for a in answers}) == 8


def test_refused_connection_is_not_sent(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nobody listens here
    lk = HostLink("127.0.0.1", port, get_dialect("iso87"), connect_timeout=1, response_timeout=1)
    with pytest.raises(NotSent):
        lk.exchange(HostRequest(MessageKind.ECHO, TID, MID, 1, stamp()))
    assert isinstance(lk.last_error, NotSent) and lk.stats().connect_failures == 1


def test_the_refuse_fault_gives_not_sent_and_nothing_reaches_the_host(
    acquirer: ReferenceAcquirer,
) -> None:
    with make_link(acquirer) as lk:
        sign_on(lk)
        acquirer.set_fault("refuse")
        # The host dropped our connection and listens no more. The link sees the close at
        # once, before its reader thread has read that far, and sends nothing on it.
        assert not lk.connected
        refused = sale()
        with pytest.raises(NotSent):
            lk.exchange(refused)
        acquirer.clear_faults()
        assert lk.exchange(sale()).approved
    assert not [r for r in acquirer.ledger() if r["stan"] == refused.stan]


def test_a_connection_the_host_closed_is_replaced_before_the_request_is_written(
    acquirer: ReferenceAcquirer,
) -> None:
    with make_link(acquirer) as lk:
        sign_on(lk)
        # The host closes the idle connection (a restart, an idle timeout) and listens again.
        acquirer.set_fault("refuse")
        acquirer.clear_faults()
        # Not sent into the closed connection (that would be in doubt, never answered): the
        # request goes on a new one and is answered.
        assert lk.exchange(sale()).approved
        stats = lk.stats()
        assert (stats.connects, stats.no_response, stats.consecutive_failures) == (2, 0, 0)


@pytest.mark.parametrize(
    ("fault", "params", "error"),
    [
        ("drop_request", {}, NoResponse),
        ("drop_response", {}, NoResponse),
        ("delay", {"seconds": 5}, NoResponse),
        ("reset", {}, NoResponse),
        ("garbage", {}, NoResponse),
        ("bad_mac", {}, MacError),
    ],
)
def test_each_fault_after_sending_is_no_response_and_the_link_recovers(
    acquirer: ReferenceAcquirer,
    link: HostLink,
    fault: str,
    params: dict[str, float],
    error: type[Exception],
) -> None:
    acquirer.set_fault(fault, count=1, **params)
    with pytest.raises(error) as info:
        link.exchange(sale(), timeout=0.5)
    assert not isinstance(info.value, NotSent)
    if fault == "garbage":
        assert isinstance(info.value.__cause__, ProtocolError)
    # The fault is spent: the next request goes through, on a new connection if needed.
    assert link.exchange(sale(), timeout=2).approved
    assert link.stats().consecutive_failures == 0 and link.last_error is None


def test_a_late_answer_is_dropped_not_given_to_another_request(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    acquirer.set_fault("delay", seconds=0.4, count=1)
    late = sale()
    with pytest.raises(NoResponse):
        link.exchange(late, timeout=0.1)
    assert link.exchange(sale()).approved
    assert wait_for(lambda: link.stats().unmatched == 1)


def test_a_repeat_after_a_lost_answer_gets_the_first_answer_and_one_charge(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    acquirer.set_fault("drop_response", count=1)
    req = sale(2500)
    with pytest.raises(NoResponse):
        link.exchange(req, timeout=0.5)
    again = link.exchange(req)
    assert again.approved
    rows = [r for r in acquirer.ledger() if r["stan"] == req.stan]
    assert len(rows) == 1 and rows[0]["rrn"] == again.rrn and rows[0]["amount"] == 2500


def test_closing_the_link_fails_outstanding_requests_with_no_response(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    acquirer.set_fault("drop_response")
    fut = link.submit(sale(), timeout=30)
    link.close()
    with pytest.raises(NoResponse):
        fut.result(timeout=5)


def test_a_wrong_mak_is_refused_by_the_host_and_its_answer_fails_the_mac(
    acquirer: ReferenceAcquirer, link: HostLink
) -> None:
    link.set_mak(keys.generate_key())
    req = sale()
    with pytest.raises(MacError):
        link.exchange(req)
    assert not [r for r in acquirer.ledger() if r["stan"] == req.stan]


def test_without_a_mak_a_financial_request_is_refused_before_sending(
    acquirer: ReferenceAcquirer,
) -> None:
    with make_link(acquirer) as lk, pytest.raises(KeyCheckError):
        lk.exchange(sale())
    assert acquirer.requests_seen == 0


def test_the_host_keeps_its_keys_across_a_restart(tmp_path: Path, dialect_name: str) -> None:
    acq = ReferenceAcquirer("127.0.0.1", 0, dialect_name, tmp_path / "acq.db", {TID: TMK})
    port = acq.start()
    lk = make_link(acq)
    sign_on(lk)
    first = lk.exchange(sale())
    acq.stop()
    with pytest.raises((NoResponse, NotSent)):
        lk.exchange(sale(), timeout=0.5)
    acq2 = ReferenceAcquirer("127.0.0.1", port, dialect_name, tmp_path / "acq.db", {TID: TMK})
    acq2.start()
    try:
        second = lk.exchange(sale())  # same MAK: the host still verifies and MACs with it
        assert second.approved and second.rrn != first.rrn
        assert len(acq2.ledger()) == 2
    finally:
        lk.close()
        acq2.stop()


def test_many_threads_share_one_link_safely(acquirer: ReferenceAcquirer, link: HostLink) -> None:
    results: list[HostResponse] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            r = link.exchange(sale())
            with lock:
                results.append(r)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 30 and all(r.approved for r in results)
    assert len({r.rrn for r in results}) == 30


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "host.pem", tmp_path / "host.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_link_works_with_the_hosts_ca_and_is_not_sent_without_it(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    acq = ReferenceAcquirer(
        "127.0.0.1", 0, "iso87", tmp_path / "acq.db", {TID: TMK}, tls_cert=cert, tls_key=key
    )
    port = acq.start()
    try:
        opts = {"connect_timeout": 2.0, "response_timeout": 2.0, "tls": True}
        with HostLink("localhost", port, acq.dialect, ca_file=str(cert), **opts) as lk:
            sign_on(lk)
            assert lk.exchange(sale()).approved
            acq.set_fault("garbage", count=1)
            with pytest.raises(NoResponse):
                lk.exchange(sale())
            assert lk.exchange(sale()).approved
        untrusted = HostLink("localhost", port, acq.dialect, **opts)  # system CAs only
        with pytest.raises(NotSent, match="TLS"):
            untrusted.exchange(HostRequest(MessageKind.ECHO, TID, MID, 1, stamp()))
    finally:
        acq.stop()
