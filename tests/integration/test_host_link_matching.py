"""An answer is matched on its exact MTI, TID, STAN and echoed field 7, nothing looser.

The host here is a bare socket that answers with frames the test chooses, so an answer can be
wrong in exactly one way.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from appliance.errors import NoResponse
from appliance.host.dialects import get_dialect
from appliance.host.dialects.base import Dialect
from appliance.host.link import HostLink
from appliance.host.messages import HostRequest, HostResponse, MessageKind
from tests.unit.test_host_codec import MAK, REQUESTS

Answer = Callable[[Dialect, HostRequest], list[bytes]]


@pytest.fixture(params=["iso87", "cup"])
def dialect(request: pytest.FixtureRequest) -> Dialect:
    return get_dialect(request.param)


def serve(dialect: Dialect, answer: Answer) -> tuple[int, socket.socket]:
    """A one-connection host: every request it reads is answered with ``answer``'s frames."""
    srv = socket.create_server(("127.0.0.1", 0))

    def run() -> None:
        conn, _ = srv.accept()
        with conn:
            while True:
                body = dialect.read_frame(conn.recv)
                if body is None:
                    return
                req = dialect.decode_request(body, lambda tid: MAK)
                for frame in answer(dialect, req):
                    conn.sendall(dialect.frame_response(frame))

    threading.Thread(target=run, daemon=True).start()
    return srv.getsockname()[1], srv


@pytest.fixture
def link_to() -> Iterator[Callable[[Dialect, Answer], HostLink]]:
    made: list[tuple[HostLink, socket.socket]] = []

    def make(dialect: Dialect, answer: Answer) -> HostLink:
        port, srv = serve(dialect, answer)
        link = HostLink("127.0.0.1", port, dialect, connect_timeout=1, response_timeout=1.0)
        link.set_mak(MAK)
        made.append((link, srv))
        return link

    yield make
    for link, srv in made:
        link.close()
        srv.close()


def approval(req: HostRequest) -> HostResponse:
    return HostResponse(req.kind, req.tid, req.stan, "00", rrn="632600000001", auth_code="111111")


def test_an_advice_answer_with_the_same_stan_does_not_answer_a_sale(
    dialect: Dialect, link_to: Callable[[Dialect, Answer], HostLink]
) -> None:
    def answer(d: Dialect, req: HostRequest) -> list[bytes]:
        as_advice = replace(req, kind=MessageKind.ADVICE)  # 0230, same TID and STAN
        return [d.encode_response(approval(as_advice), as_advice, MAK)]

    link = link_to(dialect, answer)
    with pytest.raises(NoResponse):
        link.exchange(REQUESTS[MessageKind.SALE])
    assert link.stats().unmatched == 1


def test_an_answer_echoing_another_field_7_is_not_the_answer(
    dialect: Dialect, link_to: Callable[[Dialect, Answer], HostLink]
) -> None:
    def answer(d: Dialect, req: HostRequest) -> list[bytes]:
        other = replace(req, transmitted_at=req.transmitted_at - timedelta(days=1))
        return [d.encode_response(approval(other), other, MAK), d.encode_response(
            approval(req), req, MAK
        )]  # fmt: skip

    link = link_to(dialect, answer)
    resp = link.exchange(REQUESTS[MessageKind.SALE])
    assert resp.approved  # the second frame, the one that echoes this request's field 7
    assert link.stats().unmatched == 1


def test_an_approval_carrying_extra_fields_is_delivered_as_approved(
    dialect: Dialect, link_to: Callable[[Dialect, Answer], HostLink]
) -> None:
    def answer(d: Dialect, req: HostRequest) -> list[bytes]:
        resp = replace(approval(req), extra_fields=(("44", "ISSUER NOTE"), ("63", "X")))
        return [d.encode_response(resp, req, MAK)]

    link = link_to(dialect, answer)
    resp = link.exchange(REQUESTS[MessageKind.SALE])
    assert resp.approved and dict(resp.extra_fields)["44"] == "ISSUER NOTE"
    assert link.stats().mac_errors == 0
